// A pod's mesh mode from what was observed and what the cluster says (pod-mode.ts), every
// rule and every disagreement, each answer worked out by hand from the rules in the
// module's header; and podCosts saying the mode of a pod it saw no proxy traffic of from
// the signs its topology pod carries.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ObservedMesh, podMode } from '../../collector/model/pod-mode.js';
import { podCosts } from '../../collector/model/sidecar-cost.js';
import type { MeshSigns } from '../../proto/api.js';

const nothing: ObservedMesh = {
  sidecar: null,
  nodeProxy: null,
  waypoint: null,
  isNodeProxyPod: false,
  isWaypointPod: false,
};
const seen = (o: Partial<ObservedMesh>): ObservedMesh => ({ ...nothing, ...o });
const signs = (s: Partial<MeshSigns>): MeshSigns => ({
  namespaceLabels: {},
  labels: {},
  owner: null,
  sidecarContainers: [],
  ...s,
});
const ambientNs = { 'istio.io/dataplane-mode': 'ambient' };
const NS_AMBIENT = 'namespace label istio.io/dataplane-mode=ambient';
const ZTUNNEL = "node proxy ztunnel holds sockets in the pod's namespace";

test('without signs the observation alone decides, in the words podCosts used before signs', () => {
  assert.deepEqual(podMode(nothing), { mode: 'none', modeSigns: [] });
  assert.deepEqual(podMode(seen({ sidecar: 'envoy' })), {
    mode: 'sidecar',
    modeSigns: ['sidecar envoy in the pod'],
  });
  assert.deepEqual(podMode(seen({ nodeProxy: 'ztunnel' })), {
    mode: 'ambient',
    modeSigns: [ZTUNNEL],
  });
  assert.deepEqual(podMode(seen({ isNodeProxyPod: true })), {
    mode: 'node-proxy',
    modeSigns: ["a process of the pod holds sockets in other pods' namespaces"],
  });
  assert.deepEqual(podMode(seen({ isWaypointPod: true })), {
    mode: 'waypoint',
    modeSigns: ["the pod carries other pods' inbound between node proxies"],
  });
  // Both a sidecar and a node proxy: the sidecar carries it; the node proxy is said.
  assert.deepEqual(podMode(seen({ sidecar: 'envoy', nodeProxy: 'ztunnel' })), {
    mode: 'sidecar',
    modeSigns: ['sidecar envoy in the pod', `${ZTUNNEL}, but a sidecar envoy runs in the pod`],
  });
  // The lead's observed waypoint: with a node proxy, alone, and beside a sidecar.
  assert.deepEqual(podMode(seen({ nodeProxy: 'ztunnel', waypoint: 'envoy' })), {
    mode: 'ambient+waypoint',
    modeSigns: [ZTUNNEL, "waypoint envoy carries the pod's inbound"],
  });
  assert.deepEqual(podMode(seen({ waypoint: 'envoy' })), {
    mode: 'ambient+waypoint',
    modeSigns: ["waypoint envoy carries the pod's inbound"],
  });
  assert.deepEqual(podMode(seen({ sidecar: 'envoy', waypoint: 'wp' })), {
    mode: 'sidecar',
    modeSigns: ['sidecar envoy in the pod', "waypoint wp carries the pod's inbound"],
  });
});

test('nothing observed: the signs decide (ambient, its waypoint, opting out, sidecar containers)', () => {
  const mode = (s: Partial<MeshSigns>) => podMode(nothing, signs(s));
  assert.deepEqual(mode({}), { mode: 'none', modeSigns: [] });
  assert.deepEqual(mode({ namespaceLabels: ambientNs }), {
    mode: 'ambient',
    modeSigns: [NS_AMBIENT],
  });
  assert.deepEqual(mode({ labels: { 'istio.io/dataplane-mode': 'ambient' } }), {
    mode: 'ambient',
    modeSigns: ['pod label istio.io/dataplane-mode=ambient'],
  });
  assert.deepEqual(
    mode({ namespaceLabels: { ...ambientNs, 'istio.io/use-waypoint': 'waypoint' } }),
    {
      mode: 'ambient+waypoint',
      modeSigns: [NS_AMBIENT, 'namespace label istio.io/use-waypoint=waypoint'],
    },
  );
  // The pod's label wins over its namespace's: another waypoint, or none.
  assert.deepEqual(
    mode({
      namespaceLabels: { ...ambientNs, 'istio.io/use-waypoint': 'shared' },
      labels: { 'istio.io/use-waypoint': 'reviews-wp' },
    }),
    {
      mode: 'ambient+waypoint',
      modeSigns: [NS_AMBIENT, 'pod label istio.io/use-waypoint=reviews-wp'],
    },
  );
  // Istio's opt-out: the pod's `none` keeps it off its namespace's waypoint, and says so.
  assert.deepEqual(
    mode({
      namespaceLabels: { ...ambientNs, 'istio.io/use-waypoint': 'shared' },
      labels: { 'istio.io/use-waypoint': 'none' },
    }),
    {
      mode: 'ambient',
      modeSigns: [
        NS_AMBIENT,
        'pod label istio.io/use-waypoint=none opts it out of namespace label istio.io/use-waypoint=shared',
      ],
    },
  );
  // The pod enrolled by its own label, its waypoint its namespace's.
  assert.deepEqual(
    mode({
      namespaceLabels: { 'istio.io/use-waypoint': 'shared' },
      labels: { 'istio.io/dataplane-mode': 'ambient' },
    }),
    {
      mode: 'ambient+waypoint',
      modeSigns: [
        'pod label istio.io/dataplane-mode=ambient',
        'namespace label istio.io/use-waypoint=shared',
      ],
    },
  );
  // A waypoint named without ambient enrolment says nothing of the mode.
  assert.deepEqual(mode({ namespaceLabels: { 'istio.io/use-waypoint': 'shared' } }), {
    mode: 'none',
    modeSigns: [],
  });
  // Opting out.
  assert.deepEqual(
    mode({ namespaceLabels: ambientNs, labels: { 'istio.io/dataplane-mode': 'none' } }),
    {
      mode: 'none',
      modeSigns: [
        'pod label istio.io/dataplane-mode=none opts it out of namespace label istio.io/dataplane-mode=ambient',
      ],
    },
  );
  assert.deepEqual(mode({ namespaceLabels: { 'istio.io/dataplane-mode': 'none' } }), {
    mode: 'none',
    modeSigns: ['namespace label istio.io/dataplane-mode=none'],
  });
  // Sidecar containers, Istio's and Linkerd's; one in an ambient namespace wins, and says so.
  assert.deepEqual(mode({ sidecarContainers: ['linkerd-proxy'] }), {
    mode: 'sidecar',
    modeSigns: ['container linkerd-proxy in the pod'],
  });
  assert.deepEqual(mode({ namespaceLabels: ambientNs, sidecarContainers: ['istio-proxy'] }), {
    mode: 'sidecar',
    modeSigns: [
      'container istio-proxy in the pod',
      `${NS_AMBIENT}, but the pod has a sidecar container istio-proxy`,
    ],
  });
});

test('observation wins where there is one; signs that say otherwise are listed as disagreements', () => {
  // The example: a sidecar runs in a pod of an ambient namespace.
  assert.deepEqual(
    podMode(
      seen({ sidecar: 'envoy' }),
      signs({ namespaceLabels: ambientNs, sidecarContainers: ['istio-proxy'] }),
    ),
    {
      mode: 'sidecar',
      modeSigns: [
        'sidecar envoy in the pod',
        'container istio-proxy in the pod',
        `${NS_AMBIENT}, but a sidecar envoy runs in the pod`,
      ],
    },
  );
  // A node proxy serves a pod that opted out, or whose spec has a sidecar container.
  assert.deepEqual(
    podMode(
      seen({ nodeProxy: 'ztunnel' }),
      signs({ namespaceLabels: ambientNs, labels: { 'istio.io/dataplane-mode': 'none' } }),
    ),
    {
      mode: 'ambient',
      modeSigns: [
        ZTUNNEL,
        `pod label istio.io/dataplane-mode=none opts it out of namespace label istio.io/dataplane-mode=ambient, but ${ZTUNNEL}`,
      ],
    },
  );
  assert.deepEqual(
    podMode(seen({ nodeProxy: 'ztunnel' }), signs({ sidecarContainers: ['istio-proxy'] })),
    { mode: 'ambient', modeSigns: [ZTUNNEL, `container istio-proxy in the pod, but ${ZTUNNEL}`] },
  );
  // Ambient seen, the waypoint named by a label before any inbound went through it.
  assert.deepEqual(
    podMode(
      seen({ nodeProxy: 'ztunnel' }),
      signs({ namespaceLabels: { ...ambientNs, 'istio.io/use-waypoint': 'waypoint' } }),
    ),
    {
      mode: 'ambient+waypoint',
      modeSigns: [ZTUNNEL, NS_AMBIENT, 'namespace label istio.io/use-waypoint=waypoint'],
    },
  );
  // The same pod opted out of its namespace's waypoint: ambient alone, and why.
  assert.deepEqual(
    podMode(
      seen({ nodeProxy: 'ztunnel' }),
      signs({
        namespaceLabels: { ...ambientNs, 'istio.io/use-waypoint': 'waypoint' },
        labels: { 'istio.io/use-waypoint': 'none' },
      }),
    ),
    {
      mode: 'ambient',
      modeSigns: [
        ZTUNNEL,
        NS_AMBIENT,
        'pod label istio.io/use-waypoint=none opts it out of namespace label istio.io/use-waypoint=waypoint',
      ],
    },
  );
  // A waypoint seen carrying the inbound of a pod whose label says it uses none.
  assert.deepEqual(
    podMode(
      seen({ nodeProxy: 'ztunnel', waypoint: 'envoy' }),
      signs({ namespaceLabels: ambientNs, labels: { 'istio.io/use-waypoint': 'none' } }),
    ),
    {
      mode: 'ambient+waypoint',
      modeSigns: [
        ZTUNNEL,
        "waypoint envoy carries the pod's inbound",
        NS_AMBIENT,
        "pod label istio.io/use-waypoint=none, but waypoint envoy carries the pod's inbound",
      ],
    },
  );
});

test("what the pod is comes first: ztunnel's DaemonSet's pods and waypoints, by observation or sign", () => {
  const ztunnel = signs({ owner: { kind: 'DaemonSet', name: 'ztunnel' } });
  assert.deepEqual(podMode(nothing, ztunnel), {
    mode: 'node-proxy',
    modeSigns: ['pod of DaemonSet ztunnel'],
  });
  assert.deepEqual(
    podMode(
      nothing,
      signs({ owner: { kind: 'DaemonSet', name: 'ambient-node' }, labels: { app: 'ztunnel' } }),
    ),
    { mode: 'node-proxy', modeSigns: ['pod of DaemonSet ambient-node, label app=ztunnel'] },
  );
  // Neither a DaemonSet nor ztunnel's: no node proxy.
  assert.equal(
    podMode(nothing, signs({ owner: { kind: 'ReplicaSet', name: 'ztunnel' } })).mode,
    'none',
  );
  assert.equal(
    podMode(nothing, signs({ owner: { kind: 'DaemonSet', name: 'fluentd' } })).mode,
    'none',
  );
  // Its proxy alone in its pod (in a mesh-named container) is no sidecar of its own.
  assert.deepEqual(podMode(seen({ sidecar: 'ztunnel' }), ztunnel), {
    mode: 'node-proxy',
    modeSigns: ['pod of DaemonSet ztunnel'],
  });
  assert.deepEqual(podMode(seen({ isNodeProxyPod: true }), ztunnel), {
    mode: 'node-proxy',
    modeSigns: [
      "a process of the pod holds sockets in other pods' namespaces",
      'pod of DaemonSet ztunnel',
    ],
  });

  // A waypoint as istiod deploys it: the label, opted out of capture, its proxy in a
  // container named istio-proxy; enrolment labels of its namespace are no concern of it.
  const waypoint = signs({
    namespaceLabels: { ...ambientNs, 'istio.io/use-waypoint': 'waypoint' },
    labels: {
      'gateway.istio.io/managed': 'istio.io-mesh-controller',
      'istio.io/dataplane-mode': 'none',
    },
    sidecarContainers: ['istio-proxy'],
  });
  const WAYPOINT = 'pod label gateway.istio.io/managed=istio.io-mesh-controller';
  assert.deepEqual(podMode(nothing, waypoint), { mode: 'waypoint', modeSigns: [WAYPOINT] });
  assert.deepEqual(podMode(seen({ sidecar: 'envoy' }), waypoint), {
    mode: 'waypoint',
    modeSigns: [WAYPOINT],
  });
  assert.equal(
    podMode(nothing, signs({ labels: { 'gateway.istio.io/managed': 'other' } })).mode,
    'none',
  );
  // Observation against a sign of the other kind of proxy pod.
  assert.deepEqual(podMode(seen({ isNodeProxyPod: true }), waypoint), {
    mode: 'node-proxy',
    modeSigns: [
      "a process of the pod holds sockets in other pods' namespaces",
      `${WAYPOINT}, but a process of the pod holds sockets in other pods' namespaces`,
    ],
  });
});

test('podCosts: a pod with no proxy traffic seen says the mode its signs give, and why', () => {
  const pod = (name: string, mesh?: MeshSigns) => ({
    id: `pod:shop/${name}`,
    namespace: 'shop',
    name,
    node: 'n1',
    source: 'POD_SOURCE_KUBERNETES',
    labels: {},
    processes: [`p:${name}`],
    ...(mesh ? { mesh } : {}),
  });
  const costs = podCosts({
    fromMs: 0,
    toMs: 10_000,
    pods: [
      pod('web', signs({ namespaceLabels: ambientNs })),
      pod('legacy', signs({ sidecarContainers: ['linkerd-proxy'] })),
      pod('plain'),
    ],
    processes: ['web', 'legacy', 'plain'].map((name) => ({
      id: `p:${name}`,
      pod: `pod:shop/${name}`,
      node: 'n1',
      pid: 1,
      comm: 'python3',
      exe: '/usr/bin/python3',
      cmdline: [],
      container: 'app',
      role: 'app' as const,
    })),
    ends: [],
    hops: [],
    resources: new Map(),
  });
  assert.deepEqual(
    costs.map((c) => [c.name, c.mode, c.modeSigns]),
    [
      ['web', 'ambient', [NS_AMBIENT]],
      ['legacy', 'sidecar', ['container linkerd-proxy in the pod']],
      ['plain', 'none', []],
    ],
  );
});
