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
import { WebSocket } from 'ws';
import { type CollectorProcess, startCollectorProcess } from '../../bench/tollgate-processes.js';
import { Shipper } from '../../daemonset/shipping/shipper.js';
import { type Postgres, startPostgres } from '../../lab/postgres-server.js';
import type { SessionSummary, TopologyResponse } from '../../proto/api.js';
import type { Batch, Control, Init } from '../../proto/gen/tollgate/v1.js';
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

/** Where two JSON values first differ, as a path and both values. */
function firstDifference(a: unknown, b: unknown, path = ''): string | undefined {
  if (JSON.stringify(a) === JSON.stringify(b)) return undefined;
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const k of keys) {
      const found = firstDifference(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        `${path}.${k}`,
      );
      if (found) return found;
    }
  }
  return `${path}: ${JSON.stringify(a)?.slice(0, 300)} vs ${JSON.stringify(b)?.slice(0, 300)}`;
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
  const mine = <T extends { process?: { pid?: number | null } | null }>(
    list: T[] | null | undefined,
  ) => (list ?? []).filter((r) => pids.has(r.process?.pid ?? -1));
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
  assert.deepEqual(
    fromTier,
    fromSingle,
    `first difference: ${firstDifference(fromTier, fromSingle)}`,
  );
  // The sidecars' connection across the pods: its client end (pod-a's sidecar) came
  // through replica 0, its server end (pod-b's) through replica 1, and their tuples met.
  const key = (p: (typeof PROCESSES)['sa']) => `p:${NODE}:${p.ref!.pid}:${p.ref!.startTimeTicks}`;
  const across = fromTier.edges.find(
    (e) => e.source === key(PROCESSES.sa) && e.target === key(PROCESSES.sb),
  );
  assert.ok(
    across,
    `an edge from pod-a's sidecar to pod-b's: ${JSON.stringify(fromTier.edges.map((e) => [e.source, e.target]))}`,
  );
  assert.equal(across.joined, 'tuple');
  assert.equal(across.client?.exchanges, INTERVALS * PER_INTERVAL.exchanges);
  assert.equal(across.server?.exchanges, INTERVALS * PER_INTERVAL.exchanges);
});

/** Batch k of an agent: EDGES client ends of its own process, each with EXCHANGES exchanges. */
const EDGES = 20;
const EXCHANGES = 7;
function numbered(agent: number, k: number): Init<Batch> {
  const ref = { pid: 1000 + agent, startTimeTicks: 1 };
  const now = Date.now();
  return {
    node: NODE,
    intervalStartUnixMs: now - 1000,
    intervalEndUnixMs: now,
    processes: [
      {
        ref,
        comm: `app-${agent}`,
        role: 'ROLE_APP',
        pod: { namespace: 'ns', name: `pod-${agent}` },
      },
    ],
    edges: Array.from({ length: EDGES }, (_, e) => ({
      process: ref,
      side: 'CONNECTION_SIDE_CLIENT' as const,
      local: { address: `10.9.${agent}.1` },
      remote: { address: `10.8.0.${e}`, port: 8080 },
      exchanges: EXCHANGES,
      bytesSent: k + 1,
      exchangeLatency: fromValues([1_000_000 + k, 2_000_000 + e]),
    })),
  };
}

/** Batches each agent sends in the tests of failure below. */
const BATCHES = 60;

/**
 * `count` agents, agent-0 on, each shipping to one of the replicas at random (and to the
 * next when its own goes), stopped when the test ends.
 */
function agentsOf(
  t: { after(fn: () => Promise<void>): void },
  tier: CollectorProcess[],
  count: number,
): Shipper[] {
  const targets = tier.map((c) => c.grpcTarget).join(',');
  const shippers = Array.from({ length: count }, (_, a) => shipper(`agent-${a}`, targets, 3000));
  t.after(async () => {
    for (const s of shippers) await s.stop();
  });
  return shippers;
}

/** Sends each agent its BATCHES numbered batches, a round every `pauseMs`; `midway` runs a third of the way through. */
async function sendAll(shippers: Shipper[], pauseMs: number, midway: () => void): Promise<void> {
  for (let k = 0; k < BATCHES; k++) {
    shippers.forEach((s, a) => {
      s.send(numbered(a, k));
    });
    if (k === BATCHES / 3) midway();
    await sleep(pauseMs);
  }
}

/**
 * Each of `agents` agents' BATCHES batches is in the database once, counted by SQL of the
 * test's own: batches per agent and their sequences, edge rows and exchanges.
 */
async function assertStoredOnce(url: string, agents: number): Promise<void> {
  const batches = await sql<{ agent_id: string; n: number; distinct_seq: number }>(
    url,
    `SELECT agent_id, COUNT(*)::int AS n, COUNT(DISTINCT sequence)::int AS distinct_seq
     FROM batches GROUP BY agent_id ORDER BY agent_id`,
  );
  const [sums] = await sql<{ exchanges: number; rows: number }>(
    url,
    'SELECT COALESCE(SUM(exchanges), 0)::float8 AS exchanges, COUNT(*)::int AS rows FROM m_end_raw',
  );
  assert.deepEqual(
    batches,
    Array.from({ length: agents }, (_, a) => ({
      agent_id: `agent-${a}`,
      n: BATCHES,
      distinct_seq: BATCHES,
    })),
  );
  assert.equal(sums!.rows, agents * BATCHES * EDGES, 'one row per edge report: none twice');
  assert.equal(sums!.exchanges, agents * BATCHES * EDGES * EXCHANGES);
}

test('a replica SIGKILLed mid-stream: its agents move to another, and every batch is stored once', async (t) => {
  const { url, file } = await database('kill');
  const tier = await replicas(t, file, 3);
  const AGENTS = 6;
  const shippers = agentsOf(t, tier, AGENTS);
  // Wait until each is connected, to know where it ships.
  const deadline = Date.now() + 20_000;
  while (!shippers.every((s) => s.stats().connected) && Date.now() < deadline) await sleep(20);
  const victim = tier[0]!;
  const onVictim = shippers.filter((s) => s.stats().target === victim.grpcTarget);
  // A third of the way through, the replica dies without a word.
  await sendAll(shippers, 10, () => victim.signal('SIGKILL'));
  await victim.exited;
  for (const s of shippers)
    assert.ok(await s.flush(60_000), `agent ${s.stats().target}: all acknowledged`);
  for (const s of onVictim) {
    assert.notEqual(s.stats().target, victim.grpcTarget, 'moved off the replica that died');
    assert.ok(s.stats().reconnects >= 1);
  }
  t.diagnostic(`${onVictim.length} of ${AGENTS} agents were on the replica killed`);
  await assertStoredOnce(url, AGENTS);
});

test('PostgreSQL restarted under load: batches wait in the agents’ spools, and nothing acknowledged is lost', async (t) => {
  const { url, file } = await database('restart');
  const tier = await replicas(t, file, 2);
  const AGENTS = 4;
  const shippers = agentsOf(t, tier, AGENTS);
  const acknowledged = shippers.map(() => new Set<number>());
  shippers.forEach((s, a) => {
    s.on('ack', (ack) => {
      if (ack.status !== 'ACK_STATUS_REJECTED') acknowledged[a]!.add(ack.sequence);
    });
  });
  let restarted: Promise<void> | undefined;
  await sendAll(shippers, 15, () => {
    restarted = server.restart();
  });
  await restarted;
  for (const s of shippers) assert.ok(await s.flush(90_000), 'all acknowledged after the restart');
  await assertStoredOnce(url, AGENTS);
  // Every sequence an agent was told is stored is in the database (the shipper numbers from 1).
  const rows = await sql<{ agent_id: string; sequence: number }>(
    url,
    'SELECT agent_id, sequence FROM batches',
  );
  const inDb = new Set(rows.map((r) => `${r.agent_id}/${r.sequence}`));
  acknowledged.forEach((seqs, a) => {
    assert.equal(seqs.size, BATCHES);
    for (const q of seqs)
      assert.ok(inDb.has(`agent-${a}/${q}`), `agent-${a} ${q} acknowledged and stored`);
  });
});

test('a session started through one replica and stopped through another: every agent follows its target, its load ordered to agents wherever they ship', async (t) => {
  const { file } = await database('sessions');
  const tier = await replicas(t, file, 2);
  // One agent on each replica, each remembering the controls it is sent.
  const controls = [0, 1].map(() => [] as Control[]);
  const shippers = [0, 1].map((k) => {
    const s = shipper(`agent-${k}`, tier[k]!.grpcTarget);
    s.on('control', (c: Control) => controls[k]!.push(c));
    return s;
  });
  t.after(async () => {
    for (const s of shippers) await s.stop();
  });
  // Both connected and known to both replicas (each says which agents it holds every second).
  const deadline = Date.now() + 20_000;
  while (!shippers.every((s) => s.stats().connected) && Date.now() < deadline) await sleep(50);
  await sleep(2500);
  const targets = (k: number) => controls[k]!.flatMap((c) => (c.target ? [c.target] : []));
  const before = [0, 1].map((k) => targets(k).length);

  const startedAt = Date.now();
  const started = await fetch(`${tier[1]!.httpUrl}/api/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'across',
      target: { namespaces: ['shop'] },
      load: { urls: ['http://10.0.0.5/'], rps: 20, connections: 1, durationS: 2 },
    }),
  });
  assert.equal(started.status, 201, await started.clone().text());
  const session = (await started.json()) as SessionSummary;
  assert.deepEqual(
    [...session.loadAgents].sort(),
    ['agent-0', 'agent-1'],
    'both agents, wherever they ship',
  );
  // Each agent gets the session's target (the one on replica 0 through that replica's
  // sync) under one generation, and its share of the load, ordered through its own replica.
  const waitFor = async (what: string, ok: () => boolean) => {
    const until = Date.now() + 10_000;
    while (!ok() && Date.now() < until) await sleep(50);
    assert.ok(ok(), what);
  };
  await waitFor('both agents have the new target', () =>
    [0, 1].every((k) =>
      targets(k)
        .slice(before[k])
        .some((g) => g.selections.length === 1),
    ),
  );
  const latest = (k: number) => targets(k).at(-1)!;
  assert.equal(latest(0).generation, latest(1).generation);
  // From the clock, as a collector on SQLite gives them: agents that followed one before
  // must not take these for older.
  assert.ok(latest(0).generation >= startedAt, `generation ${latest(0).generation}`);
  assert.deepEqual(latest(0).selections, latest(1).selections);
  await waitFor('both agents have a load order', () =>
    [0, 1].every((k) => controls[k]!.some((c) => c.load?.sessionId === session.id)),
  );
  for (const k of [0, 1])
    assert.equal(
      controls[k]!.filter((c) => c.load?.sessionId === session.id).length,
      1,
      `agent-${k}: one order`,
    );

  // Stopped through the other replica: the session ends once, and the agents trace everything again.
  const stopped = await fetch(`${tier[0]!.httpUrl}/api/sessions/${session.id}/stop`, {
    method: 'POST',
  });
  assert.equal(stopped.status, 200, await stopped.clone().text());
  assert.equal(((await stopped.json()) as SessionSummary).state, 'stopped');
  const listed = (await (
    await fetch(`${tier[1]!.httpUrl}/api/sessions`)
  ).json()) as SessionSummary[];
  assert.deepEqual(
    listed.map((s) => [s.id, s.state]),
    [[session.id, 'stopped']],
  );
  await waitFor('both agents trace everything again', () =>
    [0, 1].every((k) => latest(k).selections.length === 0),
  );
  assert.equal(latest(0).generation, latest(1).generation);
});

test('a viewer on one replica sees live what agents ship to another', async (t) => {
  const { file } = await database('live');
  const tier = await replicas(t, file, 2);
  const ws = new WebSocket(`${tier[1]!.httpUrl.replace('http', 'ws')}/api/live`);
  t.after(() => ws.close());
  const messages: {
    type: string;
    edges?: { id: string }[];
    upserted?: { edges: { id: string }[] };
  }[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(String(data))));
  const until = async (what: string, ok: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!ok() && Date.now() < deadline) await sleep(50);
    assert.ok(ok(), `${what}: ${JSON.stringify(messages.map((m) => m.type))}`);
  };
  await until('a snapshot', () => messages.length >= 1);
  assert.equal(messages[0]!.type, 'snapshot');
  assert.equal(messages[0]!.edges!.length, 0, 'nothing stored yet');
  // Shipped to the other replica: the viewer's replica reads it from the shared store.
  const s = shipper('agent-live', tier[0]!.grpcTarget);
  t.after(() => s.stop());
  s.send(meshBatch(1, Date.now() - 2000));
  assert.ok(await s.flush(10_000));
  await until('a delta with the new edges', () =>
    messages.some((m) => m.type === 'delta' && (m.upserted?.edges.length ?? 0) >= 4),
  );
});
