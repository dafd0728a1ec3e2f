// Where one request's time goes along a path of pods (P0 calls P1, which calls P2...):
// each sidecar's added latency per direction (the kernel's per-request figure), the
// network between pods, and each app's own time, from the means at the sockets. Means,
// because means add along a path and quantiles do not: each part's own p50/p90/p99 is
// given where the part is a measured distribution (a sidecar's added latency; the last
// app's serving time, when one timed edge serves it), and not where it is a difference
// of two (the network, an app that calls onward): the quantiles of a difference do not
// follow from those of its terms. What the parts do not explain of the total is a part
// of its own, never hidden. Pure, unit tested in node.
//
// From the exchange latency means at both ends of each edge (the time from a request's
// first byte to the reply's, as each socket sees it):
// - total: P0's app calling out (its client end toward its sidecar, or toward P1);
// - network Pi -> Pi+1: the caller's client end minus the callee's server end, on the
//   edges between the two pods;
// - an app's own time: its server end's mean minus its call onward along the path
//   (client end, times the calls it makes per request, and through a sidecar times the
//   share of its pod's calls that go to the next pod); calls off the path stay in it;
// - the last pod's app: its server end's mean.
// Deeper parts are weighted by the calls per request along the way (1 in a plain chain).
import type { LatencyStats, PodCost, TopologyEdge, TopologyProcess } from './api-types.js';

export type WaterfallPartKind =
  | 'sidecar-outbound'
  | 'network'
  | 'sidecar-inbound'
  | 'app'
  | 'unexplained';

export interface WaterfallPart {
  kind: WaterfallPartKind;
  /** The pod it belongs to (for a network part, the calling pod). */
  pod: string;
  /** For a network part, the pod called. */
  to?: string;
  /** Mean time per request of P0 (ms), weighted by calls per request. */
  meanMs: number;
  /**
   * Calls per request of P0 that reach this part (1 in a plain chain; 0.5 past one of two
   * replicas): the mean is per request, the quantiles per call.
   */
  callsPerRequest: number;
  /**
   * The part's own distribution per crossing or call, where it is measured as one: a
   * sidecar's added latency, the last app's serving time. Null for differences of means.
   */
  quantiles: Pick<LatencyStats, 'p50Ms' | 'p90Ms' | 'p99Ms'> | null;
}

export interface Waterfall {
  pods: string[];
  /** Mean of P0's call out (ms). */
  totalMs: number;
  parts: WaterfallPart[];
}

interface Input {
  pods: readonly string[];
  edges: Iterable<TopologyEdge>;
  processes: ReadonlyMap<string, TopologyProcess>;
  costs: ReadonlyMap<string, PodCost>;
}

/** Null when the path lacks what its total needs (P0's call out, timed). */
export function waterfall(input: Input): Waterfall | null {
  const { pods } = input;
  if (pods.length < 2) return null;
  const edges = [...input.edges];
  const roleIn = (id: string, pod: string, role?: TopologyProcess['role']) => {
    const p = input.processes.get(id);
    return p?.pod === pod && (role === undefined || p.role === role);
  };
  const meshed = (pod: string) => input.costs.get(pod)?.proxy != null;
  const between = (from: (id: string) => boolean, to: (id: string) => boolean): TopologyEdge[] =>
    edges.filter((e) => from(e.source) && to(e.target));
  const rate = (list: readonly TopologyEdge[]) => list.reduce((a, e) => a + e.requestsPerS, 0);
  /** Request-weighted mean of one side's exchange latency means; null when none is timed. */
  const mean = (list: readonly TopologyEdge[], side: 'client' | 'server'): number | null => {
    let weight = 0;
    let sum = 0;
    for (const e of list) {
      const m = e[side]?.exchangeLatency.meanMs;
      if (typeof m !== 'number' || e.multiplexed) continue;
      const w = e.requestsPerS > 0 ? e.requestsPerS : 1;
      weight += w;
      sum += w * m;
    }
    return weight > 0 ? sum / weight : null;
  };
  const inPod = (pod: string, role?: TopologyProcess['role']) => (id: string) =>
    roleIn(id, pod, role);

  // P0's app calling out: toward its sidecar when meshed, else toward P1.
  const [p0, p1] = [pods[0]!, pods[1]!];
  const firstCall = meshed(p0)
    ? between(inPod(p0, 'app'), inPod(p0, 'sidecar'))
    : between(inPod(p0, 'app'), inPod(p1));
  const totalMs = mean(firstCall, 'client');
  if (totalMs === null) return null;

  const parts: WaterfallPart[] = [];
  let weight = 1; // calls per request of P0 reaching the current pod
  const sidecar = (pod: string, kind: 'sidecar-inbound' | 'sidecar-outbound') => {
    const cost = input.costs.get(pod);
    const d = kind === 'sidecar-inbound' ? cost?.inbound : cost?.outbound;
    const m = d?.addedLatency.meanMs;
    if (!cost?.proxy || typeof m !== 'number') return;
    const { p50Ms, p90Ms, p99Ms } = d!.addedLatency;
    parts.push({
      kind,
      pod,
      meanMs: weight * m,
      callsPerRequest: weight,
      quantiles: { p50Ms, p90Ms, p99Ms },
    });
  };
  for (let i = 0; i < pods.length; i++) {
    const pod = pods[i]!;
    const next = pods[i + 1];
    // The app serving (past P0): from its sidecar, or straight from the caller's pod; and
    // the edges from this pod into the next.
    const serving =
      i === 0
        ? []
        : meshed(pod)
          ? between(inPod(pod, 'sidecar'), inPod(pod, 'app'))
          : between(inPod(pods[i - 1]!), inPod(pod, 'app'));
    const crossing = next ? between(inPod(pod), inPod(next)) : [];
    if (i > 0) {
      sidecar(pod, 'sidecar-inbound');
      const served = mean(serving, 'server');
      if (served !== null) {
        let own = served;
        if (next) {
          const onward = meshed(pod)
            ? between(inPod(pod, 'app'), inPod(pod, 'sidecar'))
            : between(inPod(pod, 'app'), inPod(next));
          const call = mean(onward, 'client');
          const perRequest = rate(serving) > 0 ? rate(onward) / rate(serving) : 1;
          // Through its sidecar the app's calls go to every pod it calls: only the share
          // that goes to the next pod is on the path (the rest stays in its own time).
          const out = between(inPod(pod), (id) => {
            const other = input.processes.get(id)?.pod;
            return other !== undefined && other !== null && other !== pod;
          });
          const share = meshed(pod) && rate(out) > 0 ? rate(crossing) / rate(out) : 1;
          if (call !== null) own -= call * perRequest * share;
        }
        // The last app's time is what its server end measures, a distribution of its own
        // when one timed edge serves it (several: their quantiles do not combine).
        const timed = serving.filter(
          (e) => !e.multiplexed && typeof e.server?.exchangeLatency.p50Ms === 'number',
        );
        const quantiles =
          !next && timed.length === 1
            ? (({ p50Ms, p90Ms, p99Ms }) => ({ p50Ms, p90Ms, p99Ms }))(
                timed[0]!.server!.exchangeLatency,
              )
            : null;
        parts.push({ kind: 'app', pod, meanMs: weight * own, callsPerRequest: weight, quantiles });
      }
    }
    if (!next) break;
    // Calls into the next pod per request of P0: this pod's weight times its calls onward
    // per request it serves (P0's first call is the request itself).
    if (i > 0 && rate(serving) > 0) weight *= rate(crossing) / rate(serving);
    sidecar(pod, 'sidecar-outbound');
    const client = mean(crossing, 'client');
    const server = mean(crossing, 'server');
    if (client !== null && server !== null)
      parts.push({
        kind: 'network',
        pod,
        to: next,
        meanMs: weight * (client - server),
        callsPerRequest: weight,
        quantiles: null,
      });
  }
  const explained = parts.reduce((a, p) => a + p.meanMs, 0);
  parts.push({
    kind: 'unexplained',
    pod: p0,
    meanMs: totalMs - explained,
    callsPerRequest: 1,
    quantiles: null,
  });
  return { pods: [...pods], totalMs, parts };
}
