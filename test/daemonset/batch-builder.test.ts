// One interval's records -> one batch's edges and hops. The runner swaps the edge map a
// moment before the histogram and tuple maps, so an event in between leaves its count in
// the next interval and its bucket or tuple in this one: the builder carries such strays
// into the next interval (once), where their edge is. Hop reports come from the proxy's
// hop histograms and hop records per listener, one report per sidecar and direction; the
// runner swaps the hop records before the histograms too, and hop buckets without their
// listener's record are carried the same way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildInterval,
  DirectionLearner,
  handoffEndsOf,
  IntervalRecords,
} from '../../daemonset/batch-builder.js';
import {
  EDGE_COUNTERS,
  type EdgeKey,
  type EdgeRecord,
  type HistRecord,
  HOP_COUNTERS,
  type HopCounter,
  type HopRecord,
  type TupleRecord,
} from '../../probes/records.js';
import { bucketIndex } from '../../proto/histogram.js';

const key: EdgeKey = {
  tgid: 41,
  family: 4,
  side: 'client',
  localAddress: '10.0.0.1',
  remoteAddress: '10.0.0.2',
  servicePort: 8080,
  netnsInode: 4026532000,
};
const edge = (counts: Partial<EdgeRecord>): EdgeRecord => ({
  type: 'edge',
  key,
  ...(Object.fromEntries(EDGE_COUNTERS.map((c) => [c, 0])) as Record<
    (typeof EDGE_COUNTERS)[number],
    number
  >),
  ...counts,
});
const connectBucket: HistRecord = {
  type: 'hist',
  key,
  metric: 'connect_latency',
  layout: 'HISTOGRAM_LAYOUT_LOG_LINEAR_16',
  bucket: 100,
  count: 1,
};
const tuple: TupleRecord = {
  type: 'tuple',
  key,
  remoteAddress: '10.0.0.2',
  localPort: 40_000,
  remotePort: 8080,
  clientIsn: 3_000_000_123,
  firstSeenNs: 1,
};
const ref = () => ({ pid: 41, startTimeTicks: 7 });

function interval(
  ...records: (EdgeRecord | HistRecord | TupleRecord | HopRecord)[]
): IntervalRecords {
  const r = new IntervalRecords();
  for (const record of records) r.add(record);
  return r;
}

test('a tuple and a bucket that beat their edge record join it in the next interval', () => {
  const directions = new DirectionLearner();
  const first = buildInterval(interval(connectBucket, tuple), ref, directions);
  assert.deepEqual(first.edges, [], 'nothing to report without the edge record');
  assert.equal(first.strays.length, 2);
  assert.equal(first.straysDropped, 0);

  const next = new IntervalRecords();
  next.carry(first.strays);
  next.add(edge({ connects: 1, connectNsSum: 50_000 }));
  const second = buildInterval(next, ref, directions);
  assert.equal(second.edges.length, 1);
  const [report] = second.edges;
  assert.equal(report?.connects, 1);
  assert.deepEqual(report?.connectLatency?.counts, [1], 'the bucket counted once, with its edge');
  assert.deepEqual(report?.connections, [
    {
      client: { address: '10.0.0.1', port: 40_000 },
      server: { address: '10.0.0.2', port: 8080 },
      clientIsn: 3_000_000_123,
    },
  ]);
  assert.deepEqual(second.strays, []);
});

test('a stray whose edge does not come in the next interval either is dropped and counted', () => {
  const directions = new DirectionLearner();
  const first = buildInterval(interval(tuple), ref, directions);
  const next = new IntervalRecords();
  next.carry(first.strays);
  const second = buildInterval(next, ref, directions);
  assert.deepEqual(second.strays, [], 'carried once, never twice');
  assert.equal(second.straysDropped, 1);
});

test('records with their edge in the same interval are not strays', () => {
  const built = buildInterval(
    interval(edge({ connects: 1 }), connectBucket, tuple),
    ref,
    new DirectionLearner(),
  );
  assert.equal(built.edges[0]?.connections?.length, 1);
  assert.deepEqual(built.edges[0]?.connectLatency?.counts, [1]);
  assert.deepEqual(built.strays, []);
});

test("a folded server edge's sampled connections name their clients from the tuples", () => {
  // The kernel sums a listener's clients past its limit under one key whose remote address
  // is unspecified; each sampled connection still carries its own peer.
  const folded: EdgeKey = {
    ...key,
    side: 'server',
    localAddress: '10.0.0.2',
    remoteAddress: '0.0.0.0',
  };
  const sampled = (client: string, port: number): TupleRecord => ({
    ...tuple,
    key: folded,
    remoteAddress: client,
    localPort: 8080,
    remotePort: port,
  });
  const built = buildInterval(
    interval(
      edge({ accepts: 2 }),
      { ...edge({ accepts: 2 }), key: folded },
      sampled('10.9.0.1', 40_001),
      sampled('10.9.0.2', 40_002),
    ),
    ref,
    new DirectionLearner(),
  );
  const server = built.edges.find((e) => e.side === 'CONNECTION_SIDE_SERVER');
  assert.deepEqual(server?.remote, { address: '0.0.0.0', port: 0 });
  assert.deepEqual(
    server?.connections?.map((c) => [c.client?.address, c.client?.port, c.server?.address]),
    [
      ['10.9.0.1', 40_001, '10.0.0.2'],
      ['10.9.0.2', 40_002, '10.0.0.2'],
    ],
  );
});

test('a sampled connection without a port is left out and counted, its edge kept', () => {
  // Seen with the collector away: a socket read after a reset, its port already released.
  const built = buildInterval(
    interval(edge({ connects: 1 }), { ...tuple, localPort: 0 }),
    ref,
    new DirectionLearner(),
  );
  assert.equal(built.edges.length, 1);
  assert.deepEqual(built.edges[0]?.connections, []);
  assert.equal(built.tuplesWithoutPort, 1);
});

// Hops: a sidecar (tgid 7) with its inbound listener 15006 and outbound listener 15001.
const hopKey = (servicePort: number, tgid = 7): EdgeKey => ({
  tgid,
  family: 4,
  side: 'server',
  localAddress: '0.0.0.0',
  remoteAddress: '0.0.0.0',
  servicePort,
  netnsInode: 4026532000,
});
const hopBucket = (
  servicePort: number,
  metric: HistRecord['metric'],
  valueNs: number,
  count: number,
  tgid = 7,
): HistRecord => ({
  type: 'hist',
  key: hopKey(servicePort, tgid),
  metric,
  layout: 'HISTOGRAM_LAYOUT_LOG_LINEAR_16',
  bucket: bucketIndex(valueNs),
  count,
});
const hopRecord = (servicePort: number, counts: Partial<HopRecord>, tgid = 7): HopRecord => ({
  type: 'hop',
  key: hopKey(servicePort, tgid),
  ...(Object.fromEntries(HOP_COUNTERS.map((c) => [c, 0])) as Record<HopCounter, number>),
  ...counts,
});
const sidecarRef = (tgid: number) => (tgid === 7 ? { pid: 7, startTimeTicks: 70 } : undefined);

test('hop reports carry the joint added latency, exact sums and real unpaired counts', () => {
  // Inbound: 8 exchanges paired (6 of 100 + 150 us, 2 of 2 + 3 ms), 2 unpaired, 1
  // forward with nothing to pair and 1 hop timed from the proxy's read.
  const built = buildInterval(
    interval(
      hopBucket(15006, 'hop_request', 100_000, 6),
      hopBucket(15006, 'hop_request', 2_000_000, 2),
      hopBucket(15006, 'hop_response', 150_000, 6),
      hopBucket(15006, 'hop_response', 3_000_000, 2),
      hopBucket(15006, 'hop_added', 250_000, 6),
      hopBucket(15006, 'hop_added', 5_000_000, 2),
      hopRecord(15006, {
        exchanges: 8,
        unpaired: 2,
        requestNsSum: 6 * 100_000 + 2 * 2_000_000,
        responseNsSum: 6 * 150_000 + 2 * 3_000_000,
        addedNsSum: 6 * 250_000 + 2 * 5_000_000,
        unmatchedForwards: 1,
        arrivalUnknown: 1,
        handoffs: 5,
      }),
    ),
    sidecarRef,
    new DirectionLearner(),
    undefined,
    'HANDOFF_ENDS_WAKE_UPS',
  );
  assert.equal(built.hops.length, 1);
  const [hop] = built.hops;
  assert.equal(hop?.direction, 'DIRECTION_INBOUND');
  assert.equal(hop?.method, 'HOP_METHOD_ARRIVAL_TO_FORWARD');
  assert.equal(hop?.handoffEnds, 'HANDOFF_ENDS_WAKE_UPS', 'as the agent says');
  assert.equal(hop?.requests, 10, 'exchanges seen complete: 8 paired + 2 unpaired');
  assert.equal(hop?.unpaired, 2);
  assert.equal(hop?.unmatchedForwards, 1);
  assert.equal(hop?.arrivalUnknown, 1);
  assert.equal(hop?.handoffs, 5);
  assert.deepEqual(hop?.added?.counts, [6, 2]);
  assert.equal(hop?.added?.sumNs, 11_500_000, "the kernel's exact sum, not midpoints");
  assert.equal(hop?.requestHop?.sumNs, 4_600_000);
  assert.equal(hop?.responseHop?.sumNs, 6_900_000);
  assert.deepEqual(hop?.requestHop?.counts, [6, 2]);
  assert.equal(built.hopsWithoutDirection, 0);
});

test("a sidecar's listeners of one direction add up; each direction is its own report", () => {
  const directions = new DirectionLearner();
  // Port 8443 is learned inbound: a server edge of the sidecar called from another pod.
  directions.observe([
    {
      ...edge({ accepts: 1 }),
      key: { ...hopKey(8443), localAddress: '10.0.0.7', remoteAddress: '10.0.0.9' },
    },
  ]);
  const built = buildInterval(
    interval(
      hopBucket(15006, 'hop_added', 300_000, 3),
      hopRecord(15006, { exchanges: 3, unpaired: 1, addedNsSum: 900_000 }),
      hopBucket(8443, 'hop_added', 300_000, 4),
      hopRecord(8443, { exchanges: 4, addedNsSum: 1_200_000, unmatchedForwards: 2 }),
      hopBucket(15001, 'hop_added', 400_000, 5),
      hopRecord(15001, { exchanges: 5, unpaired: 3, addedNsSum: 2_000_000 }),
    ),
    sidecarRef,
    directions,
  );
  const by = new Map(built.hops.map((h) => [h.direction, h]));
  assert.equal(built.hops.length, 2);
  const inbound = by.get('DIRECTION_INBOUND');
  assert.equal(inbound?.requests, 8, '3 + 1 on 15006, 4 on 8443');
  assert.equal(inbound?.unpaired, 1);
  assert.equal(inbound?.unmatchedForwards, 2);
  assert.deepEqual(inbound?.added?.counts, [7]);
  assert.equal(inbound?.added?.sumNs, 2_100_000);
  const outbound = by.get('DIRECTION_OUTBOUND');
  assert.equal(outbound?.requests, 8, '5 + 3 on 15001');
  assert.equal(outbound?.unpaired, 3);
  assert.equal(outbound?.added?.sumNs, 2_000_000);
});

test('hops of an unknown listener or direction are counted, not reported', () => {
  const built = buildInterval(
    interval(
      // The kernel did not know the listener: forwards without an arrival only.
      hopRecord(0, { unmatchedForwards: 4 }),
      // A listener nothing has told the direction of yet: 3 + 3 hops dropped.
      hopBucket(9999, 'hop_request', 100_000, 3),
      hopBucket(9999, 'hop_response', 100_000, 3),
      hopBucket(9999, 'hop_added', 200_000, 3),
      hopRecord(9999, { exchanges: 3, unmatchedForwards: 1 }),
      // A process the agent could not name.
      hopBucket(15006, 'hop_request', 100_000, 2, 8),
      hopRecord(15006, { exchanges: 2 }, 8),
    ),
    sidecarRef,
    new DirectionLearner(),
  );
  assert.deepEqual(built.hops, []);
  assert.equal(built.hopsWithoutDirection, 4 + 3 + 3 + 1 + 2);
});

test("hops through the mesh's health and metrics listeners are left out of the sidecar's, and counted", () => {
  const directions = new DirectionLearner();
  const built = buildInterval(
    interval(
      // The kubelet's probes through pilot-agent's 15021, called from the node: learned as
      // an inbound listener, like the app's.
      {
        ...edge({ accepts: 5 }),
        key: { ...key, tgid: 7, side: 'server', servicePort: 15021, remoteAddress: '10.0.0.5' },
      },
      hopBucket(15021, 'hop_request', 100_000, 5),
      hopBucket(15021, 'hop_response', 100_000, 5),
      hopRecord(15021, { exchanges: 5 }),
      // The app's own inbound traffic.
      hopBucket(15006, 'hop_request', 100_000, 7),
      hopBucket(15006, 'hop_response', 100_000, 7),
      hopRecord(15006, { exchanges: 7 }),
    ),
    sidecarRef,
    directions,
  );
  assert.deepEqual(
    built.hops.map((h) => [h.direction, h.requests]),
    [['DIRECTION_INBOUND', 7]],
  );
  assert.equal(built.meshManagementHops, 5 + 5);
  assert.equal(built.hopsWithoutDirection, 0);
});

test("a hop split by the runner's swaps is counted once, in the interval of its counts", () => {
  // The runner swaps the hop counts before the histograms: an exchange that completes in
  // between has its counts in the next interval and its buckets in this one. Here, the
  // last of 10 exchanges: 9 in this interval's counts, its buckets 10 here.
  const directions = new DirectionLearner();
  const first = buildInterval(
    interval(
      hopBucket(15006, 'hop_added', 250_000, 10),
      hopRecord(15006, { exchanges: 9, addedNsSum: 9 * 250_000 }),
      // The last exchange of a run on 15001: its buckets, its counts to come.
      hopBucket(15001, 'hop_request', 100_000, 1),
      hopBucket(15001, 'hop_added', 300_000, 1),
    ),
    sidecarRef,
    directions,
  );
  assert.deepEqual(
    first.hops.map((h) => [h.direction, h.requests, h.added?.counts]),
    [['DIRECTION_INBOUND', 9, [10]]],
    'a listener without counts makes no report: its buckets are not taken for requests',
  );
  assert.equal(first.strays.length, 2, "15001's buckets wait for their counts");

  const next = new IntervalRecords();
  next.carry(first.strays);
  next.add(hopRecord(15006, { exchanges: 1, addedNsSum: 250_000 }));
  next.add(hopRecord(15001, { exchanges: 1, requestNsSum: 100_000, addedNsSum: 300_000 }));
  const second = buildInterval(next, sidecarRef, directions);
  const by = new Map(second.hops.map((h) => [h.direction, h]));
  // Over both intervals, 15006's 10 exchanges and 10 buckets: each counted once.
  assert.equal(by.get('DIRECTION_INBOUND')?.requests, 1);
  assert.equal(by.get('DIRECTION_INBOUND')?.added, undefined);
  const outbound = by.get('DIRECTION_OUTBOUND');
  assert.equal(outbound?.requests, 1);
  assert.deepEqual(outbound?.added?.counts, [1], 'the carried buckets, with their counts');
  assert.equal(outbound?.added?.sumNs, 300_000);
  assert.equal(outbound?.requestHop?.sumNs, 100_000);
  assert.equal(outbound?.method, 'HOP_METHOD_ARRIVAL_TO_FORWARD');
  assert.deepEqual(second.strays, []);
  assert.equal(second.straysDropped, 0);

  // Buckets whose counts never come (their proxy gone): carried once, then dropped.
  const third = new IntervalRecords();
  third.carry(
    buildInterval(interval(hopBucket(15001, 'hop_added', 300_000, 1)), sidecarRef, directions)
      .strays,
  );
  const last = buildInterval(third, sidecarRef, directions);
  assert.deepEqual(last.hops, []);
  assert.equal(last.straysDropped, 1);
});

test('learned directions are forgotten after their ttl and bounded in number, and inbound wins', () => {
  const directions = new DirectionLearner(undefined, { ttlMs: 60_000, maxEntries: 100 });
  const server = (tgid: number, port: number, remoteAddress: string): EdgeRecord => ({
    ...edge({ accepts: 1 }),
    key: {
      ...key,
      tgid,
      side: 'server',
      localAddress: '10.0.0.9',
      remoteAddress,
      servicePort: port,
    },
  });
  directions.observe([server(7, 9000, '127.0.0.1')], 0);
  assert.equal(directions.direction(7, 9000), 'DIRECTION_OUTBOUND', 'called from its own pod');
  directions.observe([server(7, 9000, '10.0.0.5')], 1000);
  assert.equal(directions.direction(7, 9000), 'DIRECTION_INBOUND');
  directions.observe([server(7, 9000, '127.0.0.1')], 2000);
  assert.equal(directions.direction(7, 9000), 'DIRECTION_INBOUND', 'inbound, once seen, stays');

  // 1,000 short-lived servers, one a second: at most 100 kept, the oldest going first.
  for (let i = 0; i < 1000; i++) directions.observe([server(1000 + i, 8080, '10.0.0.5')], 3000 + i);
  assert.equal(directions.size, 100);
  assert.equal(directions.evicted, 1000 + 1 - 100);
  assert.equal(directions.direction(1999, 8080), 'DIRECTION_INBOUND', 'the newest kept');
  assert.equal(directions.direction(1000, 8080), undefined, 'the oldest gone');
  // A minute later everything is stale and goes at the next interval.
  directions.observe([], 3000 + 999 + 60_000);
  assert.equal(directions.size, 0);
  assert.equal(
    directions.direction(15, 15006),
    'DIRECTION_INBOUND',
    'known ports need no learning',
  );
});

test("a node proxy's ends and hops in two pods' namespaces are reported apart, each naming its pod", () => {
  // tgid 7 lives in namespace 1; its sockets are in pods' namespaces 2 and 3, at the same
  // addresses (each pod's app at 127.0.0.1:9080).
  const pods = new Map([
    [
      2,
      {
        namespace: 'netns',
        name: 'pod-a',
        uid: '',
        node: 'n',
        source: 'POD_SOURCE_NETNS' as const,
      },
    ],
    [
      3,
      {
        namespace: 'netns',
        name: 'pod-b',
        uid: '',
        node: 'n',
        source: 'POD_SOURCE_NETNS' as const,
      },
    ],
  ]);
  const socketPod = (k: EdgeKey) => (k.netnsInode === 1 ? undefined : pods.get(k.netnsInode));
  const toApp = (netnsInode: number, connects: number): EdgeRecord => ({
    ...edge({ connects }),
    key: {
      ...key,
      tgid: 7,
      localAddress: '127.0.0.1',
      remoteAddress: '127.0.0.1',
      servicePort: 9080,
      netnsInode,
    },
  });
  const tunnel = (netnsInode: number, exchanges: number): HopRecord => ({
    ...hopRecord(15008, { exchanges }),
    key: { ...hopKey(15008), netnsInode },
  });
  const built = buildInterval(
    interval(toApp(2, 3), toApp(3, 5), tunnel(2, 4), tunnel(3, 6)),
    sidecarRef,
    new DirectionLearner(),
    socketPod,
  );
  assert.deepEqual(
    built.edges.map((e) => [e.socketPod?.name, e.connects]),
    [
      ['pod-a', 3],
      ['pod-b', 5],
    ],
  );
  assert.deepEqual(
    built.hops.map((h) => [h.direction, h.socketPod?.name, h.requests]),
    [
      ['DIRECTION_INBOUND', 'pod-a', 4],
      ['DIRECTION_INBOUND', 'pod-b', 6],
    ],
  );
});

test("a hand-off's ends are the runner's interval's word", () => {
  assert.equal(handoffEndsOf({ handoffWakeUps: true }), 'HANDOFF_ENDS_WAKE_UPS');
  assert.equal(
    handoffEndsOf({ handoffWakeUps: false }),
    'HANDOFF_ENDS_READS',
    'no context-switch hook, or its attach failed in the interval',
  );
});
