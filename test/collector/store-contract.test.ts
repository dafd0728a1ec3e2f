// What every engine of the collector's store does, held to one suite through the async
// CollectorStore interface (collector/store/collector-store.ts): SQLite in memory, SQLite
// in a file, and PostgreSQL (a throwaway cluster, lab/postgres-server.ts, a fresh database
// per test). Every figure expected is one this file put into the batches it ships (the
// mesh batches of mesh-batches.ts: known ends, hops, counters and latencies per interval),
// never one the store computed; every time is given (`nowMs`), from a fixed hour.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { processId } from '../../collector/model/ids.js';
import type { Aggregate } from '../../collector/store/aggregate.js';
import type { CollectorStore } from '../../collector/store/collector-store.js';
import { openReaderStore } from '../../collector/store/open-store.js';
import { PostgresStore } from '../../collector/store/postgres/postgres-store.js';
import { METHOD_CODE } from '../../collector/store/series.js';
import type { SessionRow } from '../../collector/store/session-rows.js';
import { SqliteCollectorStore } from '../../collector/store/sqlite-collector-store.js';
import { Store, type StoreOptions } from '../../collector/store/store.js';
import { type Postgres, startPostgres } from '../../lab/postgres-server.js';
import {
  type AgentCost,
  type Batch,
  Batch as BatchCodec,
  type EdgeReport,
  type Init,
  type LoadReport,
  type PodMeshSigns,
} from '../../proto/gen/tollgate/v1.js';
import { fromValues, type SparseHistogram, totalCount } from '../../proto/histogram.js';
import { A_IP, B_IP, latencies, meshBatch, NODE, PER_INTERVAL, PROCESSES } from './mesh-batches.js';

const SECOND = 1000;
const MINUTE = 60_000;
const HOUR = 3_600_000;
/** A whole hour, in the past: every time in this file is counted from it. */
const T0 = Date.UTC(2025, 0, 6, 12);

// ---------------------------------------------------------------- engines

interface Engine {
  name: CollectorStore['engine'];
  /** A new, empty store, closed (and its files removed) when the test ends; `location` reaches it again. */
  open(
    t: TestContext,
    options?: StoreOptions,
  ): Promise<{ store: CollectorStore; location?: string }>;
  /** Several collectors may write to one store of this engine (each its own connection). */
  sharedWriters: boolean;
}

/** Closes a store when the test ends. */
function closing(t: TestContext, store: CollectorStore): CollectorStore {
  t.after(() => store.close());
  return store;
}

const sqliteInMemory: Engine = {
  name: 'sqlite',
  sharedWriters: false,
  async open(t, options = {}) {
    return { store: closing(t, new SqliteCollectorStore(Store.open(':memory:', options))) };
  },
};

const sqliteInAFile: Engine = {
  name: 'sqlite',
  sharedWriters: false,
  async open(t, options = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-contract-'));
    const location = join(dir, 'store.db');
    let store: CollectorStore;
    try {
      store = new SqliteCollectorStore(Store.open(location, options));
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    closing(t, store);
    // After the close (a test's after-hooks run in the order they were added); a reader
    // the test opens on the file is closed later, which the removal does not hinder.
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    return { store, location };
  },
};

/** PostgreSQL: one cluster for the file, a new database for each store. */
function postgres(server: () => Postgres): Engine {
  let databases = 0;
  return {
    name: 'postgres',
    sharedWriters: true,
    async open(t, options = {}) {
      const location = await server().createDatabase(`contract_${++databases}`);
      return { store: closing(t, await PostgresStore.connect(location, options)), location };
    },
  };
}

// ---------------------------------------------------------------- batches and ground truth

/** A batch as it comes off the wire (encoded, decoded), from agent-1's first boot unless told. */
function shipped(fields: Init<Batch>): Batch {
  return BatchCodec.decode(BatchCodec.encode({ agentId: 'agent-1', bootId: 'boot-1', ...fields }));
}

/** Mesh interval `i` (its sequence too), starting at `startMs`, with `extra` fields over it. */
function mesh(i: number, startMs: number, extra: Init<Batch> = {}): Batch {
  return shipped({ sequence: i, ...meshBatch(i, startMs), ...extra });
}

/** Mesh intervals `from`..`to`, one every `stepMs` from `startMs`. */
function meshRun(from: number, to: number, startMs: number, stepMs = SECOND): Batch[] {
  return Array.from({ length: to - from + 1 }, (_, k) => mesh(from + k, startMs + k * stepMs));
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, k) => from + k);

type Side = 'client' | 'server';

/** The seven ends of a mesh batch, as meshBatch writes them, by process and side. */
const MESH_ENDS: readonly {
  pid: number;
  side: Side;
  local: string;
  remote: string;
  /** The service port: what the client dialed, what the server listens on. */
  port: number;
  /** Its exchange latencies are latencies(i, base, 50); none for the decoy. */
  exchangeBase?: number;
}[] = [
  { pid: 101, side: 'client', local: A_IP, remote: B_IP, port: 9080, exchangeBase: 3_000_000 },
  {
    pid: 102,
    side: 'server',
    local: '127.0.0.1',
    remote: A_IP,
    port: 15001,
    exchangeBase: 2_900_000,
  },
  { pid: 102, side: 'client', local: A_IP, remote: B_IP, port: 9080, exchangeBase: 2_500_000 },
  { pid: 201, side: 'server', local: B_IP, remote: A_IP, port: 15006, exchangeBase: 2_400_000 },
  {
    pid: 201,
    side: 'client',
    local: '127.0.0.1',
    remote: '127.0.0.1',
    port: 9080,
    exchangeBase: 2_000_000,
  },
  {
    pid: 202,
    side: 'server',
    local: '127.0.0.1',
    remote: '127.0.0.1',
    port: 9080,
    exchangeBase: 1_900_000,
  },
  { pid: 301, side: 'server', local: '127.0.0.1', remote: '127.0.0.1', port: 9090 },
];

/** The connections meshBatch samples, client process to server process (the decoy joins none). */
const MESH_LINKS = [
  [101, 102],
  [102, 201],
  [201, 202],
];

/** A histogram as compared: its non-empty buckets, count and exact sum. */
function shape(h: SparseHistogram | undefined) {
  const buckets: Record<number, number> = {};
  h?.indexes.forEach((index, k) => {
    if (h.counts[k]! > 0) buckets[index] = h.counts[k]!;
  });
  return { count: h ? totalCount(h) : 0, sumNs: h?.sumNs ?? 0, buckets };
}

const EMPTY = shape(undefined);

/** What an end's series holds after mesh intervals `intervals`: the counters meshBatch sets. */
function endTruth(end: (typeof MESH_ENDS)[number], intervals: readonly number[]) {
  const n = intervals.length;
  const client = end.side === 'client';
  const ex = PER_INTERVAL.exchanges;
  return {
    sums: {
      connects: client ? 2 * n : 0,
      accepts: client ? 0 : 2 * n,
      closes: 2 * n,
      bytes_sent: n * (client ? PER_INTERVAL.bytesOut : PER_INTERVAL.bytesIn),
      bytes_received: n * (client ? PER_INTERVAL.bytesIn : PER_INTERVAL.bytesOut),
      send_ops: n * ex,
      recv_ops: n * ex,
      exchanges: n * ex,
    },
    exchange:
      end.exchangeBase === undefined
        ? EMPTY
        : shape(fromValues(intervals.flatMap((i) => latencies(i, end.exchangeBase!, ex)))),
    // Only the first client (pid 101) reports its connects' latencies: 50 and 60 us.
    connect: end.pid === 101 ? shape(fromValues(intervals.flatMap(() => [50_000, 60_000]))) : EMPTY,
  };
}

/** An order for lists compared whole, whatever order the store gives them in. */
const byJson = (a: unknown, b: unknown) => {
  const [x, y] = [JSON.stringify(a), JSON.stringify(b)];
  return x < y ? -1 : x > y ? 1 : 0;
};

const pick = (sums: Record<string, number>, keys: readonly string[]) =>
  Object.fromEntries(keys.map((k) => [k, sums[k]]));

/** Each end's id, by `pid/side` (from ends() and processes(), as the API joins them). */
async function endIds(store: CollectorStore): Promise<Map<string, number>> {
  const pidOf = new Map((await store.processes()).map((p) => [p.id, p.identity.ref?.pid]));
  return new Map(
    (await store.ends()).map((e) => [`${pidOf.get(e.process)}/${e.side}${socketTag(e)}`, e.id]),
  );
}
const socketTag = (e: { socketPod: string | null }) => (e.socketPod ? `@${e.socketPod}` : '');

/** Checks every mesh end's series in `read` against what intervals `intervals` put in. */
async function assertEnds(
  store: CollectorStore,
  read: Map<number, Aggregate>,
  intervals: readonly number[],
  what: string,
) {
  const ids = await endIds(store);
  assert.equal(read.size, MESH_ENDS.length, `${what}: one series per end`);
  for (const end of MESH_ENDS) {
    const key = `${end.pid}/${end.side}`;
    const got = read.get(ids.get(key)!);
    assert.ok(got, `${what}: end ${key} read`);
    const truth = endTruth(end, intervals);
    assert.deepEqual(
      pick(got.sums, Object.keys(truth.sums)),
      truth.sums,
      `${what}: ${key} counters`,
    );
    assert.deepEqual(
      shape(got.hists.exchange_latency),
      truth.exchange,
      `${what}: ${key} exchanges`,
    );
    assert.deepEqual(shape(got.hists.connect_latency), truth.connect, `${what}: ${key} connects`);
  }
}

// ---------------------------------------------------------------- the contract

function contract(engine: Engine) {
  test('a group commit says, for each batch, stored or duplicate; a replay is stored once', async (t) => {
    const { store } = await engine.open(t);
    assert.equal(store.engine, engine.name);
    const [b1, b2, b3] = meshRun(1, 3, T0);
    const now = T0 + 10 * SECOND;
    assert.deepEqual(await store.commit([b1!, b2!], now), ['stored', 'stored']);
    assert.equal(await store.isStored(b1!), true);
    assert.equal(await store.isStored(b3!), false);
    // A replay in a later group, and one in the same group as its first sending.
    assert.deepEqual(await store.commit([b3!, b1!, b3!], now), [
      'stored',
      'duplicate',
      'duplicate',
    ]);
    assert.deepEqual(await store.commit([b2!], now), ['duplicate']);
    // A batch is named by agent, boot and sequence: a new boot, or another agent, starts
    // its sequences again, and those are new batches (mesh interval 4 content, sequence 1).
    const newBoot = shipped({ ...meshBatch(4, T0 + 3 * SECOND), sequence: 1, bootId: 'boot-2' });
    const otherAgent = shipped({
      ...meshBatch(5, T0 + 4 * SECOND),
      sequence: 1,
      agentId: 'agent-2',
    });
    assert.deepEqual(await store.commit([newBoot, otherAgent], now), ['stored', 'stored']);
    assert.equal(await store.isStored({ agentId: 'agent-2', bootId: 'boot-1', sequence: 1 }), true);
    assert.equal(
      await store.isStored({ agentId: 'agent-1', bootId: 'boot-2', sequence: 2 }),
      false,
    );
    assert.equal(await store.batchCount(), 5);
    // Five intervals stored, none twice: every end's counters and histograms are theirs.
    await assertEnds(
      store,
      await store.read('end', T0, T0 + MINUTE, now),
      range(1, 5),
      'stored once',
    );
  });

  test('a group that fails stores none of its batches', async (t) => {
    const { store } = await engine.open(t);
    const now = T0 + 10 * SECOND;
    assert.deepEqual(await store.commit([mesh(1, T0)], now), ['stored']);
    // The second batch reports an end of a process it does not describe.
    const broken = mesh(3, T0 + 2 * SECOND, { processes: [PROCESSES.a] });
    await assert.rejects(store.commit([mesh(2, T0 + SECOND), broken], now));
    assert.equal(await store.isStored(mesh(2, T0 + SECOND)), false);
    assert.equal(await store.isStored(broken), false);
    assert.equal(await store.batchCount(), 1);
    await assertEnds(
      store,
      await store.read('end', T0, T0 + MINUTE, now),
      [1],
      'after the failure',
    );
    // And the store goes on: the good batch sent again is stored.
    assert.deepEqual(await store.commit([mesh(2, T0 + SECOND)], now), ['stored']);
    await assertEnds(store, await store.read('end', T0, T0 + MINUTE, now), [1, 2], 'sent again');
  });

  test('read merges each series over a range: counters summed, peaks kept, histograms merged', async (t) => {
    const { store } = await engine.open(t);
    // The agent's own cost: cumulative CPU (so each report's share is its difference from
    // the one before; the first is only the baseline), and a resident size that goes up and down.
    const agentRss = [5, 9, 3, 7, 2, 4].map((mib) => mib * 2 ** 20);
    const cost = (i: number): Init<AgentCost> => ({
      agentCpuNs: i * 3_000_000,
      runnerCpuNs: i * 1_000_000,
      agentRssBytes: agentRss[i - 1]!,
      runnerRssBytes: 2 ** 20,
    });
    const batches = range(1, 6).map((i) => mesh(i, T0 + (i - 1) * SECOND, { agentCost: cost(i) }));
    const now = T0 + 10 * MINUTE;
    await store.commit(batches, now);

    await assertEnds(store, await store.read('end', T0, T0 + 6 * SECOND, now), range(1, 6), 'all');
    // A range takes the buckets that start in it: intervals 3, 4 and 5.
    await assertEnds(
      store,
      await store.read('end', T0 + 2 * SECOND, T0 + 5 * SECOND, now),
      [3, 4, 5],
      'a part',
    );
    assert.equal((await store.read('end', T0 - HOUR, T0, now)).size, 0, 'before: nothing');

    // The sidecars' hops: sa outbound with every exchange paired, sb inbound with 2 unpaired
    // per interval; each added latency the sum of its request and response hops.
    const hops = await store.read('hop', T0, T0 + 6 * SECOND, now);
    const processIds = new Map((await store.processes()).map((p) => [p.identity.ref?.pid, p.id]));
    const series = await store.hopSeries();
    const hopOf = (pid: number) => {
      const s = series.find((h) => h.process === processIds.get(pid))!;
      return { direction: s.direction, aggregate: hops.get(s.id)! };
    };
    const ex = PER_INTERVAL.exchanges;
    const hopTruth = (requestBase: number, responseBase: number, shift: number) => {
      const request = range(1, 6).flatMap((i) => latencies(i, requestBase, ex));
      const response = range(1, 6).flatMap((i) => latencies(i + shift, responseBase, ex));
      return {
        request: shape(fromValues(request)),
        response: shape(fromValues(response)),
        added: shape(fromValues(request.map((ns, k) => ns + response[k]!))),
      };
    };
    for (const [pid, direction, unpaired, truth] of [
      [102, 'outbound', 0, hopTruth(200_000, 100_000, 1)],
      [201, 'inbound', PER_INTERVAL.unpaired, hopTruth(250_000, 150_000, 2)],
    ] as const) {
      const hop = hopOf(pid);
      assert.equal(hop.direction, direction);
      assert.deepEqual(pick(hop.aggregate.sums, ['requests', 'unpaired']), {
        requests: 6 * (ex + unpaired),
        unpaired: 6 * unpaired,
      });
      assert.equal(hop.aggregate.maxes.method, METHOD_CODE.HOP_METHOD_ARRIVAL_TO_FORWARD);
      // sb's hand-offs (40 requests and 30 replies an interval), every one timed from
      // wake-up to wake-up; sa had none.
      const handedOff = pid === 201 ? 6 * (PER_INTERVAL.handoffs + PER_INTERVAL.replyHandoffs) : 0;
      assert.deepEqual(
        pick(hop.aggregate.sums, ['handoffs_at_wake_ups', 'handoffs_at_reads']),
        { handoffs_at_wake_ups: handedOff, handoffs_at_reads: 0 },
        `${pid} hand-offs by their ends`,
      );
      assert.deepEqual(shape(hop.aggregate.hists.request_hop), truth.request, `${pid} request`);
      assert.deepEqual(shape(hop.aggregate.hists.response_hop), truth.response, `${pid} response`);
      assert.deepEqual(shape(hop.aggregate.hists.added), truth.added, `${pid} added`);
    }

    // Processes: 10 ms of CPU per interval times (k+1), cumulative; (k+1) x 10 MiB resident.
    const resources = await store.read('resource', T0, T0 + 6 * SECOND, now);
    assert.equal(resources.size, 5);
    batches[0]!.processes.forEach((p, k) => {
      const got = resources.get(processIds.get(p.ref!.pid)!)!;
      const rss = (k + 1) * 10 * 2 ** 20;
      assert.deepEqual(got.sums, {
        cpu_ns: (6 - 1) * 10_000_000 * (k + 1),
        rss_bytes_sum: 6 * rss,
        samples: 6,
      });
      assert.deepEqual(got.maxes, { rss_bytes_max: rss });
    });

    const agents = await store.read('agent', T0, T0 + 6 * SECOND, now);
    const [agent] = await store.agents();
    assert.deepEqual([...agents.keys()], [agent!.id]);
    assert.deepEqual(agents.get(agent!.id)!.sums, {
      agent_cpu_ns: (6 - 1) * 3_000_000,
      runner_cpu_ns: (6 - 1) * 1_000_000,
      agent_rss_bytes_sum: agentRss.reduce((a, b) => a + b),
      runner_rss_bytes_sum: 6 * 2 ** 20,
      samples: 6,
    });
    assert.deepEqual(agents.get(agent!.id)!.maxes, {
      agent_rss_bytes_max: 9 * 2 ** 20,
      runner_rss_bytes_max: 2 ** 20,
    });
  });

  test('readSeries gives one aggregate per step, oldest first, of the series asked for', async (t) => {
    const { store } = await engine.open(t);
    const now = T0 + 10 * MINUTE;
    await store.commit(meshRun(1, 6, T0), now);
    const ids = await endIds(store);
    const first = MESH_ENDS[0]!;
    const last = MESH_ENDS[5]!;
    const firstId = ids.get(`${first.pid}/${first.side}`)!;
    const lastId = ids.get(`${last.pid}/${last.side}`)!;
    const steps = async (sids: number[], fromMs: number, toMs: number) =>
      (await store.readSeries('end', sids, fromMs, toMs, 2 * SECOND, now)).map((s) => ({
        startMs: s.startMs,
        exchanges: s.aggregate.sums.exchanges,
        exchange: shape(s.aggregate.hists.exchange_latency),
      }));
    const truth = (intervals: number[], ends = [first]) => ({
      exchanges: ends.length * intervals.length * PER_INTERVAL.exchanges,
      exchange: shape(
        fromValues(
          ends.flatMap((e) =>
            intervals.flatMap((i) => latencies(i, e.exchangeBase!, PER_INTERVAL.exchanges)),
          ),
        ),
      ),
    });
    assert.deepEqual(await steps([firstId], T0, T0 + 6 * SECOND), [
      { startMs: T0, ...truth([1, 2]) },
      { startMs: T0 + 2 * SECOND, ...truth([3, 4]) },
      { startMs: T0 + 4 * SECOND, ...truth([5, 6]) },
    ]);
    // Two series: merged per step.
    assert.deepEqual(await steps([firstId, lastId], T0, T0 + 4 * SECOND), [
      { startMs: T0, ...truth([1, 2], [first, last]) },
      { startMs: T0 + 2 * SECOND, ...truth([3, 4], [first, last]) },
    ]);
    // Steps are whole multiples of the step (since the epoch), not counted from the range's start.
    assert.deepEqual(await steps([firstId], T0 + SECOND, T0 + 5 * SECOND), [
      { startMs: T0, ...truth([2]) },
      { startMs: T0 + 2 * SECOND, ...truth([3, 4]) },
      { startMs: T0 + 4 * SECOND, ...truth([5]) },
    ]);
    assert.deepEqual(await steps([firstId], T0 + HOUR, T0 + 2 * HOUR), []);
  });

  test('rolled up, a long range reads the same; what raw rows no longer hold comes from the rollups; a late batch counts once', async (t) => {
    const options: StoreOptions = {
      retention: { rawMs: HOUR, minuteMs: 10 * HOUR, hourMs: 100 * HOUR },
      rollupGraceMs: 0,
      // All the rollups due in one maintain, whatever the machine's speed.
      rollupBudgetMs: 60_000,
    };
    const { store } = await engine.open(t, options);
    // Intervals 1-120 every 1.5 s from T0 (40 to a minute, over three minutes), and 121-140
    // every second from T0 + 2 h 50 min.
    await store.commit(meshRun(1, 120, T0, 1500), T0 + 4 * MINUTE);
    const recentStart = T0 + 170 * MINUTE;
    await store.commit(meshRun(121, 140, recentStart), recentStart + MINUTE);
    const now = T0 + 3 * HOUR;
    const whole = async () => store.read('end', T0, T0 + 3 * HOUR, now);
    await assertEnds(store, await whole(), range(1, 140), 'before the rollups');

    // At 3 h, the first three minutes are past the raw rows' hour: rolled up, then deleted.
    await store.maintain(now);
    await assertEnds(store, await whole(), range(1, 140), 'after the rollups');
    const ids = await endIds(store);
    const first = ids.get('101/client')!;
    const perMinute = async () =>
      (await store.readSeries('end', [first], T0, T0 + 3 * MINUTE, SECOND, now)).map((s) => [
        s.startMs,
        s.aggregate.sums.exchanges,
      ]);
    // Asked for by the second, answered by the minute: no raw row is left to answer finer.
    const ex = PER_INTERVAL.exchanges;
    assert.deepEqual(await perMinute(), [
      [T0, 40 * ex],
      [T0 + MINUTE, 40 * ex],
      [T0 + 2 * MINUTE, 40 * ex],
    ]);

    // A late batch for the first minute: its raw rows are past retention, its minute was
    // rolled up: it counts there, once; each of its 14 series rows (7 ends, 2 hops,
    // 5 processes) is a late row.
    const lateBefore = store.lateRows;
    assert.deepEqual(await store.commit([mesh(141, T0 + 30_500)], now), ['stored']);
    assert.equal(store.lateRows - lateBefore, 7 + 2 + 5);
    // Another, sent twice in one group: once.
    assert.deepEqual(await store.commit([mesh(142, T0 + 31_500), mesh(142, T0 + 31_500)], now), [
      'stored',
      'duplicate',
    ]);
    assert.deepEqual(await store.commit([mesh(141, T0 + 30_500)], now), ['duplicate']);
    assert.equal(store.lateRows - lateBefore, 2 * (7 + 2 + 5));
    await assertEnds(store, await whole(), range(1, 142), 'with the late batches');
    assert.deepEqual((await perMinute())[0], [T0, 42 * ex]);
    // Maintenance again: nothing rolled twice.
    await store.maintain(now);
    await assertEnds(store, await whole(), range(1, 142), 'maintained again');
    assert.deepEqual((await perMinute())[0], [T0, 42 * ex]);
  });

  test('a reader beside the writer sees its rollups once it reads how far they went', async (t) => {
    const options: StoreOptions = {
      retention: { rawMs: HOUR, minuteMs: 10 * HOUR, hourMs: 100 * HOUR },
      rollupGraceMs: 0,
      rollupBudgetMs: 60_000,
    };
    const { store, location } = await engine.open(t, options);
    if (!location) return t.skip('a store in memory has no second connection');
    await store.commit(meshRun(1, 60, T0), T0 + 2 * MINUTE);
    const reader = closing(t, await openReaderStore(location, options));
    assert.equal(reader.engine, engine.name);
    const now = T0 + 3 * HOUR;
    await store.maintain(now);
    await reader.refreshRollups();
    await assertEnds(reader, await reader.read('end', T0, T0 + HOUR, now), range(1, 60), 'reader');
  });

  test('retention: maintain deletes what is past it, with what describes it, and keeps the rest', async (t) => {
    const options: StoreOptions = {
      retention: { rawMs: HOUR, minuteMs: 2 * HOUR, hourMs: 4 * HOUR },
      rollupGraceMs: 0,
      rollupBudgetMs: 60_000,
      dedupeMs: 2 * HOUR,
    };
    const { store } = await engine.open(t, options);
    // Ten intervals of another node (its own processes and ends) at T0, naming one address.
    const old = range(1, 10).map((i) =>
      mesh(i, T0 + (i - 1) * SECOND, {
        agentId: 'agent-old',
        node: 'node-old',
        peers: [
          { address: '10.96.0.10', kind: 'PEER_KIND_SERVICE', namespace: 'shop', name: 'old' },
        ],
      }),
    );
    await store.commit(old, T0 + 20 * SECOND);
    assert.equal(await store.batchCount(), 10);
    const oldRange = async (now: number) => store.read('end', T0, T0 + HOUR, now);

    // At 3 h: past the raw rows' and the minutes' retention, within the hours': still read whole.
    await store.maintain(T0 + 3 * HOUR);
    await assertEnds(store, await oldRange(T0 + 3 * HOUR), range(1, 10), 'at 3 h');
    // Batches are remembered for 2 h (dedupeMs), then forgotten.
    assert.equal(await store.batchCount(), 0);

    // Ten intervals of node-1 at 5 h, naming another address; then maintenance at 5 h 10 min.
    const recentStart = T0 + 5 * HOUR;
    const recent = range(1, 10).map((i) =>
      mesh(i, recentStart + (i - 1) * SECOND, {
        peers: [
          { address: '10.96.0.11', kind: 'PEER_KIND_SERVICE', namespace: 'shop', name: 'new' },
        ],
      }),
    );
    await store.commit(recent, recentStart + 20 * SECOND);
    const now = recentStart + 10 * MINUTE;
    await store.maintain(now);
    assert.equal((await oldRange(now)).size, 0, 'past every retention: gone');
    for (const name of ['hop', 'resource'] as const)
      assert.equal((await store.read(name, T0, T0 + HOUR, now)).size, 0, `${name} gone`);
    await assertEnds(
      store,
      await store.read('end', recentStart, recentStart + MINUTE, now),
      range(1, 10),
      'the rest',
    );
    assert.equal(await store.batchCount(), 10);
    // The old node's processes, their ends and hop series, and the old name, went with the rows.
    const processes = await store.processes();
    assert.deepEqual(
      processes.map((p) => p.key).sort(),
      recent[0]!.processes.map((p) => processId(NODE, p.ref)).sort(),
    );
    const kept = new Set(processes.map((p) => p.id));
    const ends = await store.ends();
    assert.equal(ends.length, MESH_ENDS.length);
    assert.ok(ends.every((e) => kept.has(e.process)));
    const hopSeries = await store.hopSeries();
    assert.equal(hopSeries.length, 2);
    assert.ok(hopSeries.every((h) => kept.has(h.process)));
    assert.deepEqual(Object.fromEntries(await store.peerNames(['10.96.0.10', '10.96.0.11'])), {
      '10.96.0.11': { kind: 'service', namespace: 'shop', name: 'new' },
    });
  });

  test('processes, ends and hop series read back as written, by id or all', async (t) => {
    const { store } = await engine.open(t);
    const b1 = mesh(1, T0);
    // Interval 2 adds the decoy's end and sb's inbound hops again, as a node proxy's
    // serving pod-x: an end and a hop series of their own.
    const base = meshBatch(2, T0 + SECOND);
    const podX = {
      namespace: 'shop',
      name: 'pod-x',
      node: NODE,
      source: 'POD_SOURCE_NETNS' as const,
    };
    const b2 = shipped({
      ...base,
      sequence: 2,
      edges: [...base.edges!, { ...base.edges![6]!, socketPod: podX }],
      hops: [...base.hops!, { ...base.hops![1]!, socketPod: podX }],
    });
    await store.commit([b1], T0 + 5 * SECOND);
    await store.commit([b2], T0 + 6 * SECOND);

    const processes = await store.processes();
    assert.equal(processes.length, 5);
    for (const [k, identity] of b1.processes.entries()) {
      const p = processes.find((q) => q.identity.ref?.pid === identity.ref!.pid)!;
      assert.deepEqual(
        { ...p, id: 0 },
        {
          id: 0,
          key: processId(NODE, identity.ref),
          node: NODE,
          // Stored as written: the wire's message as JSON.
          identity: JSON.parse(JSON.stringify(b2.processes[k])),
          // Seen at the end of each interval that described it.
          firstSeenMs: T0 + SECOND,
          lastSeenMs: T0 + 2 * SECOND,
        },
      );
    }
    const pidOf = new Map(processes.map((p) => [p.id, p.identity.ref!.pid]));

    const ends = await store.ends();
    const described = ends
      .map((e) => ({
        pid: pidOf.get(e.process),
        side: e.side,
        local: e.localAddress,
        remote: e.remoteAddress,
        port: e.port,
        socketPod: e.socketPod,
      }))
      .sort(byJson);
    const withoutBase = ({ exchangeBase: _, ...e }: (typeof MESH_ENDS)[number]) => e;
    const expected = [
      ...MESH_ENDS.map((e) => ({ ...withoutBase(e), socketPod: null as string | null })),
      { ...withoutBase(MESH_ENDS[6]!), socketPod: 'pod:shop/pod-x' },
    ].sort(byJson);
    assert.deepEqual(described, expected);
    // By id: those and no others.
    const some = [ends[0]!.id, ends[3]!.id];
    assert.deepEqual(
      (await store.ends(some)).map((e) => e.id).sort((a, b) => a - b),
      [...some].sort((a, b) => a - b),
    );
    assert.deepEqual(await store.ends([]), []);
    assert.deepEqual(await store.processes([processes[2]!.id]), [processes[2]]);

    const hopSeries = await store.hopSeries();
    assert.deepEqual(
      hopSeries.map((h) => [pidOf.get(h.process), h.direction, h.socketPod]).sort(byJson),
      [
        [102, 'outbound', null],
        [201, 'inbound', null],
        [201, 'inbound', 'pod:shop/pod-x'],
      ].sort(byJson),
    );
    assert.deepEqual(await store.hopSeries([hopSeries[1]!.id]), [hopSeries[1]]);

    // The same end in both batches is one series: its two intervals read together.
    const read = await store.read('end', T0, T0 + 2 * SECOND, T0 + MINUTE);
    assert.deepEqual(
      [...read.keys()].sort((a, b) => a - b),
      ends.map((e) => e.id).sort((a, b) => a - b),
    );
    const ids = await endIds(store);
    assert.equal(read.get(ids.get('101/client')!)!.sums.exchanges, 2 * PER_INTERVAL.exchanges);
    assert.equal(
      read.get(ids.get('301/server@pod:shop/pod-x')!)!.sums.exchanges,
      PER_INTERVAL.exchanges,
    );
  });

  test('the two ends of a connection, shipped apart in either order, are joined', async (t) => {
    const { edges, agentId: _a, bootId: _b, sequence: _s, ...rest } = mesh(1, T0);
    const sideOf = (side: EdgeReport['side']) => edges.filter((e) => e.side === side);
    const clients = sideOf('CONNECTION_SIDE_CLIENT');
    const servers = sideOf('CONNECTION_SIDE_SERVER');
    const part = (sequence: number, atMs: number, ends: Init<EdgeReport>[]) =>
      shipped({
        ...rest,
        sequence,
        intervalStartUnixMs: atMs,
        intervalEndUnixMs: atMs + SECOND,
        edges: ends,
      });
    const orders: [string, Batch[][]][] = [
      ['clients first', [[part(1, T0, clients)], [part(2, T0 + SECOND, servers)]]],
      ['servers first', [[part(1, T0, servers)], [part(2, T0 + SECOND, clients)]]],
      ['in one batch', [[mesh(1, T0)]]],
    ];
    for (const [order, groups] of orders) {
      const { store } = await engine.open(t);
      for (const group of groups) await store.commit(group, T0 + 10 * SECOND);
      const pidOf = new Map((await store.processes()).map((p) => [p.id, p.identity.ref!.pid]));
      const ends = await store.ends();
      const endPid = new Map(ends.map((e) => [e.id, pidOf.get(e.process)!]));
      const links = await store.links(ends.map((e) => e.id));
      assert.deepEqual(
        links.map((l) => [endPid.get(l.clientEnd), endPid.get(l.serverEnd)]).sort(),
        MESH_LINKS,
        order,
      );
      for (const l of links) {
        assert.equal(ends.find((e) => e.id === l.clientEnd)!.side, 'client', order);
        assert.equal(ends.find((e) => e.id === l.serverEnd)!.side, 'server', order);
      }
      // Asked for one client end: its link only.
      const one = links[0]!;
      assert.deepEqual(await store.links([one.clientEnd]), [one], order);
      assert.deepEqual(await store.links([]), [], order);
    }
  });

  test("peer names and pods' mesh signs: the latest shipped, only the labels that are signs", async (t) => {
    const { store } = await engine.open(t);
    const ambient = { 'istio.io/dataplane-mode': 'ambient' };
    const podA = (labels: Record<string, string>): Init<PodMeshSigns> => ({
      namespace: 'shop',
      name: 'pod-a',
      namespaceLabels: { ...ambient, 'team.example/owner': 'payments' },
      labels: { ...labels, version: 'v2' },
      ownerKind: 'ReplicaSet',
      ownerName: 'pod-a-7d9f',
    });
    const podB: Init<PodMeshSigns> = {
      namespace: 'shop',
      name: 'pod-b',
      labels: { app: 'catalog' },
      sidecarContainers: ['istio-proxy'],
    };
    await store.commit(
      [
        mesh(1, T0, {
          peers: [
            { address: B_IP, kind: 'PEER_KIND_POD', namespace: 'shop', name: 'pod-b' },
            {
              address: '10.96.0.10',
              kind: 'PEER_KIND_SERVICE',
              namespace: 'shop',
              name: 'catalog',
            },
          ],
          podSigns: [podA({ app: 'frontend' }), podB],
        }),
      ],
      T0 + 5 * SECOND,
    );
    // The next interval: the Service renamed, pod-a relabelled.
    await store.commit(
      [
        mesh(2, T0 + SECOND, {
          peers: [
            {
              address: '10.96.0.10',
              kind: 'PEER_KIND_SERVICE',
              namespace: 'shop',
              name: 'catalog-v2',
            },
          ],
          podSigns: [podA({ app: 'frontend', 'istio.io/use-waypoint': 'wp' })],
        }),
      ],
      T0 + 6 * SECOND,
    );
    // An older interval arriving last (a spool replayed) does not undo the relabelling.
    await store.commit(
      [mesh(3, T0 - 10 * SECOND, { podSigns: [podA({ app: 'stale' })] })],
      T0 + 7 * SECOND,
    );

    assert.deepEqual(
      Object.fromEntries(await store.peerNames([B_IP, '10.96.0.10', '10.9.9.9', B_IP])),
      {
        [B_IP]: { kind: 'pod', namespace: 'shop', name: 'pod-b' },
        '10.96.0.10': { kind: 'service', namespace: 'shop', name: 'catalog-v2' },
      },
    );
    assert.deepEqual(await store.peerNames([]), new Map());
    assert.deepEqual(
      Object.fromEntries(
        await store.podSigns(['pod:shop/pod-a', 'pod:shop/pod-b', 'pod:shop/pod-z']),
      ),
      {
        'pod:shop/pod-a': {
          namespaceLabels: ambient,
          labels: { app: 'frontend', 'istio.io/use-waypoint': 'wp' },
          owner: { kind: 'ReplicaSet', name: 'pod-a-7d9f' },
          sidecarContainers: [],
        },
        'pod:shop/pod-b': {
          namespaceLabels: {},
          labels: { app: 'catalog' },
          owner: null,
          sidecarContainers: ['istio-proxy'],
        },
      },
    );
  });

  test("agents: each one's hello and latest cost, by agent id", async (t) => {
    const { store } = await engine.open(t);
    await store.hello('agent-1', NODE, 'boot-1', '1.4.0', { cores: 4, kernel: '6.1.0' });
    const cost: Init<AgentCost> = {
      agentCpuNs: 7_000_000,
      agentRssBytes: 50 * 2 ** 20,
      runnerCpuNs: 2_000_000,
      runnerRssBytes: 8 * 2 ** 20,
      spoolBatches: 3,
      spoolBytes: 4096,
    };
    const batch = mesh(1, T0, { agentCost: cost });
    await store.commit([batch], T0 + 5 * SECOND);
    await store.hello('agent-2', 'node-2', 'boot-9', '1.3.0', { cores: 2 });
    const agents = async () =>
      (await store.agents())
        .map(({ id: _, firstSeenMs: _f, lastSeenMs: _l, ...a }) => a)
        .sort((a, b) => a.agentId.localeCompare(b.agentId));
    const sentCost = JSON.parse(JSON.stringify(batch.agentCost));
    // The batch, which carries no version or node facts, keeps the hello's.
    assert.deepEqual(await agents(), [
      {
        agentId: 'agent-1',
        node: NODE,
        bootId: 'boot-1',
        version: '1.4.0',
        nodeInfo: { cores: 4, kernel: '6.1.0' },
        cost: sentCost,
      },
      {
        agentId: 'agent-2',
        node: 'node-2',
        bootId: 'boot-9',
        version: '1.3.0',
        nodeInfo: { cores: 2 },
        cost: null,
      },
    ]);
    // agent-1 starts again, upgraded: its hello replaces what it said; its cost is still the latest sent.
    await store.hello('agent-1', NODE, 'boot-2', '1.5.0', { cores: 8 });
    assert.deepEqual((await agents())[0], {
      agentId: 'agent-1',
      node: NODE,
      bootId: 'boot-2',
      version: '1.5.0',
      nodeInfo: { cores: 8 },
      cost: sentCost,
    });
    // An agent's id is its cost series' id.
    const ids = (await store.agents()).map((a) => a.id);
    assert.equal(new Set(ids).size, 2);
    const series = await store.read('agent', T0, T0 + SECOND, T0 + MINUTE);
    assert.deepEqual(
      [...series.keys()],
      [(await store.agents()).find((a) => a.agentId === 'agent-1')!.id],
    );
  });

  test('sessions: stored once by id, listed newest first without results, updated, removed', async (t) => {
    const { store } = await engine.open(t);
    const sessions = store.sessions;
    const row = (id: string, startMs: number, name = `session ${id}`): SessionRow => ({
      id,
      name,
      state: 'running',
      createdMs: startMs - 500,
      startMs,
      endMs: null,
      plannedEndMs: startMs + MINUTE,
      spec: JSON.stringify({ name, target: { namespaces: ['shop'] }, labels: { mesh: 'on' } }),
      result: null,
      error: null,
    });
    const s1 = row('s-1', T0, "baseline <b> 'quoted'");
    assert.equal(await sessions.insert(s1), true);
    assert.equal(await sessions.insert({ ...row('s-1', T0 + HOUR), name: 'another' }), false);
    assert.deepEqual(await sessions.get('s-1'), s1, 'the first kept');
    assert.equal(await sessions.get('s-none'), undefined);
    const later = row('s-2', T0 + 5 * SECOND);
    const earlier = row('s-0', T0 - 5 * SECOND);
    const sameStart = row('s-3', T0);
    for (const r of [later, earlier, sameStart]) assert.equal(await sessions.insert(r), true);

    const result = new Uint8Array([0, 1, 2, 250, 255]);
    await sessions.update('s-1', {
      state: 'stopped',
      endMs: T0 + 30 * SECOND,
      result,
      error: null,
    });
    const stopped = { ...s1, state: 'stopped' as const, endMs: T0 + 30 * SECOND, result };
    assert.deepEqual(await sessions.get('s-1'), stopped);
    // Newest start first; one start shared, by id; no results.
    assert.deepEqual(await sessions.list(), [
      later,
      { ...stopped, result: null },
      sameStart,
      earlier,
    ]);
    // An update replaces the result and the error.
    await sessions.update('s-1', {
      state: 'failed',
      endMs: T0 + 31 * SECOND,
      result: null,
      error: 'export failed',
    });
    assert.deepEqual(await sessions.get('s-1'), {
      ...s1,
      state: 'failed',
      endMs: T0 + 31 * SECOND,
      result: null,
      error: 'export failed',
    });
    assert.equal(await sessions.remove('s-0'), true);
    assert.equal(await sessions.remove('s-0'), false);
    assert.equal(await sessions.get('s-0'), undefined);
    assert.deepEqual(
      (await sessions.list()).map((s) => s.id),
      ['s-2', 's-1', 's-3'],
    );
  });

  test("sessions: agents' load reports arrive in batches, a replay counted once", async (t) => {
    const { store } = await engine.open(t);
    const s = store.sessions;
    await s.insert({
      id: 'load-1',
      name: 'load',
      state: 'running',
      createdMs: T0,
      startMs: T0,
      endMs: null,
      plannedEndMs: T0 + MINUTE,
      spec: '{}',
      result: null,
      error: null,
    });
    const report = (requests: number, sessionId = 'load-1'): Init<LoadReport> => ({
      sessionId,
      requests,
      errors: requests % 7,
      latency: fromValues(latencies(requests, 1_000_000, 20)),
      startUnixMs: T0,
      endUnixMs: T0 + 30 * SECOND,
      error: '',
    });
    // Batches carrying only load reports, from two agents.
    const loads = (agentId: string, sequence: number, reports: Init<LoadReport>[]) =>
      shipped({
        agentId,
        sequence,
        node: NODE,
        intervalStartUnixMs: T0 + sequence * SECOND,
        intervalEndUnixMs: T0 + (sequence + 1) * SECOND,
        loadReports: reports,
      });
    const a1 = loads('agent-1', 1, [report(100), report(5, 'no-such-session')]);
    const a2 = loads('agent-1', 2, [report(120)]);
    const b1 = loads('agent-2', 1, [report(300)]);
    assert.equal(await s.loadReportAgents('load-1'), 0);
    assert.deepEqual(await store.commit([a1, b1], T0 + 40 * SECOND), ['stored', 'stored']);
    assert.equal(await s.loadReportAgents('load-1'), 2);
    assert.deepEqual(await store.commit([a2, a1], T0 + 41 * SECOND), ['stored', 'duplicate']);
    assert.deepEqual(await store.commit([b1], T0 + 42 * SECOND), ['duplicate']);
    assert.equal(await s.loadReportAgents('load-1'), 2);
    // By agent, then as each agent sent them; each as it was sent.
    assert.deepEqual(await s.loadReports('load-1'), [
      { agentId: 'agent-1', report: a1.loadReports[0] },
      { agentId: 'agent-1', report: a2.loadReports[0] },
      { agentId: 'agent-2', report: b1.loadReports[0] },
    ]);
    // A report for a session this store does not hold is not kept.
    assert.deepEqual(await s.loadReports('no-such-session'), []);
    assert.equal(await s.loadReportAgents('no-such-session'), 0);
  });

  test('the two ends of a connection committed at the same moment through two collectors are joined', async (t) => {
    if (!engine.sharedWriters) return t.skip('one writer per SQLite store');
    const { store: one, location } = await engine.open(t);
    const other = closing(t, await PostgresStore.connect(location!, {}));
    const now = T0 + 10 * SECOND;
    // Each round the mesh on a node of its own (its own processes, ends and tuples): pod-a's
    // processes and their reports through one collector, the other pods' through the other,
    // both commits at once. They share no row, so nothing orders them but the join itself:
    // neither sees the other's tuples uncommitted, so the sidecars' connection across the
    // pods is joined only if the second join waits for the first commit.
    const ROUNDS = 12;
    const podA = new Set([PROCESSES.a.ref!.pid, PROCESSES.sa.ref!.pid]);
    for (let i = 1; i <= ROUNDS; i++) {
      const whole = mesh(i, T0 + i * SECOND);
      const part = (agentId: string, inA: boolean) => {
        const ours = (pid: number | undefined) => podA.has(pid ?? -1) === inA;
        return shipped({
          ...meshBatch(i, T0 + i * SECOND),
          node: `node-${i}`,
          agentId,
          sequence: i,
          processes: whole.processes.filter((p) => ours(p.ref?.pid)),
          edges: whole.edges.filter((e) => ours(e.process?.pid)),
          hops: whole.hops.filter((h) => ours(h.process?.pid)),
          resources: whole.resources.filter((r) => ours(r.process?.pid)),
        });
      };
      await Promise.all([
        one.commit([part('agent-pod-a', true)], now),
        other.commit([part('agent-pod-b', false)], now),
      ]);
    }
    const processes = new Map((await one.processes()).map((p) => [p.id, p]));
    const ends = await one.ends();
    const endOf = new Map(ends.map((e) => [e.id, processes.get(e.process)!]));
    const links = await one.links(ends.map((e) => e.id));
    for (let i = 1; i <= ROUNDS; i++) {
      const mine = links.filter((l) => endOf.get(l.clientEnd)!.node === `node-${i}`);
      assert.deepEqual(
        mine
          .map((l) => [
            endOf.get(l.clientEnd)!.identity.ref!.pid,
            endOf.get(l.serverEnd)!.identity.ref!.pid,
          ])
          .sort(),
        MESH_LINKS,
        `round ${i}`,
      );
    }
  });

  test('a batch replayed to another collector on the same store is stored once', async (t) => {
    if (!engine.sharedWriters) return t.skip('one writer per SQLite store');
    const { store: one, location } = await engine.open(t);
    const other = closing(t, await PostgresStore.connect(location!, {}));
    const now = T0 + 10 * SECOND;
    const [b1, b2, b3] = meshRun(1, 3, T0);
    assert.deepEqual(await one.commit([b1!], now), ['stored']);
    assert.deepEqual(await other.commit([b1!, b2!], now), ['duplicate', 'stored']);
    assert.equal(await one.isStored(b2!), true);
    // The same batch to both at once (an agent that reconnected elsewhere before its ack):
    // one of them stores it.
    const statuses = await Promise.all([one.commit([b3!], now), other.commit([b3!], now)]);
    assert.deepEqual(statuses.flat().sort(), ['duplicate', 'stored']);
    assert.equal(await one.batchCount(), 3);
    for (const store of [one, other])
      await assertEnds(store, await store.read('end', T0, T0 + MINUTE, now), [1, 2, 3], 'shared');
  });
}

describe('SQLite in memory', () => contract(sqliteInMemory));
describe('SQLite in a file', () => contract(sqliteInAFile));
describe('PostgreSQL', () => {
  let server: Postgres | undefined;
  before(async () => {
    server = await startPostgres();
  });
  after(() => server?.stop());
  contract(
    postgres(() => {
      if (!server) throw new Error('PostgreSQL did not start');
      return server;
    }),
  );
});
