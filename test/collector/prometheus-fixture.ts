// A collector with tokens as deployed (ingest for the agent, read for Prometheus) and an
// agent's shipper feeding it the known mesh of mesh-batches.ts, each batch with the
// agent's own cost, so that every family of /metrics has samples: what the Prometheus
// tests scrape and the dashboard test reads.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { Shipper } from '../../daemonset/shipping/shipper.js';
import type { Batch, Init } from '../../proto/gen/tollgate/v1.js';
import { TOLLGATE_VERSION } from '../../proto/version.js';
import { startCollector } from './fixture.js';
import { meshBatch, NODE } from './mesh-batches.js';

export const READ_TOKEN = 'prometheus-read-token';
const INGEST_TOKEN = 'agent-ingest-token';

/** Interval i of the mesh, with the agent's cost so far (cumulative, as agents send it). */
export function meshBatchWithCost(i: number, startMs: number): Init<Batch> {
  return {
    ...meshBatch(i, startMs),
    agentCost: {
      agentCpuNs: i * 5_000_000,
      runnerCpuNs: i * 1_000_000,
      agentRssBytes: 60 * 2 ** 20,
      runnerRssBytes: 8 * 2 ** 20,
      lost: { kernelMapFull: i, kernelBufferFull: 0, spoolDroppedBatches: 0, rejectedBatches: 0 },
    },
  };
}

export async function meshCollector(t: TestContext) {
  const collector = await startCollector(t, {
    credentials: { ingest: INGEST_TOKEN, read: READ_TOKEN },
  });
  const shipper = new Shipper({
    target: collector.grpcAddress,
    token: INGEST_TOKEN,
    hello: { agentId: 'agent-1', node: NODE, agentVersion: TOLLGATE_VERSION },
  });
  t.after(() => shipper.stop());
  shipper.start();
  const read = async (path: string) => {
    const r = await fetch(`${collector.httpUrl}${path}`, {
      headers: { authorization: `Bearer ${READ_TOKEN}` },
    });
    assert.equal(r.status, 200, `${path}: ${await r.clone().text()}`);
    return r;
  };
  return {
    collector,
    /** The collector's HTTP address as a scrape target, host:port. */
    target: new URL(collector.httpUrl).host,
    /** Ships the batches and waits for every one to be stored. */
    async ship(batches: Init<Batch>[]) {
      for (const b of batches) shipper.send(b);
      assert.ok(await shipper.flush(10_000), 'every batch acknowledged');
    },
    metrics: async () => (await read('/metrics')).text(),
    api: async <T>(path: string) => (await (await read(path)).json()) as T,
  };
}
