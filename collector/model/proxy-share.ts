// How a shared proxy's CPU and memory are split among the pods it serves. Pure.
//
// A node proxy (ambient mode's ztunnel) serves every enrolled pod of its node from sockets
// in each pod's namespace. Two methods, both kept so that the method's effect shows:
// - on-cpu: its threads' run time while serving the pod's sockets, which the kernel
//   charges to each hop (HopReport.on_cpu_ns; charge_on_cpu in probes/src/hop_pairing.bpf.h),
//   over its whole CPU time. What it ran serving no pod (its own control traffic, start-up)
//   is no pod's, so the shares of its pods add up to at most 1.
// - bytes: the pod's share of its bytes, both ways; at most 1 in all too, as its bytes in
//   its own namespace (its control traffic) are no pod's.
// The cost uses on-cpu where the kernel timed it for every proxy serving the pod (agents
// from before the counter send none), else bytes. Memory follows the same share: no
// method can see which pod a byte of a shared heap is for.
import type { ProxyShare, ShareMethod } from '../../proto/api.js';
import { round } from '../../proto/latency.js';
import type { Aggregate } from '../store/aggregate.js';
import type { HopRecord } from './sidecar-cost.js';
import type { EndRecord } from './topology.js';

/** What one shared proxy did, in all and through each pod it serves. */
export interface ProxyUse {
  bytes: Map<string, number>;
  bytesAll: number;
  onCpuNs: Map<string, number>;
  onCpuNsAll: number;
  /** Its CPU time over the range, from its resource samples (0 without any). */
  cpuNs: number;
}

function add(into: Map<string, number>, key: string, value: number): void {
  into.set(key, (into.get(key) ?? 0) + value);
}

/**
 * Each shared proxy's use by pod: bytes from its ends, on-CPU time from its hops, each
 * where its socket's namespace is the pod's.
 */
export function proxyUses(
  shared: ReadonlySet<string>,
  ends: readonly EndRecord[],
  hops: readonly HopRecord[],
  resources: ReadonlyMap<string, Aggregate>,
): Map<string, ProxyUse> {
  const uses = new Map<string, ProxyUse>();
  const use = (key: string) => {
    let u = uses.get(key);
    if (!u) {
      u = {
        bytes: new Map(),
        bytesAll: 0,
        onCpuNs: new Map(),
        onCpuNsAll: 0,
        cpuNs: resources.get(key)?.sums.cpu_ns ?? 0,
      };
      uses.set(key, u);
    }
    return u;
  };
  for (const e of ends) {
    if (!shared.has(e.processKey)) continue;
    const u = use(e.processKey);
    const bytes = e.metrics.sums.bytes_sent! + e.metrics.sums.bytes_received!;
    u.bytesAll += bytes;
    if (e.socketPod) add(u.bytes, e.socketPod, bytes);
  }
  for (const h of hops) {
    if (!shared.has(h.processKey)) continue;
    const u = use(h.processKey);
    const ns = h.metrics.sums.on_cpu_ns ?? 0;
    u.onCpuNsAll += ns;
    if (h.socketPod) add(u.onCpuNs, h.socketPod, ns);
  }
  return uses;
}

/** Whether the kernel timed this proxy's on-CPU time by pod. */
function timed(u: ProxyUse): boolean {
  return u.onCpuNsAll > 0;
}

/**
 * The on-CPU time to divide by: its CPU time from its samples, or the kernel's own sum
 * when that is more. The samples count from the agent's first one and in clock ticks, the
 * kernel from the proxy's first socket event, so at the edges of a range (and at a few
 * tens of ms in all) the kernel can have more; the shares then still add up to at most 1.
 */
function onCpuWhole(u: ProxyUse): number {
  return Math.max(u.cpuNs, u.onCpuNsAll);
}

/** A pod's share of one proxy by a method; null where that method has nothing to go on. */
function shareBy(u: ProxyUse, pod: string, method: ShareMethod): number | null {
  if (method === 'on-cpu') return timed(u) ? (u.onCpuNs.get(pod) ?? 0) / onCpuWhole(u) : null;
  return u.bytesAll > 0 ? (u.bytes.get(pod) ?? 0) / u.bytesAll : null;
}

/**
 * The shared proxies serving `pod` (those with bytes or on-CPU time through it), each
 * with the share of its cost put to the pod, and the share as the API states it: of which
 * proxy processes, by the method used, and by each method over all those proxies together.
 */
export function podShare(
  pod: string,
  uses: ReadonlyMap<string, ProxyUse>,
): { shares: Map<string, number>; proxyShare: ProxyShare } | null {
  const serving = [...uses].filter(([, u]) => u.bytes.has(pod) || u.onCpuNs.has(pod));
  if (serving.length === 0) return null;
  const method: ShareMethod = serving.every(([, u]) => timed(u)) ? 'on-cpu' : 'bytes';
  const shares = new Map(serving.map(([key, u]) => [key, shareBy(u, pod, method) ?? 0]));
  // Over all the proxies serving the pod: what is put to it over what they have in all.
  const together = (through: (u: ProxyUse) => number, all: (u: ProxyUse) => number) => {
    const total = serving.reduce((n, [, u]) => n + all(u), 0);
    return total > 0
      ? round(Math.min(1, serving.reduce((n, [, u]) => n + through(u), 0) / total))
      : null;
  };
  const onCpu = serving.every(([, u]) => timed(u))
    ? together((u) => u.onCpuNs.get(pod) ?? 0, onCpuWhole)
    : null;
  const bytes = together(
    (u) => u.bytes.get(pod) ?? 0,
    (u) => u.bytesAll,
  );
  return {
    shares,
    proxyShare: {
      // Sorted, so the same proxies read the same in every answer.
      processes: serving.map(([key]) => key).sort(),
      method,
      share: method === 'on-cpu' ? onCpu : bytes,
      byMethod: { onCpu, bytes },
    },
  };
}
