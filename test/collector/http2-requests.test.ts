// Requests on HTTP/2 connections counted from their frames (the kernel's http2_requests,
// with those connections' exchanges in http2_exchanges: test/probes/http2-requests): the
// collector takes them for the requests wherever it counts requests (an edge's rate, a
// pod's cost per 1,000 requests, a session's edges, Prometheus), stores them, and reads a
// store from before them as counting none.
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
import { type Batch, Batch as BatchCodec } from '../../proto/gen/tollgate/v1.js';
import { requestsOf } from '../../proto/requests.js';
import { compileTarget } from '../../proto/target.js';
import { B_IP, meshBatch, PER_INTERVAL, PROCESSES } from './mesh-batches.js';
import { backToSchema } from './older-store.js';

const T0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
/** Each interval's requests on sa's upstream to pod-b, batched 16 to an exchange. */
const UPSTREAM_REQUESTS = 16 * PER_INTERVAL.exchanges;
/** Each interval's requests at app b's server end, 8 to an exchange. */
const APP_REQUESTS = 8 * PER_INTERVAL.exchanges;

const isUpstream = (e: Batch['edges'][number]) =>
  e.process?.pid === PROCESSES.sa.ref?.pid &&
  e.side === 'CONNECTION_SIDE_CLIENT' &&
  e.remote?.address === B_IP;
const isAppServer = (e: Batch['edges'][number]) =>
  e.process?.pid === PROCESSES.b.ref?.pid && e.side === 'CONNECTION_SIDE_SERVER';

/** The mesh's interval; with `http2`, sa's upstream and b's server end carry HTTP/2. */
function batch(sequence: number, http2 = true): Batch {
  const b = meshBatch(sequence, T0 + (sequence - 1) * 1000);
  const decoded = BatchCodec.decode(
    BatchCodec.encode({ agentId: 'a', bootId: 'b', sequence, ...b }),
  );
  if (http2)
    for (const e of decoded.edges) {
      if (isUpstream(e)) {
        e.http2Exchanges = e.exchanges;
        e.http2Requests = UPSTREAM_REQUESTS;
      } else if (isAppServer(e)) {
        e.http2Exchanges = e.exchanges;
        e.http2Requests = APP_REQUESTS;
      }
    }
  return BatchCodec.decode(BatchCodec.encode(decoded));
}

/**
 * The mesh's interval with sa's upstream to pod-b multiplexed in TLS, its frames unread:
 * its exchanges as they are, all of them ones whose requests the hop pairing counted.
 */
function forwardedBatch(sequence: number): Batch {
  const decoded = batch(sequence, false);
  for (const e of decoded.edges)
    if (isUpstream(e)) {
      e.multiplexedExchanges = e.exchanges;
      e.exchanges = 0;
      e.forwardedExchanges = e.multiplexedExchanges;
      e.forwardedRequests = UPSTREAM_REQUESTS;
    }
  return BatchCodec.decode(BatchCodec.encode(decoded));
}

function view(store: Store) {
  return new Queries(new SqliteCollectorStore(store)).view({ fromMs: T0, toMs: T0 + 2000 }, T0);
}

async function withStore<T>(batches: Batch[], read: (store: Store) => Promise<T>): Promise<T> {
  const store = Store.open(':memory:');
  try {
    store.commit(batches, T0 + 3000);
    return await read(store);
  } finally {
    store.close();
  }
}

const upstreamEdge = (v: Awaited<ReturnType<typeof view>>) => {
  const name = (id: string) => v.topology.processes.find((p) => p.id === id)?.comm;
  const pod = (id: string) => v.topology.processes.find((p) => p.id === id)?.pod ?? '';
  const edge = v.topology.edges.find(
    (e) => name(e.source) === 'haproxy' && pod(e.source).includes('pod-a') && e.port === 9080,
  );
  assert.ok(edge, 'the edge between the sidecars');
  return edge;
};

test('requestsOf: the exchanges, those of HTTP/2 connections replaced by their requests', () => {
  const c = {
    exchanges: 30,
    multiplexedExchanges: 20,
    http2Exchanges: 40,
    http2Requests: 640,
    forwardedExchanges: 0,
    forwardedRequests: 0,
  };
  assert.equal(requestsOf(c), 10 + 640);
  assert.equal(requestsOf({ ...c, http2Exchanges: 0, http2Requests: 0 }), 50);
  // A swap that put a connection's exchange in one report and the streams in another.
  assert.equal(requestsOf({ ...c, http2Exchanges: 60, http2Requests: 5 }), 5);
  // A proxy's multiplexed upstream in TLS: 15 of its exchanges replaced by the 70 requests
  // forwarded in them.
  assert.equal(
    requestsOf({
      ...c,
      http2Exchanges: 0,
      http2Requests: 0,
      forwardedExchanges: 15,
      forwardedRequests: 70,
    }),
    35 + 70,
  );
});

test("an HTTP/2 edge's rate and a session's edge count its requests, not its batches", async () => {
  const [plain, framed] = await Promise.all(
    [false, true].map((http2) =>
      withStore([batch(1, http2), batch(2, http2)], async (store) => {
        const v = await view(store);
        const session = sessionResults({
          view: v,
          target: compileTarget({ all: true, namespaces: [], podSelector: '', pods: [] }),
        });
        const inSession = session.edges.find(
          (e) => e.id === 'shop/pod-a/sidecar>shop/pod-b/sidecar:9080',
        );
        return { edge: upstreamEdge(v), session: inSession };
      }),
    ),
  );
  // 50 direction changes a second without the frames; 800 requests with them (2 s range).
  assert.equal(plain!.edge.requestsPerS, PER_INTERVAL.exchanges);
  assert.equal(framed!.edge.requestsPerS, UPSTREAM_REQUESTS);
  assert.equal(framed!.edge.client?.http2Requests, 2 * UPSTREAM_REQUESTS);
  assert.equal(framed!.edge.client?.http2Exchanges, 2 * PER_INTERVAL.exchanges);
  // Its exchange latency stays: a batch's requests waited together, and the edge is not
  // marked multiplexed for being HTTP/2.
  assert.equal(framed!.edge.multiplexed, false);
  assert.equal(framed!.edge.latencyMs, plain!.edge.latencyMs);
  assert.equal(plain!.session?.exchanges, 2 * PER_INTERVAL.exchanges);
  assert.equal(framed!.session?.exchanges, 2 * UPSTREAM_REQUESTS);
});

test("a proxy's TLS upstream: its rate and a session's edge count the requests it forwarded", async () => {
  const { edge, session, prometheus } = await withStore(
    [forwardedBatch(1), forwardedBatch(2)],
    async (store) => {
      const v = await view(store);
      const metrics = new CumulativeMetrics();
      metrics.add(forwardedBatch(1));
      return {
        edge: upstreamEdge(v),
        session: sessionResults({
          view: v,
          target: compileTarget({ all: true, namespaces: [], podSelector: '', pods: [] }),
        }).edges.find((e) => e.id === 'shop/pod-a/sidecar>shop/pod-b/sidecar:9080'),
        prometheus: metrics.exposition(),
      };
    },
  );
  // 50 direction changes a second, 800 requests (2 s range), none from the frames.
  assert.equal(edge.client?.multiplexedExchanges, 2 * PER_INTERVAL.exchanges);
  assert.equal(edge.client?.http2Requests, 0);
  assert.equal(edge.client?.forwardedRequests, 2 * UPSTREAM_REQUESTS);
  assert.equal(edge.multiplexed, true);
  assert.equal(edge.requestsPerS, UPSTREAM_REQUESTS);
  assert.equal(session?.exchanges, 2 * UPSTREAM_REQUESTS);
  const labels =
    '{namespace="shop",pod="pod-a",container="istio-proxy",role="sidecar",side="client"}';
  assert.ok(
    prometheus.includes(`tollgate_requests_total${labels} ${UPSTREAM_REQUESTS}\n`),
    prometheus,
  );
});

test("an app's HTTP/2 server end: the cost per 1,000 requests divides by its requests", async () => {
  const costOf = (http2: boolean) =>
    withStore([batch(1, http2), batch(2, http2)], async (store) =>
      (await view(store)).costs.find((c) => c.name === 'pod-b'),
    );
  const plain = await costOf(false);
  const framed = await costOf(true);
  const appExchanges = batch(1, false)
    .edges.filter(isAppServer)
    .reduce((n, e) => n + e.exchanges, 0);
  assert.ok(appExchanges > 0);
  assert.equal(framed?.requests, plain!.requests - 2 * appExchanges + 2 * APP_REQUESTS);
  const cpu = plain?.app?.cpuMsPer1kRequests;
  assert.ok(cpu !== undefined && cpu !== null && cpu > 0);
  // The same CPU over more requests (rounded to 3 decimals by the model).
  assert.ok(
    Math.abs(framed!.app!.cpuMsPer1kRequests! - (cpu * plain!.requests) / framed!.requests) < 0.002,
  );
});

test('a schema 15 store gains the columns; its old rows count no HTTP/2 requests', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-http2-'));
  try {
    const path = join(dir, 'store.db');
    const before = Store.open(path);
    before.commit([batch(1, false)], T0 + 2000);
    before.close();
    const db = new Database(path);
    backToSchema(db, 15);
    db.close();
    const after = Store.open(path);
    try {
      const old = upstreamEdge(await view(after));
      assert.equal(old.client?.http2Requests, 0);
      assert.equal(old.requestsPerS, PER_INTERVAL.exchanges / 2);
      after.commit([batch(2)], T0 + 3000);
      const edge = upstreamEdge(await view(after));
      assert.equal(edge.client?.http2Requests, UPSTREAM_REQUESTS);
      // 50 exchanges from the old interval, 800 requests from the new: over 2 s.
      assert.equal(edge.requestsPerS, (PER_INTERVAL.exchanges + UPSTREAM_REQUESTS) / 2);
    } finally {
      after.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Prometheus: requests beside the exchanges', () => {
  const metrics = new CumulativeMetrics();
  metrics.add(batch(1));
  const text = metrics.exposition();
  const labels =
    '{namespace="shop",pod="pod-a",container="istio-proxy",role="sidecar",side="client"}';
  assert.match(text, /^# TYPE tollgate_requests_total counter$/m);
  assert.ok(text.includes(`tollgate_requests_total${labels} ${UPSTREAM_REQUESTS}\n`), text);
  assert.ok(text.includes(`tollgate_exchanges_total${labels} ${PER_INTERVAL.exchanges}\n`));
});
