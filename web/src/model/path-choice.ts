// A path of pods chosen by hand for the waterfall (frontend -> catalog-2 -> ratings): at
// each step the pods the one before it calls, busiest first; choosing one keeps the steps
// before it and goes on by the busiest calls from there, and a step can end the path.
// The first step offers every pod that calls another. The steps are app pods: a shared
// proxy's pod (a node proxy, a waypoint) is never one, and calls are followed through it
// where podCalls can tell where they go. Pure, unit tested in node.
import type { PodCost, TopologyEdge, TopologyProcess } from './api-types.js';
import { onward } from './mesh-summary.js';
import { podCalls } from './pod-calls.js';
import { sharedProxyRoles } from './shared-proxies.js';

/** Calls between app pods, through the view's shared proxies. */
function appCalls(
  edges: Iterable<TopologyEdge>,
  processes: ReadonlyMap<string, TopologyProcess>,
  costs: ReadonlyMap<string, PodCost>,
) {
  return podCalls(edges, processes, new Set(sharedProxyRoles(costs.values(), processes).keys()));
}

export interface StepOption {
  pod: string;
  /** Requests/s from the step before (for the first step, all the pod's calls out). */
  requestsPerS: number;
}

/**
 * What each step of the path may be, one list per pod of the path, and one more for a
 * step after its last pod (empty when that pod calls no pod not already on the path).
 */
export function pathOptions(
  path: readonly string[],
  edges: Iterable<TopologyEdge>,
  processes: ReadonlyMap<string, TopologyProcess>,
  costs: ReadonlyMap<string, PodCost>,
): StepOption[][] {
  const calls = appCalls(edges, processes, costs);
  const byRate = (a: StepOption, b: StepOption) =>
    b.requestsPerS - a.requestsPerS || a.pod.localeCompare(b.pod);
  const starts = [...calls.entries()]
    .map(([pod, out]) => ({ pod, requestsPerS: [...out.values()].reduce((a, b) => a + b, 0) }))
    .sort(byRate);
  const steps: StepOption[][] = [starts];
  for (let i = 1; i <= path.length; i++) {
    const before = path.slice(0, i);
    steps.push(
      [...(calls.get(path[i - 1]!) ?? new Map<string, number>()).entries()]
        .filter(([pod]) => !before.includes(pod))
        .map(([pod, requestsPerS]) => ({ pod, requestsPerS }))
        .sort(byRate),
    );
  }
  return steps;
}

/**
 * The path with step `index` set to `pod` and continued by the busiest calls from there;
 * with `pod` null, the path ended before that step (never shorter than two pods).
 */
export function choosePathStep(
  path: readonly string[],
  index: number,
  pod: string | null,
  edges: Iterable<TopologyEdge>,
  processes: ReadonlyMap<string, TopologyProcess>,
  costs: ReadonlyMap<string, PodCost>,
): string[] {
  if (pod === null) return path.slice(0, Math.max(2, index));
  return onward([...path.slice(0, index), pod], appCalls(edges, processes, costs), costs);
}
