// A path of pods chosen by hand for the waterfall (frontend -> catalog-2 -> ratings): at
// each step the pods the one before it calls, busiest first; choosing one keeps the steps
// before it and goes on by the busiest calls from there, and a step can end the path.
// The first step offers every pod that calls another. Pure, unit tested in node.
import type { PodCost, TopologyEdge, TopologyProcess } from './api-types.js';
import { onward, podCalls } from './mesh-summary.js';

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
): StepOption[][] {
  const calls = podCalls(edges, processes);
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
  return onward([...path.slice(0, index), pod], podCalls(edges, processes), costs);
}
