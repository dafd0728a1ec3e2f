// The collector goes away under load and comes back. The whole agent runs (kernel
// probes, identities, spool, shipper) while a lab pod serves a steady load.
// - 30 s away with a spool big enough: every batch the agent made arrives, exactly once.
// - Away longer than a small spool holds: the spool never exceeds its bound, the oldest
//   batches are dropped, and the loss is counted, reported to the collector once it is
//   back, and equals what is missing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { Collector } from '../../collector/collector.js';
import type { Agent } from '../../daemonset/agent.js';
import { Lab } from '../../lab/lab.js';
import { startAgent } from './agent-fixture.js';

const INTERVAL_MS = 250;

/** A collector that can be stopped and started again on the same port and store. */
async function restartableCollector(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-outage-'));
  let port = 0;
  let current: Collector | undefined;
  const start = async () => {
    current = await Collector.start({
      database: join(dir, 'store.db'),
      grpc: { host: '127.0.0.1', port },
      http: { host: '127.0.0.1', port: 0 },
    });
    port = current.ingest.port;
    return current;
  };
  t.after(async () => {
    await current?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await start();
  return {
    get collector() {
      return current!;
    },
    address: () => `127.0.0.1:${port}`,
    stop: async () => {
      await current?.stop();
      current = undefined;
    },
    start,
  };
}

async function servedLab(t: TestContext) {
  const lab = await Lab.create([
    { name: 'loadgen', service: 'loadgen', meshed: false, app: false },
    { name: 'web', service: 'web', meshed: false },
  ]);
  t.after(() => lab.destroy());
  return lab;
}

async function startOutageAgent(t: TestContext, collector: string, spool?: { maxBatches: number }) {
  const { agent, stop } = await startAgent(t, {
    collector,
    intervalMs: INTERVAL_MS,
    spool: spool && { maxBatches: spool.maxBatches, maxBytes: 64 * 2 ** 20 },
    // Back within a second of the collector (the default waits up to 30 s, jittered).
    backoff: { initialMs: 100, maxMs: 1000 },
  });
  const rejections: string[] = [];
  agent.shipper.on('ack', (a) => {
    if (a.status === 'ACK_STATUS_REJECTED') rejections.push(`${a.sequence}: ${a.error}`);
  });
  return { agent, rejections, stop: () => stop(10_000) };
}

/** Waits (at most 15 s) until the agent is connected and its spool empty. */
async function drained(agent: Agent): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const s = agent.status().shipper;
    if (s.connected && s.spoolBatches === 0) return;
    assert.ok(Date.now() < deadline, `the agent did not catch up: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Samples the agent's spool while `during` runs; returns the largest it was. */
async function watchSpool(agent: Agent, during: Promise<unknown>): Promise<number> {
  let max = 0;
  let done = false;
  during.finally(() => {
    done = true;
  });
  while (!done) {
    max = Math.max(max, agent.status().shipper.spoolBatches);
    await new Promise((r) => setTimeout(r, 50));
  }
  return max;
}

test('collector away for 30 s under load: every batch arrives exactly once', async (t) => {
  const lab = await servedLab(t);
  const c = await restartableCollector(t);
  const { agent, stop, rejections } = await startOutageAgent(t, c.address());
  const load = lab.load('loadgen', {
    url: lab.serviceUrls('web')[0]!,
    rate: 200,
    durationS: 36,
    connections: 4,
    timeoutMs: 5000,
  });
  await new Promise((r) => setTimeout(r, 2000));
  await c.stop();
  const outage = new Promise((r) => setTimeout(r, 30_000));
  const maxSpool = await watchSpool(agent, outage);
  assert.ok(
    maxSpool >= 30_000 / INTERVAL_MS - 10,
    `the spool held the outage's batches: ${maxSpool}`,
  );
  await c.start();
  const result = await load;
  await drained(agent);
  assert.ok(result.ok >= 36 * 200 * 0.95, `load served: ${JSON.stringify(result)}`);
  await stop();

  const s = agent.status();
  assert.equal(s.shipper.spoolBatches, 0, 'everything acknowledged');
  assert.equal(s.shipper.spoolDropped, 0);
  assert.deepEqual(rejections, []);
  assert.ok(s.shipper.reconnects >= 1);
  assert.equal(await c.collector.store.batchCount(), s.batches, 'every batch the agent made, once');
  // Each acknowledged once: as stored, or as already stored (a batch committed as the
  // collector went away has its acknowledgement lost, and its replay is a DUPLICATE).
  assert.equal(
    s.shipper.stored + s.shipper.duplicates,
    s.batches,
    'each acknowledged exactly once',
  );

  // What the kernel saw during the outage is in the store: the web server's accepted
  // connections and served requests over the whole run.
  const { topology } = await c.collector.queries.view({ fromMs: 0, toMs: Date.now() + 1000 });
  const exchanges = topology.edges
    .filter((e) => e.target.includes(`:${lab.pod('web').appPid}:`))
    .reduce((n, e) => n + (e.server?.exchanges ?? 0), 0);
  assert.ok(
    exchanges >= result.ok * 0.99 && exchanges <= result.ok * 1.01 + 10,
    `${exchanges} exchanges stored for ${result.ok} requests served`,
  );
});

test('collector away longer than the spool holds: bounded, the loss counted and reported', async (t) => {
  const lab = await servedLab(t);
  const c = await restartableCollector(t);
  const SPOOL = 20;
  const { agent, stop, rejections } = await startOutageAgent(t, c.address(), { maxBatches: SPOOL });
  const load = lab.load('loadgen', {
    url: lab.serviceUrls('web')[0]!,
    rate: 100,
    durationS: 14,
    connections: 2,
    timeoutMs: 5000,
  });
  await new Promise((r) => setTimeout(r, 1500));
  await c.stop();
  const maxSpool = await watchSpool(agent, new Promise((r) => setTimeout(r, 10_000)));
  assert.equal(maxSpool, SPOOL, 'the spool filled to its bound and no further');
  await c.start();
  await load;
  await drained(agent);
  await new Promise((r) => setTimeout(r, 4 * INTERVAL_MS)); // reports after the return
  await stop();

  const s = agent.status();
  assert.ok(
    s.shipper.spoolDropped >= 10_000 / INTERVAL_MS - SPOOL - 10,
    `dropped ${s.shipper.spoolDropped}`,
  );
  assert.equal(s.shipper.spoolBatches, 0);
  assert.deepEqual(rejections, []);
  // Every batch made was acknowledged or counted as dropped, and every acknowledged one is
  // stored. A dropped batch may be in the store all the same: one the collector committed
  // as it went away, whose acknowledgement never came back, stays the oldest in the spool
  // and is the first dropped when it fills. So the store holds what was acknowledged plus
  // at most the dropped, and the count of dropped batches is an upper bound of the loss.
  const { stored, duplicates, spoolDropped } = s.shipper;
  assert.equal(
    stored + duplicates + spoolDropped,
    s.batches,
    'every batch made is acknowledged or counted as dropped',
  );
  const inStore = await c.collector.store.batchCount();
  t.diagnostic(
    `made ${s.batches}, acknowledged ${stored + duplicates}, dropped ${spoolDropped}, in the store ${inStore}`,
  );
  assert.ok(
    inStore >= stored + duplicates && inStore <= s.batches,
    `what is missing (${s.batches - inStore}) is within what was counted as dropped (${spoolDropped})`,
  );
  const reported = (await c.collector.store.agents())[0]?.cost?.lost?.spoolDroppedBatches;
  assert.equal(reported, s.shipper.spoolDropped, 'the collector was told');
});
