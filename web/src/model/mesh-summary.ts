// What the mesh costs in the view's window, for the summary bar: the sidecars' CPU and
// memory in all against the apps', and the added latency per request along the busiest
// path between pods. Pure, so it is unit tested in node.
import type { PodCost, TopologyEdge, TopologyProcess } from './api-types.js';

export interface MeshSummary {
  /** Pods with a sidecar. */
  sidecars: number;
  /** Pods whose traffic a node proxy carries (ambient mode); their share of it is in sidecarMillicores and sidecarRssMb. */
  ambientPods: number;
  sidecarMillicores: number;
  appMillicores: number;
  sidecarRssMb: number;
  appRssMb: number;
  /**
   * The busiest path: from the pod that takes the most requests from no other pod,
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
  } | null;
}

export function meshSummary(input: {
  costs: Iterable<PodCost>;
  edges: Iterable<TopologyEdge>;
  processes: ReadonlyMap<string, TopologyProcess>;
}): MeshSummary {
  const costs = new Map([...input.costs].map((c) => [c.pod, c]));
  let sidecars = 0;
  let ambientPods = 0;
  let sidecarMillicores = 0;
  let appMillicores = 0;
  let sidecarRssMb = 0;
  let appRssMb = 0;
  for (const c of costs.values()) {
    if (c.proxy && c.mode === 'sidecar') sidecars++;
    if (c.proxy && c.mode === 'ambient') ambientPods++;
    if (c.sidecar) {
      sidecarMillicores += c.sidecar.millicores;
      sidecarRssMb += c.sidecar.rssMb ?? 0;
    }
    if (c.app) {
      appMillicores += c.app.millicores;
      appRssMb += c.app.rssMb ?? 0;
    }
  }
  return {
    sidecars,
    ambientPods,
    sidecarMillicores,
    appMillicores,
    sidecarRssMb,
    appRssMb,
    path: busiestPath(input.edges, input.processes, costs),
  };
}

/** Requests/s between pods: calls.get(from).get(to); each direction once. */
export function podCalls(
  edges: Iterable<TopologyEdge>,
  processes: ReadonlyMap<string, TopologyProcess>,
): Map<string, Map<string, number>> {
  const calls = new Map<string, Map<string, number>>();
  for (const e of edges) {
    const from = processes.get(e.source)?.pod;
    const to = processes.get(e.target)?.pod;
    if (!from || !to || from === to) continue;
    let out = calls.get(from);
    if (!out) {
      out = new Map();
      calls.set(from, out);
    }
    out.set(to, (out.get(to) ?? 0) + e.requestsPerS);
  }
  return calls;
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
  const calls = podCalls(edges, processes);
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
): MeshSummary['path'] {
  const calls = podCalls(edges, processes);
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
  pods.forEach((pod, i) => {
    const cost = costs.get(pod);
    if (!cost?.proxy) return;
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
  return { pods, addedMeanMs, crossingsKnown, crossings };
}
