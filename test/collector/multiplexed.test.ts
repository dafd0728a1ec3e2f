// A connection that carries several requests at once (HTTP/2 between two sidecars, an
// app's own gRPC): the kernel counts its exchanges apart once it has marked it (see
// test/probes/multiplexed), and the collector marks the edge, keeps its exchange latency
// out of the figures people read (the edge's p50, the overhead share's denominator),
// counts its requests from every direction change (in the cost per 1,000 requests too),
// stores the count, and hands it to Prometheus.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { CumulativeMetrics } from '../../collector/metrics/cumulative.js';
import { Queries } from '../../collector/queries.js';
import { sessionResults } from '../../collector/sessions/results.js';
import { SqliteCollectorStore } from '../../collector/store/sqlite-collector-store.js';
import { Store } from '../../collector/store/store.js';
import { type Batch, Batch as BatchCodec, type EdgeReport } from '../../proto/gen/tollgate/v1.js';
import { compileTarget } from '../../proto/target.js';
import { B_IP, meshBatch, PER_INTERVAL, PROCESSES } from './mesh-batches.js';
import { backToSchema } from './older-store.js';

const T0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
/** Of each interval's 50 exchanges on sa's upstream, those after the mark. */
const MULTIPLEXED = 40;

/** The mesh's interval, with sa's upstream to pod-b multiplexed from its 11th exchange on. */
function batch(sequence: number, multiplexed = true): Batch {
  const b = meshBatch(sequence, T0 + (sequence - 1) * 1000);
  const isUpstream = (e: (typeof b.edges & object)[number]) =>
    e.process?.pid === PROCESSES.sa.ref?.pid &&
    e.side === 'CONNECTION_SIDE_CLIENT' &&
    e.remote?.address === B_IP;
  if (multiplexed)
    b.edges = b.edges?.map((e) =>
      isUpstream(e)
        ? ({
            ...e,
            exchanges: PER_INTERVAL.exchanges - MULTIPLEXED,
            multiplexedExchanges: MULTIPLEXED,
          } as typeof e)
        : e,
    );
  return BatchCodec.decode(BatchCodec.encode({ agentId: 'a', bootId: 'b', sequence, ...b }));
}

function view(store: Store) {
  return new Queries(new SqliteCollectorStore(store)).view({ fromMs: T0, toMs: T0 + 2000 }, T0);
}

const saToSb = (v: Awaited<ReturnType<typeof view>>) => {
  const name = (id: string) => v.topology.processes.find((p) => p.id === id)?.comm;
  const pod = (id: string) => v.topology.processes.find((p) => p.id === id)?.pod ?? '';
  const edge = v.topology.edges.find(
    (e) => name(e.source) === 'haproxy' && pod(e.source).includes('pod-a') && e.port === 9080,
  );
  assert.ok(edge, 'the edge between the sidecars');
  return edge;
};

test('a multiplexed edge: marked, its exchange latency left out, its requests all counted', async () => {
  const store = Store.open(':memory:');
  try {
    store.commit([batch(1), batch(2)], T0 + 3000);
    const v = await view(store);
    const edge = saToSb(v);
    assert.equal(edge.multiplexed, true);
    assert.equal(edge.latencyMs, null, 'no exchange p50 on the edge');
    assert.equal(edge.client?.exchangeLatency.count, 0);
    assert.equal(edge.server?.exchangeLatency.count, 0, "the other end's too");
    assert.equal(edge.client?.exchanges, 2 * (PER_INTERVAL.exchanges - MULTIPLEXED));
    assert.equal(edge.client?.multiplexedExchanges, 2 * MULTIPLEXED);
    // 100 direction changes over the 2 s range.
    assert.equal(edge.requestsPerS, PER_INTERVAL.exchanges);
    // Every other edge of the mesh is plain, its latency shown.
    for (const e of v.topology.edges.filter((x) => x.id !== edge.id)) {
      assert.equal(e.multiplexed, false, e.id);
      if (e.client?.exchangeLatency.count || e.server?.exchangeLatency.count)
        assert.notEqual(e.latencyMs, null, e.id);
    }
    // pod-b's inbound downstream is only that edge: no exchange latency to divide by.
    const inbound = v.costs.find((c) => c.name === 'pod-b')?.inbound;
    assert.equal(inbound?.downstreamLatency.count, 0);
    assert.equal(inbound?.overheadShare, null);
    // The edge detail and a session made of the range: no exchange latency either.
    const detail = await new Queries(new SqliteCollectorStore(store)).edge(
      edge.id,
      { fromMs: T0, toMs: T0 + 2000 },
      1000,
      T0,
    );
    assert.equal(detail?.histograms.clientExchange.indexes.length, 0);
    assert.equal(detail?.histograms.serverExchange.indexes.length, 0);
    const session = sessionResults({
      view: v,
      target: compileTarget({ all: true, namespaces: [], podSelector: '', pods: [] }),
    });
    const inSession = session.edges.find(
      (e) => e.id === 'shop/pod-a/sidecar>shop/pod-b/sidecar:9080',
    );
    assert.ok(inSession, JSON.stringify(session.edges.map((e) => e.id)));
    assert.equal(inSession.clientExchangeLatency?.indexes.length ?? 0, 0);
    assert.equal(inSession.serverExchangeLatency?.indexes.length ?? 0, 0);
    assert.equal(inSession.exchanges, 2 * PER_INTERVAL.exchanges);
    // The app's own call to its sidecar is plain and keeps its latency.
    const plain = session.edges.find((e) => e.id === 'shop/pod-a/app>shop/pod-a/sidecar:9080');
    assert.ok((plain?.clientExchangeLatency?.indexes.length ?? 0) > 0);
    // pod-a's outbound downstream is its app's own calls: plain, still there.
    const outbound = v.costs.find((c) => c.name === 'pod-a')?.outbound;
    assert.ok((outbound?.downstreamLatency.count ?? 0) > 0);
    assert.notEqual(outbound?.overheadShare, null);
  } finally {
    store.close();
  }
});

test('the same mesh unmarked: the edge keeps its latency and the overhead share its denominator', async () => {
  const store = Store.open(':memory:');
  try {
    store.commit([batch(1, false), batch(2, false)], T0 + 3000);
    const v = await view(store);
    const edge = saToSb(v);
    assert.equal(edge.multiplexed, false);
    assert.notEqual(edge.latencyMs, null);
    const inbound = v.costs.find((c) => c.name === 'pod-b')?.inbound;
    assert.equal(inbound?.downstreamLatency.count, 2 * PER_INTERVAL.exchanges);
    assert.notEqual(inbound?.overheadShare, null);
  } finally {
    store.close();
  }
});

test("an app's own connection marked multiplexed: its requests still count in the cost per 1,000", async () => {
  // pod-b's app b serves sb; mark b's server end, as the kernel does for an app whose
  // own gRPC carries overlapping calls (seen at either end).
  const marked = (sequence: number, split: boolean): Batch => {
    const b = meshBatch(sequence, T0 + (sequence - 1) * 1000);
    if (split)
      b.edges = b.edges?.map((e) =>
        e.process?.pid === PROCESSES.b.ref?.pid && e.side === 'CONNECTION_SIDE_SERVER'
          ? ({
              ...e,
              exchanges: (e.exchanges ?? 0) - MULTIPLEXED,
              multiplexedExchanges: MULTIPLEXED,
            } as typeof e)
          : e,
      );
    return BatchCodec.decode(BatchCodec.encode({ agentId: 'a', bootId: 'b', sequence, ...b }));
  };
  const costOf = async (split: boolean) => {
    const store = Store.open(':memory:');
    try {
      store.commit([marked(1, split), marked(2, split)], T0 + 3000);
      return (await view(store)).costs.find((c) => c.name === 'pod-b');
    } finally {
      store.close();
    }
  };
  const plain = await costOf(false);
  const split = await costOf(true);
  assert.ok((plain?.requests ?? 0) > 0);
  assert.equal(split?.requests, plain?.requests, 'the same requests, timed or not');
  assert.equal(split?.app?.cpuMsPer1kRequests, plain?.app?.cpuMsPer1kRequests);
});

test('a schema 5 store gains the column; its old rows read as not multiplexed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-multiplexed-'));
  try {
    const path = join(dir, 'store.db');
    const before = Store.open(path);
    before.commit([batch(1, false)], T0 + 2000);
    before.close();
    const db = new Database(path);
    backToSchema(db, 5);
    db.close();
    const after = Store.open(path);
    try {
      assert.equal(saToSb(await view(after)).multiplexed, false);
      after.commit([batch(2)], T0 + 3000);
      const edge = saToSb(await view(after));
      assert.equal(edge.multiplexed, true);
      assert.equal(edge.client?.multiplexedExchanges, MULTIPLEXED);
    } finally {
      after.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Prometheus counts multiplexed exchanges apart', () => {
  const metrics = new CumulativeMetrics();
  metrics.add(batch(1));
  const text = metrics.exposition();
  const labels =
    '{namespace="shop",pod="pod-a",container="istio-proxy",role="sidecar",side="client"}';
  assert.match(text, /^# TYPE tollgate_multiplexed_exchanges_total counter$/m);
  assert.ok(text.includes(`tollgate_multiplexed_exchanges_total${labels} ${MULTIPLEXED}\n`), text);
  assert.ok(
    text.includes(`tollgate_exchanges_total${labels} ${PER_INTERVAL.exchanges - MULTIPLEXED}\n`),
    'the timed ones, before the mark',
  );
});

// The edge reports' new field survives the wire: a decoded batch has it.
test('EdgeReport.multiplexed_exchanges round-trips', () => {
  const edges: EdgeReport[] = batch(1).edges.filter((e) => e.multiplexedExchanges > 0);
  assert.equal(edges.length, 1);
  assert.equal(edges[0]!.multiplexedExchanges, MULTIPLEXED);
});
