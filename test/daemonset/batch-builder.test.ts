// One interval's records -> one batch's edges. The runner swaps the edge map a moment
// before the histogram and tuple maps, so an event in between leaves its count in the
// next interval and its bucket or tuple in this one: the builder carries such strays
// into the next interval (once), where their edge is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildInterval, DirectionLearner, IntervalRecords } from '../../daemonset/batch-builder.js';
import {
  EDGE_COUNTERS,
  type EdgeKey,
  type EdgeRecord,
  type HistRecord,
  type TupleRecord,
} from '../../probes/records.js';

const key: EdgeKey = {
  tgid: 41,
  family: 4,
  side: 'client',
  localAddress: '10.0.0.1',
  remoteAddress: '10.0.0.2',
  servicePort: 8080,
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
  localPort: 40_000,
  remotePort: 8080,
  clientIsn: 3_000_000_123,
  firstSeenNs: 1,
};
const ref = () => ({ pid: 41, startTimeTicks: 7 });

function interval(...records: (EdgeRecord | HistRecord | TupleRecord)[]): IntervalRecords {
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
