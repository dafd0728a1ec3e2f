// Where one request's time goes along web -> api -> db, from chosen means at every
// socket and sidecar: each part recovered, and what they do not explain shown as such.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EndSummary, TopologyEdge } from '../../proto/api.js';
import { waterfall } from '../../web/src/model/waterfall.js';
import { shopTopology } from './topology-fixture.js';

const end = (meanMs: number) =>
  ({
    exchangeLatency: { count: 100, p50Ms: meanMs, p90Ms: meanMs, p99Ms: meanMs, meanMs },
  }) as unknown as EndSummary;

/**
 * The shop mesh with every socket's mean chosen (ms); its sidecars add (costOf) 0.8 out
 * of web, 0.5 into and 0.6 out of api, 0.4 into db.
 */
function timed(overrides: Record<string, [number | null, number | null]> = {}) {
  const t = shopTopology();
  const means: Record<string, [number | null, number | null]> = {
    // [client end, server end]
    'p:web>s:web:15001': [9.8, null], // web's call out: the total
    's:web>s:api:15006': [9.0, 8.6], // 0.4 between the pods
    's:api>p:api:8080': [null, 8.1], // api serves in 8.1
    'p:api>s:api:15001': [5.0, null], // its calls onward take 5.0 each
    's:api>s:db:15006': [4.4, 4.1], // 0.3 between the pods
    's:db>p:db:5432': [null, 3.7], // db serves in 3.7
    ...overrides,
  };
  t.edges = t.edges.map((e): TopologyEdge => {
    const m = means[e.id];
    return m
      ? {
          ...e,
          client: m[0] === null ? null : end(m[0]),
          server: m[1] === null ? null : end(m[1]),
        }
      : e;
  });
  return {
    pods: ['pod:shop/web', 'pod:shop/api', 'pod:data/db'],
    edges: t.edges,
    processes: new Map(t.processes.map((p) => [p.id, p])),
    costs: new Map(t.costs.map((c) => [c.pod, c])),
  };
}

const rounded = (v: number) => Math.round(v * 1000) / 1000;

test('every part of the path recovered from the sockets and the sidecars; nothing unexplained', () => {
  const w = waterfall(timed())!;
  assert.equal(w.totalMs, 9.8);
  // api serves 10 req/s and calls db 5 times a second: half a db call per request, so
  // api's own time is 8.1 - 5.0 / 2 and everything past it counts half.
  assert.deepEqual(
    w.parts.map((p) => [p.kind, p.pod.slice(4), rounded(p.meanMs)]),
    [
      ['sidecar-outbound', 'shop/web', 0.8],
      ['network', 'shop/web', 0.4],
      ['sidecar-inbound', 'shop/api', 0.5],
      ['app', 'shop/api', 5.6],
      ['sidecar-outbound', 'shop/api', 0.3],
      ['network', 'shop/api', 0.15],
      ['sidecar-inbound', 'data/db', 0.2],
      ['app', 'data/db', 1.85],
      ['unexplained', 'shop/web', 0],
    ],
  );
  // Past api, half a db call per request: those parts' means are per request, their
  // quantiles per call.
  assert.deepEqual(
    w.parts.map((p) => p.callsPerRequest),
    [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 1],
  );
  // A sidecar's part carries its own distribution, and so does the last app (what its
  // server end measures); differences of means (the network, an app calling on) do not.
  assert.deepEqual(w.parts[0]!.quantiles, { p50Ms: 0.8, p90Ms: 0.8, p99Ms: 0.8 });
  assert.equal(w.parts[1]!.quantiles, null);
  assert.equal(w.parts[3]!.quantiles, null, "api's own time is a difference");
  assert.deepEqual(w.parts[7]!.quantiles, { p50Ms: 3.7, p90Ms: 3.7, p99Ms: 3.7 });
  // The parts add up to the total.
  assert.equal(rounded(w.parts.reduce((a, p) => a + p.meanMs, 0)), w.totalMs);
});

test('time the sockets see and no part holds is the unexplained part', () => {
  // db's sidecar really takes 0.9 ms more per call than its figure says: the crossing's
  // server end is 0.9 later than db's app and that figure account for, and api's call
  // onward 0.9 longer (api's own time, 8.1 served, is then 5.15). Half a db call per
  // request: 0.45 ms of each request is in no part.
  const w = waterfall(timed({ 's:api>s:db:15006': [5.3, 5.0], 'p:api>s:api:15001': [5.9, null] }))!;
  const part = (kind: string, pod: string) =>
    rounded(w.parts.find((p) => p.kind === kind && p.pod === pod)!.meanMs);
  assert.equal(part('app', 'pod:shop/api'), 5.15);
  assert.equal(part('unexplained', 'pod:shop/web'), 0.45);
});

test("the last app's distribution is its serving edge's, and none when two serve it", () => {
  const input = timed();
  const edges = input.edges.map((e) =>
    e.id === 's:db>p:db:5432'
      ? {
          ...e,
          server: {
            exchangeLatency: { count: 100, p50Ms: 3.1, p90Ms: 5.2, p99Ms: 9.9, meanMs: 3.7 },
          } as unknown as EndSummary,
        }
      : e,
  );
  const last = (w: ReturnType<typeof waterfall>) =>
    w!.parts.find((p) => p.pod === 'pod:data/db' && p.kind === 'app')!;
  assert.deepEqual(last(waterfall({ ...input, edges })).quantiles, {
    p50Ms: 3.1,
    p90Ms: 5.2,
    p99Ms: 9.9,
  });
  // A second timed edge into db's app (another sidecar process): no one distribution.
  const second = {
    ...edges.find((e) => e.id === 's:db>p:db:5432')!,
    id: 's:db>p:db:5433',
    port: 5433,
  };
  assert.equal(last(waterfall({ ...input, edges: [...edges, second] })).quantiles, null);
});

test('a path whose first call is not timed has no waterfall', () => {
  assert.equal(waterfall(timed({ 'p:web>s:web:15001': [null, null] })), null);
  assert.equal(waterfall({ ...timed(), pods: ['pod:shop/web'] }), null);
});

test("calls to a pod off the path stay in the caller's own time, through its sidecar too", () => {
  // api's app calls through its sidecar 10 times a second: 5 to db, on the path, and 5 to
  // a cache pod, off it. Only db's share of the app's call time is taken out of api's
  // own time: it is again 8.1 - 5.0 / 2, and nothing is unexplained.
  const input = timed();
  const edges = input.edges.map((e) =>
    e.id === 'p:api>s:api:15001' ? { ...e, requestsPerS: 10 } : e,
  );
  const processes = new Map(input.processes);
  processes.set('s:cache', { ...processes.get('s:db')!, id: 's:cache', pod: 'pod:shop/cache' });
  edges.push({
    ...edges.find((e) => e.id === 's:api>s:db:15006')!,
    id: 's:api>s:cache:6379',
    target: 's:cache',
    port: 6379,
  });
  const w = waterfall({ ...input, edges, processes })!;
  const part = (kind: string, pod: string) =>
    rounded(w.parts.find((p) => p.kind === kind && p.pod === pod)!.meanMs);
  assert.equal(part('app', 'pod:shop/api'), 5.6);
  assert.equal(part('app', 'pod:data/db'), 1.85);
  assert.equal(part('unexplained', 'pod:shop/web'), 0);
});
