// A waterfall's path chosen by hand: each step offers what the pod before it calls,
// busiest first; a choice keeps the steps before it and goes on by the busiest calls; a
// step can end the path, never below two pods.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { choosePathStep, pathOptions } from '../../web/src/model/path-choice.js';
import { ambientTopology, edgeOf, shopTopology } from './topology-fixture.js';

/** web -> api -> db, and api also calls a cache (3 req/s, fewer than db's 5) which calls db. */
function shop() {
  const t = shopTopology();
  t.processes.push({
    ...t.processes.find((p) => p.id === 's:db')!,
    id: 's:cache',
    pod: 'pod:shop/cache',
  });
  t.edges.push(edgeOf('s:api', 's:cache', 6379, 3, 0.3), edgeOf('s:cache', 's:db', 15006, 1, 0.2));
  return {
    edges: t.edges,
    processes: new Map(t.processes.map((p) => [p.id, p])),
    costs: new Map(t.costs.map((c) => [c.pod, c])),
  };
}

const pods = (options: { pod: string; requestsPerS: number }[]) =>
  options.map((o) => [o.pod.slice(4), o.requestsPerS]);

test('each step offers what the pod before it calls, busiest first, none already on the path', () => {
  const { edges, processes, costs } = shop();
  const steps = pathOptions(
    ['pod:shop/web', 'pod:shop/api', 'pod:data/db'],
    edges,
    processes,
    costs,
  );
  assert.equal(steps.length, 4, 'one list per pod and one after the last');
  // The first step: every pod that calls another, by its calls out. web calls api 10
  // times a second; api calls db 5 and the cache 3; the cache calls db once.
  assert.deepEqual(pods(steps[0]!), [
    ['shop/web', 10],
    ['shop/api', 8],
    ['shop/cache', 1],
  ]);
  assert.deepEqual(pods(steps[1]!), [['shop/api', 10]]);
  assert.deepEqual(pods(steps[2]!), [
    ['data/db', 5],
    ['shop/cache', 3],
  ]);
  assert.deepEqual(steps[3], [], 'db calls no pod');
});

test('a choice keeps the steps before it and goes on by the busiest calls from there', () => {
  const { edges, processes, costs } = shop();
  const path = ['pod:shop/web', 'pod:shop/api', 'pod:data/db'];
  // Through the cache instead of straight to db: the cache's busiest call (db) follows.
  assert.deepEqual(choosePathStep(path, 2, 'pod:shop/cache', edges, processes, costs), [
    'pod:shop/web',
    'pod:shop/api',
    'pod:shop/cache',
    'pod:data/db',
  ]);
  // Ending the path at the cache's step; never shorter than two pods.
  const viaCache = ['pod:shop/web', 'pod:shop/api', 'pod:shop/cache', 'pod:data/db'];
  assert.deepEqual(
    choosePathStep(viaCache, 3, null, edges, processes, costs),
    viaCache.slice(0, 3),
  );
  assert.deepEqual(
    choosePathStep(viaCache, 1, null, edges, processes, costs),
    viaCache.slice(0, 2),
  );
  // Starting elsewhere: from api on.
  assert.deepEqual(choosePathStep(path, 0, 'pod:shop/api', edges, processes, costs), [
    'pod:shop/api',
    'pod:data/db',
  ]);
});

test('a shared proxy is never a step: the path goes from app to app through it', () => {
  const t = ambientTopology(3, 1);
  const processes = new Map(t.processes.map((p) => [p.id, p]));
  const costs = new Map(t.costs.map((c) => [c.pod, c]));
  const steps = pathOptions(['pod:shop/front', 'pod:shop/svc-2'], t.edges, processes, costs);
  // front alone calls another app pod (through the node proxy); the node proxy and the
  // waypoint, which call pods too, are not offered.
  assert.deepEqual(pods(steps[0]!), [['shop/front', 6]]);
  assert.deepEqual(pods(steps[1]!), [
    ['shop/svc-2', 3],
    ['shop/svc-1', 2],
    ['shop/svc-0', 1],
  ]);
  assert.deepEqual(steps[2], [], 'svc-2 calls no pod');
  assert.deepEqual(
    choosePathStep(
      ['pod:shop/front', 'pod:shop/svc-2'],
      1,
      'pod:shop/svc-0',
      t.edges,
      processes,
      costs,
    ),
    ['pod:shop/front', 'pod:shop/svc-0'],
  );
});
