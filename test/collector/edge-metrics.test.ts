// The counters of a connection end are defined once (proto/edge-metrics.ts): each one,
// given a value of its own in the kernel's record, arrives with that value in the agent's
// report, in the store and in the API's sums, and a histogram's exact sum in its mean.
// A counter dropped anywhere on the way (as `adopted` once was) fails here by name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Queries } from '../../collector/queries.js';
import { SqliteCollectorStore } from '../../collector/store/sqlite-collector-store.js';
import { Store } from '../../collector/store/store.js';
import { buildInterval, DirectionLearner, IntervalRecords } from '../../daemonset/batch-builder.js';
import type { EdgeRecord, HistRecord } from '../../probes/records.js';
import { EDGE_METRICS, WIRE_COUNTERS, type WireCounter } from '../../proto/edge-metrics.js';
import { Batch as BatchCodec } from '../../proto/gen/tollgate/v1.js';
import { B_IP, meshBatch, PROCESSES } from './mesh-batches.js';

const T0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;

/** A value no other counter has, so that one read in place of another shows. */
const distinct = (i: number) => 1000 + 17 * i;

test("every counter of the kernel's record reaches the agent's report with its own value", () => {
  const key = {
    tgid: 41,
    family: 4 as const,
    side: 'client' as const,
    localAddress: '10.0.0.1',
    remoteAddress: '10.0.0.2',
    servicePort: 8080,
    netnsInode: 4026532000,
  };
  const record = {
    type: 'edge',
    key,
    ...Object.fromEntries(EDGE_METRICS.map((m, i) => [m.ts, distinct(i)])),
  } as EdgeRecord;
  const records = new IntervalRecords();
  records.add(record);
  for (const metric of ['connect_latency', 'exchange_latency', 'srtt'] as const)
    records.add({
      type: 'hist',
      key,
      metric,
      layout: 'HISTOGRAM_LAYOUT_LOG_LINEAR_16',
      bucket: 200,
      count: 1,
    } satisfies HistRecord);
  const built = buildInterval(
    records,
    () => ({ pid: 41, startTimeTicks: 7 }),
    new DirectionLearner(),
  );
  const [report] = built.edges;
  assert.ok(report);
  EDGE_METRICS.forEach((m, i) => {
    if ('counter' in m.wire) assert.equal(report[m.ts as WireCounter], distinct(i), m.name);
    else {
      const histogram = {
        connect_latency: report.connectLatency,
        exchange_latency: report.exchangeLatency,
        srtt: report.srtt,
      }[m.wire.histogramSum];
      assert.equal(histogram?.sumNs, distinct(i), `${m.name}: the mean's exact sum`);
    }
  });
});

test('every counter of a report is stored and summed into the API with its own value', async () => {
  const batch = (sequence: number) => {
    const b = meshBatch(sequence, T0 + (sequence - 1) * 1000);
    b.edges = b.edges?.map((e) =>
      e.process?.pid === PROCESSES.sa.ref?.pid &&
      e.side === 'CONNECTION_SIDE_CLIENT' &&
      e.remote?.address === B_IP
        ? { ...e, ...Object.fromEntries(WIRE_COUNTERS.map((m, i) => [m.ts, distinct(i)])) }
        : e,
    );
    return BatchCodec.decode(BatchCodec.encode({ agentId: 'a', bootId: 'b', sequence, ...b }));
  };
  const store = Store.open(':memory:');
  try {
    store.commit([batch(1), batch(2)], T0 + 3000);
    const v = await new Queries(new SqliteCollectorStore(store)).view(
      { fromMs: T0, toMs: T0 + 2000 },
      T0,
    );
    const name = (id: string) => v.topology.processes.find((p) => p.id === id);
    const edge = v.topology.edges.find(
      (e) =>
        name(e.source)?.comm === 'haproxy' &&
        (name(e.source)?.pod ?? '').includes('pod-a') &&
        e.port === 9080,
    );
    assert.ok(edge?.client, "the sidecars' edge, its client side");
    assert.equal(edge.client.ends, 1);
    WIRE_COUNTERS.forEach((m, i) => {
      assert.equal(edge.client?.[m.ts], 2 * distinct(i), m.name);
    });
  } finally {
    store.close();
  }
});
