// What each pod's sidecar costs over a time range: the headline numbers. Pure.
//
// - Added latency per direction: the request hop plus the response hop of each exchange
//   through the sidecar, each hop from the bytes' arrival at the sidecar's socket to its
//   forward on the other socket, joined per exchange in the kernel: a distribution with
//   an exact mean. Data from agents that time read -> write and do not join exchanges
//   falls back to summing the two hop distributions as if independent, and says so
//   (`method`); `coverage` says how much of the traffic the figure stands for.
// - Overhead share: the mean added latency over the mean exchange latency seen
//   downstream of the sidecar (inbound: at the sidecar's own server ends facing other
//   pods; outbound: at the app's client ends calling out), so "what part of the time a
//   caller waits is the sidecar". Ends of multiplexed edges (HTTP/2 between sidecars)
//   are left out: a send-to-reply time there is no request's; with only those, none.
// - Requests (for the per-1,000 figures) are the app's own exchanges, timed or counted
//   apart as multiplexed. Where an app's requests overlap on one connection (its own
//   gRPC or HTTP/2, recognised by the kernel at either end) these are its direction
//   changes, fewer than its requests: without parsing, overlapping ones count once.
// - CPU ms and memory per 1,000 requests, for the sidecar and, next to it, the app;
//   requests are the app's exchanges (served and made), which every meshed request
//   crosses once, so meshed and unmeshed pods count alike.
import type {
  Direction,
  DirectionCost,
  PodCost,
  ProcessCost,
  TopologyPod,
  TopologyProcess,
} from '../../proto/api.js';
import { emptyHistogram, merge } from '../../proto/histogram.js';
import { addedLatency, latencyStats, round, timingOf } from '../../proto/latency.js';
import type { Aggregate } from '../store/aggregate.js';
import { methodOfCode } from '../store/series.js';
import { isLoopback } from './ids.js';
import { podMode } from './pod-mode.js';
import type { EndRecord } from './topology.js';

export interface HopRecord {
  processKey: string;
  direction: Direction;
  /**
   * The pod (its id) whose namespace the hops' sockets are in when it is not their
   * process's: a node proxy's hops through that pod. null for a sidecar's.
   */
  socketPod: string | null;
  metrics: Aggregate;
}

/**
 * The processes that serve pods from outside them (node proxies, as ambient mode's
 * ztunnel): those with ends or hops in another pod's namespace.
 */
export function nodeProxies(
  ends: readonly Pick<EndRecord, 'processKey' | 'socketPod'>[],
  hops: readonly HopRecord[],
): Set<string> {
  return new Set([...ends, ...hops].filter((x) => x.socketPod).map((x) => x.processKey));
}

/** A sidecar of the pod it lives in: a proxy, but not a node proxy (its cost is the pods' it serves). */
function isOwnSidecar(
  p: Pick<TopologyProcess, 'id' | 'role'> | undefined,
  shared: ReadonlySet<string>,
): boolean {
  return p?.role === 'sidecar' && !shared.has(p.id);
}

/**
 * The hops that carry a pod's mesh traffic, chosen as podCosts chooses them: its own
 * sidecars' (in their own namespace), or a node proxy's through the pod's namespace.
 * `shared` is nodeProxies of the same view, for callers that ask for many pods.
 */
export function podMeshHops(
  pod: Pick<TopologyPod, 'id' | 'processes'>,
  processes: ReadonlyMap<string, Pick<TopologyProcess, 'id' | 'role'>>,
  view: {
    ends: readonly Pick<EndRecord, 'processKey' | 'socketPod'>[];
    hops: readonly HopRecord[];
  },
  shared: ReadonlySet<string> = nodeProxies(view.ends, view.hops),
): HopRecord[] {
  const sidecars = new Set(pod.processes.filter((k) => isOwnSidecar(processes.get(k), shared)));
  return view.hops.filter((h) =>
    h.socketPod ? h.socketPod === pod.id : sidecars.has(h.processKey),
  );
}

/** A node proxy's bytes (both ways, all its ends) through each pod it serves, and in all. */
function bytesByPod(
  ends: readonly EndRecord[],
): Map<string, { pods: Map<string, number>; all: number }> {
  const out = new Map<string, { pods: Map<string, number>; all: number }>();
  for (const e of ends) {
    const bytes = e.metrics.sums.bytes_sent! + e.metrics.sums.bytes_received!;
    const proxy = out.get(e.processKey) ?? { pods: new Map<string, number>(), all: 0 };
    proxy.all += bytes;
    if (e.socketPod) proxy.pods.set(e.socketPod, (proxy.pods.get(e.socketPod) ?? 0) + bytes);
    out.set(e.processKey, proxy);
  }
  return out;
}

const MB = 2 ** 20;

/**
 * CPU and memory of processes per 1,000 requests; each process counted at its share (1
 * but for a node proxy, whose cost is shared by the pods it serves).
 */
function processCost(
  keys: readonly string[],
  resources: ReadonlyMap<string, Aggregate>,
  requests: number,
  seconds: number,
  share: (key: string) => number = () => 1,
): ProcessCost | null {
  const rows = keys.flatMap((k) => {
    const r = resources.get(k);
    return r ? [{ r, share: share(k) }] : [];
  });
  if (rows.length === 0) return null;
  const cpuNs = rows.reduce((n, { r, share }) => n + r.sums.cpu_ns! * share, 0);
  // Memory of several processes adds up; each one's mean over its samples.
  const rss = rows.reduce(
    (n, { r, share }) =>
      n + (r.sums.samples! > 0 ? (r.sums.rss_bytes_sum! / r.sums.samples!) * share : 0),
    0,
  );
  const rssMax = rows.reduce((n, { r, share }) => n + r.maxes.rss_bytes_max! * share, 0);
  return {
    cpuMsPer1kRequests: requests > 0 ? round((cpuNs / 1e6 / requests) * 1000) : null,
    millicores: round(cpuNs / 1e6 / seconds),
    rssMb: round(rss / MB),
    rssMbMax: round(rssMax / MB),
  };
}

export function podCosts(input: {
  fromMs: number;
  toMs: number;
  pods: readonly TopologyPod[];
  processes: readonly TopologyProcess[];
  ends: readonly EndRecord[];
  hops: readonly HopRecord[];
  resources: ReadonlyMap<string, Aggregate>;
  /**
   * Ends of multiplexed edges (TopologyEdge.multiplexed): their exchange latency is no
   * request's, so it stays out of the downstream latency the overhead share divides by.
   */
  multiplexedEnds?: ReadonlySet<number>;
}): PodCost[] {
  const seconds = Math.max(1e-3, (input.toMs - input.fromMs) / 1000);
  const processes = new Map(input.processes.map((p) => [p.id, p]));
  const endsOf = new Map<string, EndRecord[]>();
  for (const e of input.ends) endsOf.set(e.processKey, [...(endsOf.get(e.processKey) ?? []), e]);
  const shared = nodeProxies(input.ends, input.hops);
  const proxyBytes = bytesByPod(input.ends.filter((e) => shared.has(e.processKey)));

  return input.pods.map((pod) => {
    const members = pod.processes.map((k) => processes.get(k)!).filter(Boolean);
    // A node proxy is no sidecar of the pod it lives in: its cost goes to the pods it serves.
    const sidecars = members.filter((p) => isOwnSidecar(p, shared));
    // The node proxies serving this pod, each at its share of its bytes through the pod:
    // the stated method of apportioning a shared proxy's CPU and memory.
    const servedBy = new Map<string, number>();
    let bytesThrough = 0;
    let bytesAll = 0;
    for (const [key, bytes] of proxyBytes) {
      const through = bytes.pods.get(pod.id);
      if (through === undefined) continue;
      servedBy.set(key, bytes.all > 0 ? through / bytes.all : 0);
      bytesThrough += through;
      bytesAll += bytes.all;
    }
    const apps = members.filter((p) => p.role === 'app');
    const podEnds = members.flatMap((p) => endsOf.get(p.id) ?? []);
    const podAddresses = new Set(podEnds.map((e) => e.localAddress));
    const outside = (address: string) => !isLoopback(address) && !podAddresses.has(address);
    const latency = (list: readonly EndRecord[]) =>
      list.reduce((h, e) => merge(h, e.metrics.hists.exchange_latency!), emptyHistogram());

    const appEnds = apps.flatMap((p) => endsOf.get(p.id) ?? []);
    // The ends of the proxy that carries the pod's mesh traffic: its sidecars', or a node
    // proxy's in the pod's namespace.
    const proxyEnds = [
      ...sidecars.flatMap((p) => endsOf.get(p.id) ?? []),
      ...[...servedBy.keys()].flatMap((k) =>
        (endsOf.get(k) ?? []).filter((e) => e.socketPod === pod.id),
      ),
    ];
    // Exchanges on connections marked multiplexed are requests too, counted apart.
    const requests = appEnds.reduce(
      (n, e) => n + e.metrics.sums.exchanges! + (e.metrics.sums.multiplexed_exchanges ?? 0),
      0,
    );

    const direction = (which: Direction): DirectionCost | null => {
      const hops = podMeshHops(pod, processes, input, shared).filter((h) => h.direction === which);
      if (hops.length === 0) return null;
      const merged = (column: string) =>
        hops.reduce((h, x) => merge(h, x.metrics.hists[column]!), emptyHistogram());
      const sum = (column: string) => hops.reduce((n, h) => n + h.metrics.sums[column]!, 0);
      const request = merged('request_hop');
      const response = merged('response_hop');
      const downstreamEnds =
        which === 'inbound'
          ? proxyEnds.filter((e) => e.side === 'server' && outside(e.remoteAddress))
          : appEnds.filter((e) => e.side === 'client' && outside(e.remoteAddress));
      const timedDownstream = downstreamEnds.filter((e) => !input.multiplexedEnds?.has(e.id));
      const newest = Math.max(...hops.map((h) => h.metrics.maxes.method!));
      const added = addedLatency(
        { request, response, added: merged('added') },
        timingOf(methodOfCode(newest)),
      );
      const downstream = latencyStats(latency(timedDownstream));
      const requests = sum('requests');
      return {
        requests,
        unpaired: sum('unpaired'),
        exchanges: added.exchanges,
        // At most 1: the runner swaps the histogram map a moment before the hop counts, so
        // at a range's edges an exchange can be in the counts and not yet in `added`.
        coverage: requests > 0 ? round(Math.min(1, added.exchanges / requests)) : null,
        method: added.method,
        unmatchedForwards: sum('unmatched_forwards'),
        arrivalUnknown: sum('arrival_unknown'),
        addedLatency: added.stats,
        requestHop: latencyStats(request),
        responseHop: latencyStats(response),
        overheadShare:
          added.stats.meanMs !== null && downstream.meanMs
            ? round(Math.min(1, added.stats.meanMs / downstream.meanMs))
            : null,
        downstreamLatency: downstream,
      };
    };

    const ambient = sidecars.length === 0 && servedBy.size > 0;
    const proxyShare = ambient && bytesAll > 0 ? round(bytesThrough / bytesAll) : null;
    // What was observed, and what the cluster says (pod-mode.ts decides between them).
    const meshMode = podMode(
      {
        sidecar: sidecars[0]?.comm ?? null,
        nodeProxy:
          servedBy.size > 0 ? (processes.get([...servedBy.keys()][0]!)?.comm ?? null) : null,
        waypoint: null,
        isNodeProxyPod: members.some((p) => shared.has(p.id)),
        isWaypointPod: false,
      },
      pod.mesh,
    );
    return {
      pod: pod.id,
      namespace: pod.namespace,
      name: pod.name,
      mode: meshMode.mode,
      proxy: ambient
        ? (processes.get([...servedBy.keys()][0]!)?.comm ?? null)
        : (sidecars[0]?.comm ?? members.find((p) => shared.has(p.id))?.comm ?? null),
      modeSigns: meshMode.modeSigns,
      proxyShare: ambient
        ? { method: 'bytes', share: proxyShare, byMethod: { onCpu: null, bytes: proxyShare } }
        : null,
      waypoint: null,
      requests,
      requestsPerS: round(requests / seconds),
      inbound: direction('inbound'),
      outbound: direction('outbound'),
      sidecar: sidecars.length
        ? processCost(
            sidecars.map((p) => p.id),
            input.resources,
            requests,
            seconds,
          )
        : ambient
          ? processCost(
              [...servedBy.keys()],
              input.resources,
              requests,
              seconds,
              (k) => servedBy.get(k) ?? 0,
            )
          : null,
      app: processCost(
        apps.map((p) => p.id),
        input.resources,
        requests,
        seconds,
      ),
    };
  });
}
