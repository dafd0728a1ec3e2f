// The summary bar's figures: sidecars' CPU and memory against the apps', and the added
// latency per request along the busiest path between pods.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { meshSummary, pathThrough } from '../../web/src/model/mesh-summary.js';
import { edgeOf, shopTopology } from './topology-fixture.js';

const resources = (millicores: number, rssMb: number) => ({
  cpuMsPer1kRequests: null,
  millicores,
  rssMb,
  rssMbMax: rssMb,
});

/** A pod `name` in namespace shop with one process, a copy of `like` (its role). */
function addPod(t: ReturnType<typeof shopTopology>, name: string, id: string, like: string) {
  const pod = `pod:shop/${name}`;
  t.pods.push({
    id: pod,
    namespace: 'shop',
    name,
    node: 'n1',
    source: 'POD_SOURCE_KUBERNETES',
    labels: {},
    processes: [id],
  });
  t.processes.push({ ...t.processes.find((p) => p.id === like)!, id, pod });
}

function inputOf(t: ReturnType<typeof shopTopology>) {
  return {
    costs: t.costs,
    edges: t.edges,
    processes: new Map(t.processes.map((p) => [p.id, p])),
  };
}

test('the busiest path from the pod no other calls, its sidecar crossings summed by their means', () => {
  const t = shopTopology();
  const s = meshSummary(inputOf(t));
  // web -> api -> db: web's outbound, api's both ways, db's inbound.
  assert.deepEqual(s.path?.pods, ['pod:shop/web', 'pod:shop/api', 'pod:data/db']);
  assert.equal(s.path?.crossings, 4);
  assert.equal(s.path?.crossingsKnown, 4);
  assert.ok(Math.abs(s.path!.addedMeanMs - (0.8 + 0.5 + 0.6 + 0.4)) < 1e-9);
});

test('the path follows the busiest call, and says which crossings have no figure', () => {
  const t = shopTopology();
  // api also calls a cache pod, busier than its calls to db; the cache has no inbound figure.
  addPod(t, 'cache', 's:cache', 's:db');
  t.edges.push(edgeOf('s:api', 's:cache', 6379, 50, 0.3));
  t.costs.push({
    ...t.costs[0]!,
    pod: 'pod:shop/cache',
    name: 'cache',
    inbound: null,
    outbound: null,
  });
  const s = meshSummary(inputOf(t));
  assert.deepEqual(s.path?.pods, ['pod:shop/web', 'pod:shop/api', 'pod:shop/cache']);
  assert.equal(s.path?.crossings, 4);
  assert.equal(s.path?.crossingsKnown, 3);
});

test("sidecars' CPU and memory in all against the apps'; no path without calls between pods", () => {
  const t = shopTopology();
  t.costs = t.costs.map((c, i) => ({
    ...c,
    sidecar: resources(10 * (i + 1), 20),
    app: resources(100, 50 + i),
  }));
  const s = meshSummary({ ...inputOf(t), edges: [] });
  assert.deepEqual(
    [s.sidecars, s.sidecarMillicores, s.sidecarRssMb, s.appMillicores, s.appRssMb],
    [3, 60, 60, 300, 153],
  );
  assert.equal(s.path, null);
});

test('the path goes through meshed pods before busier unmeshed ones', () => {
  const t = shopTopology();
  // web also calls an unmeshed twin of api, busier than api.
  addPod(t, 'plain-api', 'p:plain-api', 'p:api');
  t.edges.push(edgeOf('s:web', 'p:plain-api', 8080, 50, 1));
  assert.deepEqual(meshSummary(inputOf(t)).path?.pods, [
    'pod:shop/web',
    'pod:shop/api',
    'pod:data/db',
  ]);
});

test('the chain through a pod: its busiest callers back to the start, its busiest calls on', () => {
  const t = shopTopology();
  const i = inputOf(t);
  const costs = new Map(t.costs.map((c) => [c.pod, c]));
  const through = (pod: string) => pathThrough(pod, i.edges, i.processes, costs);
  const chain = ['pod:shop/web', 'pod:shop/api', 'pod:data/db'];
  for (const pod of chain) assert.deepEqual(through(pod), chain, pod);
  // A second caller of db, busier than api but unmeshed: api still comes first.
  addPod(t, 'batch', 'p:batch', 'p:api');
  t.edges.push(edgeOf('p:batch', 's:db', 5432, 100, 1));
  assert.deepEqual(pathThrough('pod:data/db', t.edges, inputOf(t).processes, costs), chain);
  // Through the unmeshed caller itself: it starts the chain.
  assert.deepEqual(pathThrough('pod:shop/batch', t.edges, inputOf(t).processes, costs), [
    'pod:shop/batch',
    'pod:data/db',
  ]);
});

test('pods in ambient mode count apart from sidecars, at their share of the node proxy', () => {
  const t = shopTopology();
  const sidecars = t.costs.filter((c) => c.proxy).length;
  const before = meshSummary(inputOf(t));
  t.costs = t.costs.map((c, i) =>
    i === 0
      ? {
          ...c,
          mode: 'ambient',
          proxy: 'ztunnel',
          proxyShare: { method: 'bytes', share: 0.25, byMethod: { onCpu: null, bytes: 0.25 } },
          sidecar: resources(2, 3),
        }
      : c,
  );
  const s = meshSummary(inputOf(t));
  assert.equal(s.sidecars, sidecars - 1);
  assert.equal(s.ambientPods, 1);
  // Its share (2 millicores) counts where its sidecar's did.
  const old = shopTopology().costs[0]!.sidecar?.millicores ?? 0;
  assert.ok(Math.abs(s.sidecarMillicores - (before.sidecarMillicores - old + 2)) < 1e-9);
});
