// What the mesh costs in the view's window, for the summary bar: the proxies' CPU and
// memory in all (sidecars, and the shares of node proxies and waypoints put to the pods
// they serve) against the apps', and the added latency per request along the busiest
// path between app pods. Pure, so it is unit tested in node.
import type { PodCost, TopologyEdge, TopologyProcess } from './api-types.js';
import { podCalls } from './pod-calls.js';
import { sharedProxyRoles } from './shared-proxies.js';

export interface MeshSummary {
  /** Pods with a sidecar. */
  sidecars: number;
  /**
   * Pods whose traffic a node proxy carries (ambient mode), without a waypoint; their
   * share of it is in sidecarMillicores and sidecarRssMb.
   */
  ambientPods: number;
  /** Pods in ambient mode whose inbound traffic a waypoint carries too (its part counts too). */
  waypointPods: number;
  /**
   * Pods with a proxy (sidecar, node proxy, waypoint) whose cost has a figure, of all pods
   * with one: a proxy known only from the cluster's signs, or whose samples were not
   * read, has none, and adds nothing to the sums below (which are then not its cost).
   */
  proxiesMeasured: number;
  proxies: number;
  /** The proxies' CPU and memory: sidecars', and the shared proxies' at the pods' shares. */
  sidecarMillicores: number;
  appMillicores: number;
  sidecarRssMb: number;
  appRssMb: number;
  /**
   * The busiest path between app pods (never a shared proxy's: podCalls), from the pod
   * that takes the most requests from no other pod,
   * following each pod's busiest call to a meshed pod not yet on the path (to any pod
   * when it calls no meshed one). Null without an edge between two pods.
   */
  path: {
    pods: string[];
    /**
     * The sidecars' added latency summed along it, means (means add; quantiles do not):
     * each pod's inbound where the path enters it and outbound where it leaves.
     */
    addedMeanMs: number;
    /** Sidecar crossings on the path with a figure, and all of them. */
    crossingsKnown: number;
    crossings: number;
    /** A node proxy, not a sidecar, carries some of the pods' traffic on the path. */
    nodeProxy: boolean;
  } | null;
}

export function meshSummary(input: {
  costs: Iterable<PodCost>;
  edges: Iterable<TopologyEdge>;
  processes: ReadonlyMap<string, TopologyProcess>;
}): MeshSummary {
  const costs = new Map([...input.costs].map((c) => [c.pod, c]));
  const shared = new Set(sharedProxyRoles(costs.values(), input.processes).keys());
  let sidecars = 0;
  let ambientPods = 0;
  let waypointPods = 0;
  let sidecarMillicores = 0;
  let appMillicores = 0;
  let sidecarRssMb = 0;
  let appRssMb = 0;
  let proxies = 0;
  let proxiesMeasured = 0;
  for (const c of costs.values()) {
    // A shared proxy's own pod: its cost is in the pods it serves, at their shares.
    if (shared.has(c.pod)) continue;
    if (c.proxy) {
      proxies++;
      if (c.sidecar) proxiesMeasured++;
    }
    if (c.proxy && c.mode === 'sidecar') sidecars++;
    if (c.proxy && c.mode === 'ambient') ambientPods++;
    if (c.proxy && c.mode === 'ambient+waypoint') waypointPods++;
    for (const proxy of [c.sidecar, c.waypoint?.cost]) {
      if (!proxy) continue;
      sidecarMillicores += proxy.millicores;
      sidecarRssMb += proxy.rssMb ?? 0;
    }
    if (c.app) {
      appMillicores += c.app.millicores;
      appRssMb += c.app.rssMb ?? 0;
    }
  }
  return {
    sidecars,
    ambientPods,
    waypointPods,
    proxiesMeasured,
    proxies,
    sidecarMillicores,
    appMillicores,
    sidecarRssMb,
    appRssMb,
    path: busiestPath(input.edges, input.processes, costs, shared),
  };
}

/**
 * The busiest pod of `choices` not on `path`: a meshed one first (the path is there to
 * show what the mesh costs; an unmeshed twin of equal rate must not take its place),
 * then by rate, then by id.
 */
export function busiest(
  choices: Iterable<[string, number]>,
  path: readonly string[],
  costs: ReadonlyMap<string, PodCost>,
): string | undefined {
  const meshed = (pod: string) => Number(costs.get(pod)?.proxy != null);
  return [...choices]
    .filter(([pod]) => !path.includes(pod))
    .sort((a, b) => meshed(b[0]) - meshed(a[0]) || b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0];
}

/**
 * The busiest chain through a pod: its busiest callers back to a pod no other calls,
 * then its busiest calls onward, each step as `busiest` chooses.
 */
export function pathThrough(
  pod: string,
  edges: Iterable<TopologyEdge>,
  processes: ReadonlyMap<string, TopologyProcess>,
  costs: ReadonlyMap<string, PodCost>,
): string[] {
  const calls = podCalls(
    edges,
    processes,
    new Set(sharedProxyRoles(costs.values(), processes).keys()),
  );
  const callers = (to: string) =>
    [...calls.entries()].flatMap(([from, out]) =>
      out.has(to) ? [[from, out.get(to)!] as [string, number]] : [],
    );
  const path = [pod];
  for (let caller = busiest(callers(pod), path, costs); caller; ) {
    path.unshift(caller);
    caller = busiest(callers(caller), path, costs);
  }
  return onward(path, calls, costs);
}

/** The path extended from its last pod by its busiest calls onward, each step as `busiest` chooses. */
export function onward(
  path: readonly string[],
  calls: ReadonlyMap<string, ReadonlyMap<string, number>>,
  costs: ReadonlyMap<string, PodCost>,
): string[] {
  const out = [...path];
  for (let next = busiest(calls.get(out[out.length - 1]!) ?? [], out, costs); next; ) {
    out.push(next);
    next = busiest(calls.get(next) ?? [], out, costs);
  }
  return out;
}

function busiestPath(
  edges: Iterable<TopologyEdge>,
  processes: ReadonlyMap<string, TopologyProcess>,
  costs: ReadonlyMap<string, PodCost>,
  shared: ReadonlySet<string>,
): MeshSummary['path'] {
  const calls = podCalls(edges, processes, shared);
  const called = new Set([...calls.values()].flatMap((out) => [...out.keys()]));
  const total = (pod: string) => [...(calls.get(pod)?.values() ?? [])].reduce((a, b) => a + b, 0);
  const roots = [...calls.keys()].filter((p) => !called.has(p));
  // Every pod is called by another (a cycle): start at the busiest caller.
  const candidates = roots.length > 0 ? roots : [...calls.keys()];
  if (candidates.length === 0) return null;
  const start = candidates.sort((a, b) => total(b) - total(a) || a.localeCompare(b))[0]!;
  const pods = [start];
  for (let next = busiest(calls.get(start) ?? [], pods, costs); next; ) {
    pods.push(next);
    next = busiest(calls.get(next) ?? [], pods, costs);
  }
  let addedMeanMs = 0;
  let crossings = 0;
  let crossingsKnown = 0;
  let nodeProxy = false;
  pods.forEach((pod, i) => {
    const cost = costs.get(pod);
    if (!cost?.proxy) return;
    if (cost.mode !== 'sidecar') nodeProxy = true;
    // Inbound where the path enters the pod, outbound where it leaves it.
    const crossed = [i > 0 && cost.inbound, i < pods.length - 1 && cost.outbound];
    for (const d of crossed) {
      if (d === false) continue;
      crossings++;
      const mean = d?.addedLatency.meanMs;
      if (typeof mean === 'number') {
        crossingsKnown++;
        addedMeanMs += mean;
      }
    }
  });
  return { pods, addedMeanMs, crossingsKnown, crossings, nodeProxy };
}
