// How a pod's panel names the proxy carrying its traffic, in each mesh mode.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PodCost } from '../../web/src/model/api-types.js';
import {
  modeNote,
  proxyCostLabel,
  proxyHeading,
  shareRows,
  waypointCostLabel,
} from '../../web/src/model/mesh-mode.js';
import { costOf, shareOf } from './topology-fixture.js';

const cost = (change: Partial<PodCost>): PodCost => ({
  ...costOf('pod:shop/web', 1, 1),
  ...change,
});

test("a sidecar, a node proxy at its share, a node proxy's own pod and no proxy, each said", () => {
  const sidecar = cost({ mode: 'sidecar', proxy: 'envoy' });
  assert.equal(proxyHeading(sidecar), 'Sidecar (envoy) added latency');
  assert.equal(proxyCostLabel(sidecar), 'sidecar');

  const ambient = cost({
    mode: 'ambient',
    proxy: 'ztunnel',
    proxyShare: shareOf(null, 0.425, 'bytes', ['z']),
  });
  assert.equal(proxyHeading(ambient), 'Node proxy (ztunnel, outside the pod) added latency');
  assert.equal(proxyCostLabel(ambient), 'node proxy, 42.5% (by bytes)');
  assert.equal(
    proxyCostLabel({
      ...ambient,
      proxyShare: shareOf(null, null, 'bytes', ['z']),
    }),
    'node proxy, – (by bytes)',
  );

  const host = cost({ mode: 'node-proxy', proxy: 'ztunnel' });
  assert.equal(proxyHeading(host), null);
  assert.equal(
    modeNote(host),
    'a node proxy (ztunnel) runs in this pod: its added latency and cost count in the pods it serves',
  );
  assert.equal(
    modeNote(cost({ mode: 'none', proxy: null })),
    'no sidecar or node proxy seen for this pod',
  );
  assert.equal(modeNote(undefined), 'no sidecar or node proxy seen for this pod');
});

test('ambient with a waypoint reads as ambient, plus the waypoint; shares by each method', () => {
  const pod = cost({
    mode: 'ambient+waypoint',
    proxy: 'ztunnel',
    proxyShare: shareOf(0.42, 0.3, 'on-cpu'),
    waypoint: {
      process: 'w',
      proxy: 'haproxy',
      share: shareOf(null, 0.25, 'bytes'),
      cost: null,
      inbound: null,
    },
  });
  assert.equal(proxyHeading(pod), 'Node proxy (ztunnel, outside the pod) added latency');
  assert.equal(proxyCostLabel(pod), 'node proxy, 42% (by on-cpu)');
  assert.equal(waypointCostLabel(pod), 'waypoint, 25% (by bytes)');
  assert.deepEqual(shareRows(pod.proxyShare!), [
    ['on-cpu', '42%', 'used for the cost'],
    ['bytes', '30%', ''],
  ]);
  assert.deepEqual(shareRows(pod.waypoint!.share), [
    ['on-cpu', 'not measured', ''],
    ['bytes', '25%', 'used for the cost'],
  ]);
  assert.equal(
    modeNote(cost({ mode: 'waypoint', proxy: 'haproxy' })),
    'a waypoint (haproxy) runs in this pod: its cost counts in the pods whose inbound traffic it carries',
  );
  // A waypoint the collector still calls a sidecar, known by the pods naming it.
  assert.equal(
    modeNote(cost({ mode: 'sidecar', proxy: 'haproxy' }), 'waypoint'),
    'a waypoint (haproxy) runs in this pod: its cost counts in the pods whose inbound traffic it carries',
  );
});
