// The mesh's shared proxies: which pods are a node proxy's or a waypoint's, and which
// pods each serves at what share. A node proxy is found by the processes the served
// pod's share is of, and only where they are all of one pod; a waypoint by the process
// the cost names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PodCost } from '../../web/src/model/api-types.js';
import { sharedProxies, shareText } from '../../web/src/model/shared-proxies.js';
import { ambientTopology, costOf, processOf, shareOf } from './topology-fixture.js';

const inputOf = (t: ReturnType<typeof ambientTopology>) => ({
  pods: new Map(t.pods.map((p) => [p.id, p])),
  processes: new Map(t.processes.map((p) => [p.id, p])),
  costs: new Map(t.costs.map((c) => [c.pod, c])),
});

test('a node proxy serves the ambient pods of its node; a waypoint the pods naming its process', () => {
  const sp = sharedProxies(inputOf(ambientTopology(3, 1)));
  assert.deepEqual(Object.fromEntries(sp.roles), {
    'pod:mesh/ztunnel': 'node-proxy',
    'pod:mesh/waypoint': 'waypoint',
  });
  assert.deepEqual(
    sp.served.map((s) => [s.kind, s.proxyPod, s.pod, s.share.share]),
    [
      // front: half of it; svc-i: (i + 1) / (2 x 6) on-cpu.
      ['node-proxy', 'pod:mesh/ztunnel', 'pod:shop/front', 0.5],
      ['node-proxy', 'pod:mesh/ztunnel', 'pod:shop/svc-0', 1 / 12],
      ['node-proxy', 'pod:mesh/ztunnel', 'pod:shop/svc-1', 2 / 12],
      ['node-proxy', 'pod:mesh/ztunnel', 'pod:shop/svc-2', 3 / 12],
      // svc-0 alone takes its inbound through the waypoint: all of it, by bytes.
      ['waypoint', 'pod:mesh/waypoint', 'pod:shop/svc-0', 1],
    ],
  );
});

test('a node proxy link goes to the pod of the process its share is of, two ztunnels on a node or not', () => {
  const t = ambientTopology(2);
  // A second ztunnel, process z2, on node n1 too: by executable and node the two fit
  // alike; the share's process tells them apart.
  t.pods.push({
    ...t.pods.find((p) => p.id === 'pod:mesh/ztunnel')!,
    id: 'pod:mesh/ztunnel-2',
    name: 'ztunnel-2',
    processes: ['z2'],
  });
  t.processes.push(processOf('z2', 'pod:mesh/ztunnel-2', 'sidecar', 'ztunnel'));
  t.costs.push({
    ...costOf('pod:mesh/ztunnel-2', null, null),
    mode: 'node-proxy',
    proxy: 'ztunnel',
  });
  const cost = (pod: string) => t.costs.find((c) => c.pod === pod)!;
  cost('pod:shop/svc-1').proxyShare!.processes = ['z2'];
  const links = () =>
    sharedProxies(inputOf(t)).served.map((s) => [s.proxyPod, s.pod, s.share.share]);
  assert.deepEqual(links(), [
    ['pod:mesh/ztunnel', 'pod:shop/front', 0.5],
    ['pod:mesh/ztunnel', 'pod:shop/svc-0', 1 / 6],
    ['pod:mesh/ztunnel-2', 'pod:shop/svc-1', 2 / 6],
  ]);
  assert.equal(sharedProxies(inputOf(t)).roles.get('pod:mesh/ztunnel-2'), 'node-proxy');
  // svc-0's share of both together (ztunnel replaced within the range): no one pod's share
  // is known, so no link.
  cost('pod:shop/svc-0').proxyShare!.processes = ['z', 'z2'];
  assert.deepEqual(links(), [
    ['pod:mesh/ztunnel', 'pod:shop/front', 0.5],
    ['pod:mesh/ztunnel-2', 'pod:shop/svc-1', 2 / 6],
  ]);
  // Two processes of one pod (its ztunnel restarted in place): that pod's.
  t.pods.find((p) => p.id === 'pod:mesh/ztunnel')!.processes.push('z0');
  t.processes.push(processOf('z0', 'pod:mesh/ztunnel', 'sidecar', 'ztunnel'));
  cost('pod:shop/svc-0').proxyShare!.processes = ['z', 'z0'];
  assert.deepEqual(links(), [
    ['pod:mesh/ztunnel', 'pod:shop/front', 0.5],
    ['pod:mesh/ztunnel', 'pod:shop/svc-0', 1 / 6],
    ['pod:mesh/ztunnel-2', 'pod:shop/svc-1', 2 / 6],
  ]);
});

test("a waypoint's pod is one even where its own cost does not say so yet", () => {
  const t = ambientTopology(2, 1);
  const c = t.costs.find((x) => x.pod === 'pod:mesh/waypoint')!;
  // As the collector reports a lone proxy in its pod today: a sidecar.
  Object.assign(c, { mode: 'sidecar' } satisfies Partial<PodCost>);
  assert.equal(sharedProxies(inputOf(t)).roles.get('pod:mesh/waypoint'), 'waypoint');
});

test('a share says its figure and its method', () => {
  assert.equal(shareText(shareOf(0.42, 0.3, 'on-cpu')), '42% by on-cpu');
  assert.equal(shareText(shareOf(null, 0.125, 'bytes')), '12.5% by bytes');
  assert.equal(shareText(shareOf(null, null, 'bytes')), 'share – (by bytes)');
});
