// Calls between app pods: a shared proxy's pod is never a caller or a callee, and a call
// is followed through it only where its edges tell where it goes (one caller, or one
// callee); otherwise no call is made up.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TopologyEdge } from '../../web/src/model/api-types.js';
import { podCalls } from '../../web/src/model/pod-calls.js';
import { ambientTopology } from './topology-fixture.js';

const asObject = (calls: Map<string, Map<string, number>>) =>
  Object.fromEntries([...calls].map(([from, out]) => [from, Object.fromEntries(out)]));

/** Pods a, b, c, d (one process each, named as the pod) and z, the node proxy. */
const processes = new Map<string, { pod: string | null }>([
  ...['a', 'b', 'c', 'd', 'z'].map((p) => [p, { pod: `pod:${p}` }] as const),
  ['ext', { pod: null }],
]);
const edge = (source: string, target: string, requestsPerS: number) =>
  ({ source, target, requestsPerS }) satisfies Pick<
    TopologyEdge,
    'source' | 'target' | 'requestsPerS'
  >;
const shared = new Set(['pod:z']);

test("one caller through the node proxy: every pod it delivers to is that caller's callee", () => {
  const t = ambientTopology(3, 1);
  const calls = podCalls(
    t.edges,
    new Map(t.processes.map((p) => [p.id, p])),
    new Set(['pod:mesh/ztunnel', 'pod:mesh/waypoint']),
  );
  // The node proxy and the waypoint (calling each other) are one; front their one caller.
  assert.deepEqual(asObject(calls), {
    'pod:shop/front': { 'pod:shop/svc-0': 1, 'pod:shop/svc-1': 2, 'pod:shop/svc-2': 3 },
  });
  // Without knowing the proxies, the node proxy's pod is a step, as before.
  const plain = podCalls(t.edges, new Map(t.processes.map((p) => [p.id, p])));
  assert.deepEqual(Object.keys(asObject(plain)).sort(), [
    'pod:mesh/waypoint',
    'pod:mesh/ztunnel',
    'pod:shop/front',
  ]);
});

test('one callee: every caller through the node proxy calls it', () => {
  const calls = podCalls(
    [edge('a', 'z', 4), edge('c', 'z', 1), edge('z', 'b', 5)],
    processes,
    shared,
  );
  assert.deepEqual(asObject(calls), { 'pod:a': { 'pod:b': 4 }, 'pod:c': { 'pod:b': 1 } });
});

test('several callers and callees, or a caller outside any pod: nothing is made up', () => {
  // A chain a -> b -> c, every hop through the node proxy: which delivery continues which
  // call is not in the edges.
  const chain = [edge('a', 'z', 5), edge('z', 'b', 5), edge('b', 'z', 5), edge('z', 'c', 5)];
  assert.deepEqual(asObject(podCalls(chain, processes, shared)), {});
  // One pod calling, but a peer outside the pods too: the deliveries may be the peer's.
  const peer = [edge('a', 'z', 5), edge('ext', 'z', 5), edge('z', 'b', 5), edge('z', 'c', 5)];
  assert.deepEqual(asObject(podCalls(peer, processes, shared)), {});
  // Direct calls between apps stay as they are, beside the proxy's.
  assert.deepEqual(asObject(podCalls([...chain, edge('c', 'd', 2)], processes, shared)), {
    'pod:c': { 'pod:d': 2 },
  });
});
