// Several collector processes on one PostgreSQL store, as a Deployment of replicas runs
// them: agents' batches spread over the replicas give the topology one collector gives
// (the two ends of a connection joined though their agents shipped to different
// replicas); a replica SIGKILLed mid-stream loses nothing, its agents moving to another
// and every batch stored once; and PostgreSQL restarted under load loses nothing an
// agent was told is stored, the rest waiting in the agents' spools. Ground truth is what
// the test sent, counted in the database with SQL of the test's own.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import type { TopologyResponse } from '../../proto/api.js';
import { type CollectorProcess, startCollectorProcess } from '../../bench/tollgate-processes.js';
import { Shipper } from '../../daemonset/shipping/shipper.js';
import { type Postgres, startPostgres } from '../../lab/postgres-server.js';
import type { Batch, Init } from '../../proto/gen/tollgate/v1.js';
import { fromValues } from '../../proto/histogram.js';
import { meshBatch, NODE, PER_INTERVAL, PROCESSES } from './mesh-batches.js';

let server: Postgres;
const dir = mkdtempSync(join(tmpdir(), 'tollgate-replicas-'));
before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh database, and the file that hands its URL (password included) to collectors. */
async function database(name: string): Promise<{ url: string; file: string }> {
  const url = await server.createDatabase(name);
  const file = join(dir, `${name}.url`);
  writeFileSync(file, `${url}\n`, { mode: 0o600 });
  return { url, file };
}

async function replicas(
  t: { after(fn: () => Promise<void>): void },
  file: string,
  n: number,
): Promise<CollectorProcess[]> {
  const started: CollectorProcess[] = [];
  t.after(async () => {
    for (const c of started) await c.stop();
  });
  // One at a time: the first makes the schema, the others find it made.
  for (let i = 0; i < n; i++) started.push(await startCollectorProcess({ storeUrlFile: file }));
  return started;
}

async function sql<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

function shipper(agentId: string, target: string, ackTimeoutMs = 30_000): Shipper {
  const s = new Shipper({
    target,
    hello: { agentId, node: NODE },
    backoff: { initialMs: 50, maxMs: 500 },
    ackTimeoutMs,
  });
  s.start();
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pids of a pod's processes in the mesh's batches. */
const podPids = (pod: string) =>
  new Set(
    Object.values(PROCESSES)
      .filter((p) => p.pod?.name === pod)
      .map((p) => p.ref!.pid!),
  );

/** The part of a mesh interval the agent of these pods reports: their processes and reports. */
function podsPart(i: number, startMs: number, pods: string[]): Init<Batch> {
  const whole = meshBatch(i, startMs);
  const pids = new Set(pods.flatMap((pod) => [...podPids(pod)]));
  const mine = <T extends { process?: { pid?: number | null } | null }>(list: T[] | null | undefined) =>
    (list ?? []).filter((r) => pids.has(r.process?.pid ?? -1));
  return {
    ...whole,
    processes: (whole.processes ?? []).filter((p) => pids.has(p.ref?.pid ?? -1)),
    edges: mine(whole.edges),
    hops: mine(whole.hops),
    resources: mine(whole.resources),
  };
}

test('three collectors on one PostgreSQL: batches spread over them give one collector’s topology, ends joined across replicas', async (t) => {
  const { file } = await database('spread');
  const tier = await replicas(t, file, 3);
  const single = await startCollectorProcess();
  t.after(() => single.stop());

  const INTERVALS = 6;
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
  // pod-a's agent ships to replica 0, the other pods' to replica 1; one collector on
  // SQLite gets the same batches from the same agents.
  const agents = [['pod-a'], ['pod-b', 'pod-c']];
  const toTier = agents.map((_, k) => shipper(`agent-${k}`, tier[k]!.grpcTarget));
  const toSingle = agents.map((_, k) => shipper(`agent-${k}`, single.grpcTarget));
  for (let i = 1; i <= INTERVALS; i++)
    agents.forEach((pods, k) => {
      const part = podsPart(i, t0 + i * 1000, pods);
      toTier[k]!.send(part);
      toSingle[k]!.send(part);
    });
  for (const s of [...toTier, ...toSingle]) {
    assert.ok(await s.flush(30_000), 'every batch acknowledged');
    await s.stop();
  }
  const range = `from=${t0}&to=${t0 + (INTERVALS + 2) * 1000}`;
  const topology = async (c: CollectorProcess) => {
    const r = await fetch(`${c.httpUrl}/api/topology?${range}`);
    assert.equal(r.status, 200);
    return (await r.json()) as TopologyResponse;
  };
  // Read from the replica neither agent shipped to.
  const fromTier = await topology(tier[2]!);
  const fromSingle = await topology(single);
  assert.ok(fromSingle.edges.length >= 3, `${fromSingle.edges.length} edges`);
  assert.deepEqual(fromTier, fromSingle);
  // The sidecars' connection across the pods: its client end (pod-a's sidecar) came
  // through replica 0, its server end (pod-b's) through replica 1, and their tuples met.
  const key = (p: (typeof PROCESSES)['sa']) => `p:${NODE}:${p.ref!.pid}:${p.ref!.startTimeTicks}`;
  const across = fromTier.edges.find(
    (e) => e.source === key(PROCESSES.sa) && e.target === key(PROCESSES.sb),
  );
  assert.ok(across, `an edge from pod-a's sidecar to pod-b's: ${JSON.stringify(fromTier.edges.map((e) => [e.source, e.target]))}`);
  assert.equal(across.joined, 'tuple');
  assert.equal(across.client?.exchanges, INTERVALS * PER_INTERVAL.exchanges);
  assert.equal(across.server?.exchanges, INTERVALS * PER_INTERVAL.exchanges);
});
