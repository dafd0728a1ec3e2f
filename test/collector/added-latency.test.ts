// A sidecar's added latency from the joint per-exchange histogram, with known hops: under
// load a slow request and a slow response go together, which the joint figure keeps and a
// sum of independent hop distributions loses (its p99 halves). The collector takes the
// joint figure with its exact mean when there is one, falls back to the independent sum
// for older data and says which, and says how much of the traffic the figure covers.
// Also: the new fields are validated, stored (a schema 4 store opens, its rows kept),
// exposed to Prometheus, and carried into sessions and their comparison.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { validateBatch } from '../../collector/ingest/validate-batch.js';
import { CumulativeMetrics } from '../../collector/metrics/cumulative.js';
import { Queries } from '../../collector/queries.js';
import { compareSessions } from '../../collector/sessions/compare.js';
import { sessionResults } from '../../collector/sessions/results.js';
import { canonicalSession } from '../../collector/sessions/session-file.js';
import { SqliteCollectorStore } from '../../collector/store/sqlite-collector-store.js';
import { Store } from '../../collector/store/store.js';
import type { DirectionCost } from '../../proto/api.js';
import {
  type Batch,
  Batch as BatchCodec,
  type HandoffEnds,
  type HopMethod,
  type HopReport,
  type Init,
  type SessionExport,
} from '../../proto/gen/tollgate/v1.js';
import { fromValues } from '../../proto/histogram.js';
import { compileTarget } from '../../proto/target.js';
import { meshBatch, PROCESSES } from './mesh-batches.js';
import { backToSchema, LATEST_SCHEMA } from './older-store.js';

const US = 1000;
const MS = 1_000_000;
const repeat = (ns: number, n: number) => Array.from({ length: n }, () => ns);

// 100 exchanges through pod-b's sidecar: 90 quick (100 us each way), 10 slow (5 ms each
// way, a busy proxy slows both hops of the same exchange). Per exchange: 90 x 200 us and
// 10 x 10 ms, so p50 0.2 ms, p99 10 ms and a mean of exactly 1.18 ms. Summed as if
// independent, both hops are slow only 1% of the time: p99 5.1 ms.
const REQUEST = [...repeat(100 * US, 90), ...repeat(5 * MS, 10)];
const RESPONSE = REQUEST;
const ADDED = [...repeat(200 * US, 90), ...repeat(10 * MS, 10)];

/** What an agent that joins exchanges sends: 100 paired, 5 unpaired. */
const jointHop: Init<HopReport> = {
  process: PROCESSES.sb.ref,
  direction: 'DIRECTION_INBOUND',
  requestHop: fromValues(REQUEST),
  responseHop: fromValues(RESPONSE),
  added: fromValues(ADDED),
  requests: 105,
  unpaired: 5,
  unmatchedForwards: 3,
  arrivalUnknown: 2,
  handoffs: 60,
  replyHandoffs: 70,
  // 2.1 ms of neighbours' waits behind the proxy over 105 requests: 0.02 ms each.
  neighbourWaitNs: 2_100_000,
  method: 'HOP_METHOD_ARRIVAL_TO_FORWARD',
  handoffEnds: 'HANDOFF_ENDS_WAKE_UPS',
};
/** The same hops from an agent before the joint figure: no added, no method, no unpaired. */
const olderHop: Init<HopReport> = {
  process: PROCESSES.sb.ref,
  direction: 'DIRECTION_INBOUND',
  requestHop: fromValues(REQUEST),
  responseHop: fromValues(RESPONSE),
  requests: 100,
};

const T0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;

function batch(sequence: number, hop: Init<HopReport>, startMs = T0): Batch {
  const b = { ...meshBatch(sequence, startMs), hops: [hop] };
  return BatchCodec.decode(BatchCodec.encode({ agentId: 'a', bootId: 'b', sequence, ...b }));
}

async function inboundOfPodB(store: Store): Promise<DirectionCost> {
  const { costs } = await new Queries(new SqliteCollectorStore(store)).view(
    { fromMs: T0 - 1000, toMs: T0 + 10_000 },
    T0,
  );
  const inbound = costs.find((c) => c.name === 'pod-b')?.inbound;
  assert.ok(inbound, 'pod-b has an inbound cost');
  return inbound;
}

const within = (got: number | null, want: number, what: string) =>
  assert.ok(got !== null && Math.abs(got - want) / want <= 0.03, `${what}: ${got} vs ${want}`);

test('the joint histogram is the added latency: its tail, its exact mean, its coverage', async () => {
  const store = Store.open(':memory:');
  try {
    store.commit([batch(1, jointHop)], T0 + 2000);
    const d = await inboundOfPodB(store);
    assert.equal(d.method, 'arrival-to-forward, joint');
    assert.equal(d.requests, 105);
    assert.equal(d.unpaired, 5);
    assert.equal(d.exchanges, 100);
    assert.equal(d.coverage, 0.9524, '100 of 105');
    assert.equal(d.unmatchedForwards, 3);
    assert.equal(d.arrivalUnknown, 2);
    assert.equal(
      d.handoffs,
      60,
      'stored and read back: the request hops that ran on to the next reader',
    );
    assert.equal(d.replyHandoffs, 70, 'and the response hops that ran on to the client');
    assert.equal(d.handoffTiming, 'wake-up to wake-up', 'stored and read back: their ends');
    assert.deepEqual(d.handoffsByEnds, { wakeUps: 130, reads: 0, notSaid: 0 }, '60 + 70');
    assert.equal(d.neighbourWaitMsPerRequest, 0.02, "neighbours' wait over the requests");
    assert.equal(d.addedLatency.count, 100);
    assert.equal(d.addedLatency.meanMs, 1.18, 'exact: the kernel sum over the count');
    within(d.addedLatency.p50Ms, 0.2, 'p50');
    within(d.addedLatency.p99Ms, 10, 'p99: slow requests and slow responses together');
  } finally {
    store.close();
  }
});

test('an agent that joins exchanges but paired none: no figure, nothing covered', async () => {
  // Seen with HTTP/2 between two haproxy sidecars: all 1,500 exchanges of the client
  // side unpaired, while its request and response hops were timed.
  const store = Store.open(':memory:');
  try {
    store.commit([batch(1, { ...jointHop, added: fromValues([]), unpaired: 105 })], T0 + 2000);
    const d = await inboundOfPodB(store);
    assert.equal(d.method, 'arrival-to-forward, joint');
    assert.equal(d.requests, 105);
    assert.equal(d.unpaired, 105);
    assert.equal(d.exchanges, 0);
    assert.equal(d.coverage, 0);
    assert.equal(d.addedLatency.count, 0);
    assert.equal(d.addedLatency.p50Ms, null);
    assert.equal(d.addedLatency.meanMs, null);
  } finally {
    store.close();
  }
});

test('data without the joint histogram falls back to the independent sum, and says so', async () => {
  const store = Store.open(':memory:');
  try {
    store.commit([batch(1, olderHop)], T0 + 2000);
    const d = await inboundOfPodB(store);
    assert.equal(d.method, 'read-to-write, independent sum');
    assert.equal(d.handoffTiming, null, 'none handed off');
    assert.equal(d.requests, 100);
    assert.equal(d.unpaired, 0);
    assert.equal(d.exchanges, 100);
    assert.equal(d.coverage, 1);
    within(d.addedLatency.p99Ms, 5.1, 'p99 as if request and response were independent');
    within(d.addedLatency.meanMs, 1.18, 'means add either way');
  } finally {
    store.close();
  }
});

test('a store from schema 4 opens: its hop rows read as before, new rows add the joint figure', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-schema4-'));
  try {
    const path = join(dir, 'tollgate.db');
    const before = Store.open(path);
    before.commit([batch(1, olderHop)], T0 + 2000);
    before.close();
    const db = new Database(path);
    backToSchema(db, 4);
    db.close();

    const after = Store.open(path);
    try {
      const old = await inboundOfPodB(after);
      assert.equal(old.method, 'read-to-write, independent sum');
      assert.equal(old.handoffTiming, null, 'rows from before the columns, none handed off');
      assert.equal(old.requests, 100);
      after.commit([batch(2, jointHop, T0 + 1000)], T0 + 3000);
      const both = await inboundOfPodB(after);
      // The headline is the joint figure; it stands for the 100 exchanges the new agent
      // paired, out of the 100 + 105 seen complete in the range.
      assert.equal(both.method, 'arrival-to-forward, joint');
      assert.equal(both.handoffTiming, 'wake-up to wake-up', "the new agent's, all of them");
      assert.equal(both.requests, 205);
      assert.equal(both.unpaired, 5);
      assert.equal(both.exchanges, 100);
      assert.equal(both.coverage, 0.4878);
      assert.equal(both.addedLatency.meanMs, 1.18);
    } finally {
      after.close();
    }
    const check = new Database(path, { readonly: true });
    const columns = (check.pragma('table_info(m_hop_minute)') as { name: string }[]).map(
      (c) => c.name,
    );
    // The tiers added later are made with every column (in another order).
    const tenMinute = (check.pragma('table_info(m_hop_tenmin)') as { name: string }[]).map(
      (c) => c.name,
    );
    assert.deepEqual(tenMinute.sort(), [...columns].sort());
    const version = check.pragma('user_version', { simple: true });
    check.close();
    for (const c of [
      'added',
      'unmatched_forwards',
      'arrival_unknown',
      'method',
      'handoffs_at_wake_ups',
      'handoffs_at_reads',
    ])
      assert.ok(columns.includes(c), `m_hop_minute has ${c}: ${columns.join(', ')}`);
    assert.equal(version, LATEST_SCHEMA);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hop reports with impossible new fields are refused, naming the field', () => {
  assert.equal(validateBatch(batch(1, jointHop)), undefined);
  assert.equal(
    validateBatch(batch(1, { ...jointHop, requests: 4, unpaired: 5 })),
    'hops[0].unpaired 5 is more than its requests 4',
  );
  const broken = { ...fromValues(ADDED), indexes: [...fromValues(ADDED).indexes].reverse() };
  assert.match(
    validateBatch(batch(1, { ...jointHop, added: broken })) ?? '',
    /^hops\[0\]\.added: /,
  );
  assert.equal(
    validateBatch(batch(1, { ...jointHop, method: 7 as unknown as HopMethod })),
    'hops[0].method is 7',
  );
  assert.equal(
    validateBatch(batch(1, { ...jointHop, handoffEnds: 9 as unknown as HandoffEnds })),
    undefined,
    "a newer agent's handoff_ends: taken, its hand-offs not said",
  );
  assert.equal(
    validateBatch(batch(1, { ...jointHop, handoffEnds: -1 as unknown as HandoffEnds })),
    undefined,
    'a negative one too',
  );
});

test('hand-offs timed more than one way in a range: mixed, by their counts', async () => {
  const store = Store.open(':memory:');
  try {
    // 130 hand-offs a report (60 requests, 70 replies): timed at wake-ups, at reads, not
    // said (an older agent), and by a newer agent's value this collector does not know.
    store.commit(
      [
        batch(1, jointHop),
        batch(2, { ...jointHop, handoffEnds: 'HANDOFF_ENDS_READS' }, T0 + 1000),
        batch(3, { ...jointHop, handoffEnds: 'HANDOFF_ENDS_UNSPECIFIED' }, T0 + 2000),
        batch(4, { ...jointHop, handoffEnds: 9 as unknown as HandoffEnds }, T0 + 3000),
      ],
      T0 + 5000,
    );
    const d = await inboundOfPodB(store);
    assert.equal(d.handoffs + d.replyHandoffs, 520);
    assert.equal(d.handoffTiming, 'mixed');
    assert.deepEqual(d.handoffsByEnds, { wakeUps: 130, reads: 130, notSaid: 260 });
    // A session over the range keeps it so.
    const view = await new Queries(new SqliteCollectorStore(store)).view(
      { fromMs: T0 - 1000, toMs: T0 + 10_000 },
      T0,
    );
    const all = compileTarget({ all: true, namespaces: [], podSelector: '', pods: [] });
    const podB = sessionResults({ view, target: all }).pods.find((p) => p.pod?.name === 'pod-b');
    assert.equal(podB?.inboundHandoffEnds, 'HANDOFF_ENDS_MIXED');
  } finally {
    store.close();
  }
  // One way alone: said so.
  for (const [ends, timing] of [
    ['HANDOFF_ENDS_READS', 'read to read'],
    ['HANDOFF_ENDS_UNSPECIFIED', 'not said'],
  ] as const) {
    const alone = Store.open(':memory:');
    try {
      alone.commit([batch(1, { ...jointHop, handoffEnds: ends })], T0 + 2000);
      assert.equal((await inboundOfPodB(alone)).handoffTiming, timing, ends);
    } finally {
      alone.close();
    }
  }
});

test('Prometheus gets the joint added latency, the unpaired exchanges and the requests handed off', () => {
  const metrics = new CumulativeMetrics();
  metrics.add(batch(1, jointHop));
  metrics.add(batch(2, olderHop));
  const text = metrics.exposition();
  const labels =
    '{namespace="shop",pod="pod-b",container="istio-proxy",role="sidecar",direction="inbound"}';
  assert.match(text, /^# TYPE tollgate_proxy_added_duration_seconds histogram$/m);
  assert.ok(
    text.includes(`tollgate_proxy_added_duration_seconds_count${labels} 100\n`),
    'only the exchanges the kernel joined',
  );
  assert.ok(text.includes(`tollgate_proxy_added_duration_seconds_sum${labels} 0.118\n`));
  assert.ok(text.includes(`tollgate_proxy_exchanges_unpaired_total${labels} 5\n`));
  assert.ok(
    text.includes(`tollgate_proxy_requests_handed_off_total${labels} 60\n`),
    "the joint report's 60; the older agent sent none",
  );
  assert.ok(
    text.includes(`tollgate_proxy_replies_handed_off_total${labels} 70\n`),
    'and its 70 replies',
  );
  assert.ok(
    text.includes(`tollgate_proxy_neighbour_wait_seconds_total${labels} 0.0021\n`),
    "the joint report's 2.1 ms of neighbours' wait, in seconds",
  );
});

test('sessions carry the joint figure; figures made by different methods are not judged', async () => {
  const store = Store.open(':memory:');
  try {
    store.commit([batch(1, jointHop)], T0 + 2000);
    const view = await new Queries(new SqliteCollectorStore(store)).view(
      { fromMs: T0 - 1000, toMs: T0 + 10_000 },
      T0,
    );
    const results = sessionResults({
      view,
      target: compileTarget({ all: true, namespaces: [], podSelector: '', pods: [] }),
    });
    const podB = results.pods.find((p) => p.pod?.name === 'pod-b');
    assert.deepEqual(podB?.inboundAdded?.counts, fromValues(ADDED).counts, '90 and 10');
    assert.equal(podB?.inboundAdded?.sumNs, 118 * MS);
    assert.equal(podB?.inboundMethod, 'HOP_METHOD_ARRIVAL_TO_FORWARD');
    assert.equal(podB?.inboundUnpaired, 5);
    assert.equal(podB?.outboundMethod, 'HOP_METHOD_UNSPECIFIED', 'no outbound hops');
    assert.equal(podB?.inboundHandoffEnds, 'HANDOFF_ENDS_WAKE_UPS');
    assert.equal(podB?.outboundHandoffEnds, 'HANDOFF_ENDS_UNSPECIFIED', 'no outbound hops');
  } finally {
    store.close();
  }

  const session = (id: string, pod: Record<string, unknown>) =>
    canonicalSession({
      id,
      name: id,
      startUnixMs: 1,
      endUnixMs: 2,
      tollgate: {
        pods: [
          {
            pod: { namespace: 'shop', name: 'web', labels: {} },
            requests: 1000,
            ...pod,
          },
        ],
      },
    } as unknown as SessionExport);
  // 1000 exchanges whose hops are slow together 10% of the time.
  const hops = (slowNs: number) => ({
    inboundRequestHop: fromValues([...repeat(100 * US, 900), ...repeat(slowNs, 100)]),
    inboundResponseHop: fromValues([...repeat(100 * US, 900), ...repeat(slowNs, 100)]),
  });
  const joint = (slowNs: number) => ({
    ...hops(slowNs),
    inboundAdded: fromValues([...repeat(200 * US, 900), ...repeat(2 * slowNs, 100)]),
    inboundMethod: 'HOP_METHOD_ARRIVAL_TO_FORWARD',
  });
  const p99 = (a: SessionExport, b: SessionExport) =>
    compareSessions(a, b)
      .items.find((i) => i.key === 'shop/web')!
      .metrics.find((m) => m.metric === 'inbound added p99')!;
  const same = p99(session('a', joint(5 * MS)), session('b', joint(10 * MS)));
  within(same.a, 10, 'A: the joint p99');
  within(same.b, 20, 'B: the joint p99');
  assert.equal(same.significant, true);
  const mixed = p99(session('a', hops(5 * MS)), session('b', joint(5 * MS)));
  assert.equal(mixed.significant, false);
  assert.equal(
    mixed.note,
    'methods differ: A read-to-write, independent sum, B arrival-to-forward, joint',
  );
  // Hand-offs timed at other ends: said beside the figure, which is still judged (a file
  // does not say how many hops were handed off).
  const ends = (e: HandoffEnds, slowNs: number) => ({
    ...joint(slowNs),
    inboundHandoffEnds: e,
  });
  const apart = p99(
    session('a', ends('HANDOFF_ENDS_READS', 5 * MS)),
    session('b', ends('HANDOFF_ENDS_WAKE_UPS', 10 * MS)),
  );
  assert.equal(apart.significant, true);
  assert.equal(apart.note, 'hand-offs timed apart: A read to read, B wake-up to wake-up');
  const alike = p99(
    session('a', ends('HANDOFF_ENDS_WAKE_UPS', 5 * MS)),
    session('b', ends('HANDOFF_ENDS_WAKE_UPS', 10 * MS)),
  );
  assert.equal(alike.note, '');
  const unknown = p99(
    session('a', ends('HANDOFF_ENDS_UNSPECIFIED', 5 * MS)),
    session('b', ends('HANDOFF_ENDS_WAKE_UPS', 10 * MS)),
  );
  assert.equal(unknown.note, '', 'a file that says none: not known to differ');
  const both = p99(
    session('a', { ...hops(5 * MS), inboundHandoffEnds: 'HANDOFF_ENDS_MIXED' }),
    session('b', ends('HANDOFF_ENDS_WAKE_UPS', 5 * MS)),
  );
  assert.equal(both.significant, false);
  assert.equal(
    both.note,
    'methods differ: A read-to-write, independent sum, B arrival-to-forward, joint; hand-offs timed apart: A mixed, B wake-up to wake-up',
    'both notes',
  );
});
