// The summary bar's figures: sidecars' CPU and memory against the apps', and the added
// latency per request along the busiest path between pods.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { meshSummary, pathThrough } from '../../web/src/model/mesh-summary.js';
import { ambientTopology, edgeOf, shareOf, shopTopology } from './topology-fixture.js';

const resources = (millicores: number, rssMb: number) => ({
  cpuMsPer1kRequests: null,
  millicores,
  rssMb,
  rssMbMax: rssMb,
});

/** A pod `name` in namespace shop with one process, a copy of `like` (its role). */
function addPod(
  t: Pick<ReturnType<typeof shopTopology>, 'pods' | 'processes'>,
  name: string,
  id: string,
  like: string,
) {
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

function inputOf(t: Pick<ReturnType<typeof shopTopology>, 'costs' | 'edges' | 'processes'>) {
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
  assert.deepEqual([s.proxiesMeasured, s.proxies], [3, 3]);
});

test('proxies without a figure are counted apart, not summed as 0', () => {
  const t = shopTopology();
  // The first pod's sidecar has no figure (known from the cluster's signs only).
  t.costs = t.costs.map((c, i) => ({
    ...c,
    sidecar: i === 0 ? null : resources(10 * (i + 1), 20),
    app: resources(100, 50 + i),
  }));
  const s = meshSummary({ ...inputOf(t), edges: [] });
  assert.deepEqual([s.proxiesMeasured, s.proxies, s.sidecarMillicores], [2, 3, 50]);
  t.costs = t.costs.map((c) => ({ ...c, sidecar: null }));
  const none = meshSummary({ ...inputOf(t), edges: [] });
  assert.deepEqual([none.proxiesMeasured, none.proxies, none.sidecarMillicores], [0, 3, 0]);
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
          proxyShare: shareOf(null, 0.25, 'bytes', ['z']),
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

test('the busiest path never starts at or goes through a node proxy or a waypoint', () => {
  const t = ambientTopology(3, 1);
  // Before: front -> ztunnel (front's one call) -> svc-2.
  const s = meshSummary(inputOf(t));
  assert.deepEqual(s.path?.pods, ['pod:shop/front', 'pod:shop/svc-2']);
  // front's outbound and svc-2's inbound, each 0.05 and 0.1 ms (costOf's means).
  assert.equal(s.path?.crossings, 2);
  assert.ok(Math.abs(s.path!.addedMeanMs - (0.05 + 0.1)) < 1e-9);
  assert.equal(s.path?.nodeProxy, true);
  // As the lab's ambient viewer test has it: a peer outside the pods calls the node
  // proxy, which calls one pod. The node proxy's pod no other pod calls was the path's
  // start; its one caller is no pod, so there is no path between app pods at all.
  const lab = ambientTopology(1);
  lab.externals.push({ id: 'ext:10.2.0.1', address: '10.2.0.1', port: 0, name: null, kind: null });
  lab.edges = [edgeOf('ext:10.2.0.1', 'z', 15008, 6, 1), edgeOf('z', 'p:svc-0', 9080, 6, 1)];
  assert.equal(meshSummary(inputOf(lab)).path, null);
  const i = inputOf(t);
  const costs = new Map(t.costs.map((c) => [c.pod, c]));
  assert.deepEqual(pathThrough('pod:mesh/ztunnel', i.edges, i.processes, costs), [
    'pod:mesh/ztunnel',
  ]);
  assert.deepEqual(pathThrough('pod:shop/svc-1', i.edges, i.processes, costs), [
    'pod:shop/front',
    'pod:shop/svc-1',
  ]);
});

test("sidecar, ambient and ambient+waypoint pods count apart; a shared proxy's own pod costs nothing", () => {
  const t = ambientTopology(4, 2);
  // A sidecar pod besides; the shared proxies' pods as if their whole cost were theirs.
  addPod(t, 'legacy', 's:legacy', 'p:front');
  t.costs.push({
    ...t.costs[0]!,
    pod: 'pod:shop/legacy',
    mode: 'sidecar',
    proxy: 'envoy',
    proxyShare: null,
    sidecar: resources(7, 11),
  });
  for (const c of t.costs)
    if (c.mode === 'node-proxy' || c.mode === 'waypoint') c.sidecar = resources(1000, 1000);
  const s = meshSummary(inputOf(t));
  assert.deepEqual([s.sidecars, s.ambientPods, s.waypointPods], [1, 3, 2]);
  // The sidecar's 7 millicores and 11 MB, and the two waypoint parts of 4 and 5 each
  // (ambientTopology's); the node proxy's shares carry no resources there.
  assert.equal(s.sidecarMillicores, 7 + 2 * 4);
  assert.equal(s.sidecarRssMb, 11 + 2 * 5);
});
