// Which app pod calls which, and how often: the steps a path of pods can take. A shared
// proxy's pod (a node proxy, a waypoint) is never a step: it carries other pods' calls.
// Its edges say only that pods call into it and that it calls pods, not which call goes
// on to which pod, so a call is followed through it only where that is determined: all
// its traffic comes from one caller (every pod it calls is then that caller's callee), or
// all of it goes to one callee. Shared proxies that call each other (node proxy to
// waypoint to node proxy) count as one. Pure, unit tested in node.
import type { TopologyEdge, TopologyProcess } from './api-types.js';

/** Requests/s between app pods: calls.get(from).get(to); each direction once. */
export function podCalls(
  edges: Iterable<Pick<TopologyEdge, 'source' | 'target' | 'requestsPerS'>>,
  processes: ReadonlyMap<string, Pick<TopologyProcess, 'pod'>>,
  shared: ReadonlySet<string> = new Set(),
): Map<string, Map<string, number>> {
  const calls = new Map<string, Map<string, number>>();
  const add = (from: string, to: string, rate: number) => {
    if (from === to) return;
    let out = calls.get(from);
    if (!out) {
      out = new Map();
      calls.set(from, out);
    }
    out.set(to, (out.get(to) ?? 0) + rate);
  };

  // Shared proxies joined by their calls to each other, each group under one root.
  const parent = new Map([...shared].map((p) => [p, p]));
  const root = (p: string): string => {
    let r = p;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(p, r);
    return r;
  };
  const through: Pick<TopologyEdge, 'source' | 'target' | 'requestsPerS'>[] = [];
  for (const e of edges) {
    const from = processes.get(e.source)?.pod ?? null;
    const to = processes.get(e.target)?.pod ?? null;
    const fromShared = from !== null && shared.has(from);
    const toShared = to !== null && shared.has(to);
    if (fromShared && toShared) parent.set(root(from), root(to));
    else if (fromShared || toShared) through.push(e);
    else if (from && to) add(from, to, e.requestsPerS);
  }

  // Each group's callers and callees; an end outside any pod counts (as its node id), so
  // that a peer's calls through the proxy make it ambiguous rather than someone else's.
  const sides = new Map<string, { callers: Map<string, number>; callees: Map<string, number> }>();
  const sideOf = (proxyPod: string) => {
    const r = root(proxyPod);
    let s = sides.get(r);
    if (!s) {
      s = { callers: new Map(), callees: new Map() };
      sides.set(r, s);
    }
    return s;
  };
  for (const e of through) {
    const from = processes.get(e.source)?.pod ?? null;
    const to = processes.get(e.target)?.pod ?? null;
    const [proxyPod, other, list] =
      to !== null && shared.has(to)
        ? [to, from ?? `node:${e.source}`, 'callers' as const]
        : [from!, to ?? `node:${e.target}`, 'callees' as const];
    const side = sideOf(proxyPod)[list];
    side.set(other, (side.get(other) ?? 0) + e.requestsPerS);
  }
  const isPod = (key: string) => !key.startsWith('node:');
  for (const { callers, callees } of sides.values()) {
    const [caller] = callers.keys();
    const [callee] = callees.keys();
    if (callers.size === 1 && isPod(caller!))
      for (const [to, rate] of callees) if (isPod(to)) add(caller!, to, rate);
    if (callees.size === 1 && callers.size > 1 && isPod(callee!))
      for (const [from, rate] of callers) if (isPod(from)) add(from, callee!, rate);
  }
  return calls;
}
