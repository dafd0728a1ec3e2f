// What each pod's sidecar costs over a time range: the headline numbers. Pure.
//
// - Added latency per direction: the request hop plus the response hop of each exchange
//   through the sidecar, each hop from the bytes' arrival at the sidecar's socket to its
//   forward on the other socket (their arrival where the forward delivers them, on the
//   node), joined per exchange in the kernel: a distribution with
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
// - A pod without a sidecar of its own, whose traffic a shared proxy carries (a node
//   proxy with sockets in its namespace, a waypoint in front of it: ambient mode), reads
//   the same: the node proxy's hops through its namespace are its added latency, and its
//   `sidecar` cost is the node proxy's at the pod's share (proxy-share.ts), with the
//   waypoint's part beside it (waypoints.ts). Its mode says which (pod-mode.ts).
import type {
  Direction,
  DirectionCost,
  MeshMode,
  MeshSigns,
  PodCost,
  ProcessCost,
  TopologyPod,
  TopologyProcess,
  WaypointCost,
} from '../../proto/api.js';
import { emptyHistogram, merge } from '../../proto/histogram.js';
import {
  addedLatency,
  type HandoffsByEnds,
  handoffTimingOf,
  latencyStats,
  round,
  timingOf,
} from '../../proto/latency.js';
import { isNodeProxyPod, isWaypointPod } from '../../proto/mesh-signs.js';
import { requestsOfSums } from '../../proto/requests.js';
import type { Aggregate } from '../store/aggregate.js';
import { methodOfCode } from '../store/series.js';
import { isLoopback } from './ids.js';
import { podMode } from './pod-mode.js';
import { podShare, proxyUses } from './proxy-share.js';
import type { EndRecord } from './topology.js';
import { waypointUses } from './waypoints.js';

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

/** A proxy whose cost goes to the pods it serves, not to its own pod. */
export type SharedProxyKind = 'node-proxy' | 'waypoint';

/**
 * The proxies whose cost is shared by the pods they serve rather than their own pod's:
 * node proxies and waypoints, seen from their sockets (nodeProxies,
 * collector/model/waypoints.ts), or the processes of pods the cluster's signs say are a
 * node proxy's or a waypoint's (proto/mesh-signs.ts) before any of their traffic is seen.
 */
export function sharedProxyKinds(
  ends: readonly EndRecord[],
  hops: readonly HopRecord[],
  pods: readonly Pick<TopologyPod, 'processes' | 'mesh'>[] = [],
  processes: ReadonlyMap<string, Pick<TopologyProcess, 'role'>> = new Map(),
): Map<string, SharedProxyKind> {
  const nodeProxySet = nodeProxies(ends, hops);
  return sharedKinds(
    pods,
    nodeProxySet,
    waypointUses(ends, nodeProxySet, withApps(pods, processes)).keys(),
  );
}

/** sharedProxyKinds from the node proxies and waypoints already found. */
function sharedKinds(
  pods: readonly Pick<TopologyPod, 'processes' | 'mesh'>[],
  nodeProxySet: Iterable<string>,
  waypoints: Iterable<string>,
): Map<string, SharedProxyKind> {
  const kinds = new Map<string, SharedProxyKind>();
  for (const pod of pods) {
    const signs = pod.mesh;
    if (!signs) continue;
    const kind = isNodeProxyPod(signs.owner, signs.labels)
      ? 'node-proxy'
      : isWaypointPod(signs.labels)
        ? 'waypoint'
        : null;
    if (kind) for (const key of pod.processes) kinds.set(key, kind);
  }
  for (const key of nodeProxySet) kinds.set(key, 'node-proxy');
  for (const key of waypoints) kinds.set(key, 'waypoint');
  return kinds;
}

/** The processes of pods that have an app of their own (waypointUses' `withApps`). */
export function withApps(
  pods: readonly Pick<TopologyPod, 'processes'>[],
  processes: ReadonlyMap<string, Pick<TopologyProcess, 'role'>>,
): Set<string> {
  return new Set(
    pods
      .filter((p) => p.processes.some((k) => processes.get(k)?.role === 'app'))
      .flatMap((p) => p.processes),
  );
}

/** The keys of sharedProxyKinds. */
export function sharedProxies(
  ends: readonly EndRecord[],
  hops: readonly HopRecord[],
  pods: readonly Pick<TopologyPod, 'processes' | 'mesh'>[] = [],
  processes: ReadonlyMap<string, Pick<TopologyProcess, 'role'>> = new Map(),
): Set<string> {
  return new Set(sharedProxyKinds(ends, hops, pods, processes).keys());
}

/** A sidecar of the pod it lives in: a proxy, but not a shared one (its cost is the pods' it serves). */
export function isOwnSidecar(
  p: Pick<TopologyProcess, 'id' | 'role'> | undefined,
  shared: ReadonlySet<string>,
): boolean {
  return p?.role === 'sidecar' && !shared.has(p.id);
}

/**
 * The hops that carry a pod's mesh traffic, chosen as podCosts chooses them: its own
 * sidecars' (in their own namespace), or a node proxy's through the pod's namespace; a
 * waypoint's are in WaypointCost. `shared` is sharedProxies of the same view, for callers
 * that ask for many pods.
 */
export function podMeshHops(
  pod: Pick<TopologyPod, 'id' | 'processes'>,
  processes: ReadonlyMap<string, Pick<TopologyProcess, 'id' | 'role'>>,
  view: {
    ends: readonly EndRecord[];
    hops: readonly HopRecord[];
    topology?: {
      pods: readonly Pick<TopologyPod, 'processes' | 'mesh'>[];
      processes: readonly Pick<TopologyProcess, 'id' | 'role'>[];
    };
  },
  shared: ReadonlySet<string> = sharedProxies(
    view.ends,
    view.hops,
    view.topology?.pods,
    new Map(view.topology?.processes.map((p) => [p.id, p])),
  ),
): HopRecord[] {
  const sidecars = new Set(pod.processes.filter((k) => isOwnSidecar(processes.get(k), shared)));
  return view.hops.filter((h) =>
    h.socketPod ? h.socketPod === pod.id : sidecars.has(h.processKey),
  );
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

/**
 * Why a pod's proxy has no cost where its mode says a proxy carries its traffic (null for
 * the modes without one): given the comm of its own sidecar and of the node proxy serving
 * it, each null where no process of it was seen. A proxy known only from the cluster's
 * signs (a sidecar container in the pod's spec, an ambient label) ran nothing Tollgate
 * saw, so its cost is unknown, not nothing.
 */
function unmeasuredProxy(
  mode: MeshMode,
  sidecar: string | null,
  nodeProxy: string | null,
  signs: MeshSigns | undefined,
): string | null {
  const noSamples = (what: string) => `no CPU or memory samples of ${what} in the range`;
  if (mode === 'sidecar') {
    if (sidecar !== null) return noSamples(`sidecar ${sidecar}`);
    const container = signs?.sidecarContainers[0];
    return container === undefined
      ? 'no sidecar process seen in the range'
      : `sidecar container ${container} known only from the cluster's signs: no process of it seen in the range`;
  }
  if (mode === 'ambient' || mode === 'ambient+waypoint')
    return nodeProxy !== null
      ? noSamples(`node proxy ${nodeProxy}`)
      : 'no node proxy seen serving the pod in the range';
  return null;
}

const latencyOf = (list: readonly EndRecord[]) =>
  list.reduce((h, e) => merge(h, e.metrics.hists.exchange_latency!), emptyHistogram());

/** A hop-series column summed over hops (0 for rows from before the column). */
const sumOf = (hops: readonly HopRecord[], column: string) =>
  hops.reduce((n, h) => n + (h.metrics.sums[column] ?? 0), 0);

/**
 * Hops' hand-offs (request and reply) by how their agents timed them: the store keeps
 * those of wake-ups and of reads; the rest were not said.
 */
export function handoffsByEndsOf(hops: readonly HopRecord[]): HandoffsByEnds {
  const sum = (column: string) => sumOf(hops, column);
  const wakeUps = sum('handoffs_at_wake_ups');
  const reads = sum('handoffs_at_reads');
  const all = sum('handoffs') + sum('reply_handoffs');
  return { wakeUps, reads, notSaid: Math.max(0, all - wakeUps - reads) };
}

/**
 * What a proxy's hops in one direction add, against the exchanges timed downstream of it
 * (for the overhead share); null without hops.
 */
function directionCost(
  hops: readonly HopRecord[],
  timedDownstream: readonly EndRecord[],
): DirectionCost | null {
  if (hops.length === 0) return null;
  const merged = (column: string) =>
    hops.reduce((h, x) => merge(h, x.metrics.hists[column]!), emptyHistogram());
  const sum = (column: string) => sumOf(hops, column);
  const request = merged('request_hop');
  const response = merged('response_hop');
  const newest = Math.max(...hops.map((h) => h.metrics.maxes.method!));
  const added = addedLatency(
    { request, response, added: merged('added') },
    timingOf(methodOfCode(newest)),
  );
  const downstream = latencyStats(latencyOf(timedDownstream));
  const byEnds = handoffsByEndsOf(hops);
  const requests = sum('requests');
  return {
    requests,
    unpaired: sum('unpaired'),
    exchanges: added.exchanges,
    // At most 1: an exchange the runner's swaps split has its counts in the next interval
    // and its buckets in this one (the agent carries them over only when their listener
    // has no counts here), so at a range's end `added` can hold an exchange that the
    // counts do not.
    coverage: requests > 0 ? round(Math.min(1, added.exchanges / requests)) : null,
    method: added.method,
    unmatchedForwards: sum('unmatched_forwards'),
    arrivalUnknown: sum('arrival_unknown'),
    handoffs: sum('handoffs'),
    handoffTiming: handoffTimingOf(byEnds),
    handoffsByEnds: byEnds,
    replyHandoffs: sum('reply_handoffs'),
    neighbourWaitMsPerRequest:
      requests > 0 ? round(sum('neighbour_wait_ns') / requests / 1e6) : null,
    addedLatency: added.stats,
    requestHop: latencyStats(request),
    responseHop: latencyStats(response),
    overheadShare:
      added.stats.meanMs !== null && downstream.meanMs
        ? round(Math.min(1, added.stats.meanMs / downstream.meanMs))
        : null,
    downstreamLatency: downstream,
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
  const nodeProxySet = nodeProxies(input.ends, input.hops);
  const waypoints = waypointUses(input.ends, nodeProxySet, withApps(input.pods, processes));
  // Node proxies and waypoints, seen or named by their pods' signs: no sidecar of their
  // own pod (isOwnSidecar), as their cost is the pods' they serve.
  const shared = new Set(sharedKinds(input.pods, nodeProxySet, waypoints.keys()).keys());
  const uses = proxyUses(nodeProxySet, input.ends, input.hops, input.resources);
  // The waypoint carrying most of a pod's inbound bytes, at the pod's share of its bytes,
  // with what it adds over all its traffic (its hops are timed per listener, not per
  // destination).
  const waypointCost = (pod: string): Omit<WaypointCost, 'cost'> | null => {
    const [key, use] = [...waypoints]
      .filter(([, u]) => u.bytes.has(pod))
      .sort(([, a], [, b]) => b.bytes.get(pod)! - a.bytes.get(pod)!)[0] ?? [null, null];
    if (!key || !use) return null;
    const share = use.bytesAll > 0 ? round(use.bytes.get(pod)! / use.bytesAll) : null;
    return {
      process: key,
      proxy: processes.get(key)?.comm ?? '',
      share: { processes: [key], method: 'bytes', share, byMethod: { onCpu: null, bytes: share } },
      inbound: directionCost(
        input.hops.filter((h) => h.processKey === key && h.direction === 'inbound'),
        (endsOf.get(key) ?? []).filter(
          (e) => e.side === 'server' && !input.multiplexedEnds?.has(e.id),
        ),
      ),
    };
  };

  return input.pods.map((pod) => {
    const members = pod.processes.map((k) => processes.get(k)!).filter(Boolean);
    // A node proxy is no sidecar of the pod it lives in: its cost goes to the pods it serves.
    const sidecars = members.filter((p) => isOwnSidecar(p, shared));
    // The node proxies serving this pod, each at the share of its cost put to the pod
    // (collector/model/proxy-share.ts: on-CPU time where timed, else bytes).
    const nodeProxy = podShare(pod.id, uses);
    const servedBy = nodeProxy?.shares ?? new Map<string, number>();
    // A shared proxy alone in its pod may have the app role (an executable not known as a
    // proxy): its cost is still the pods' it serves, not its own pod's.
    const apps = members.filter((p) => p.role === 'app' && !shared.has(p.id));
    const podEnds = members.flatMap((p) => endsOf.get(p.id) ?? []);
    const podAddresses = new Set(podEnds.map((e) => e.localAddress));
    const outside = (address: string) => !isLoopback(address) && !podAddresses.has(address);

    const appEnds = apps.flatMap((p) => endsOf.get(p.id) ?? []);
    // The ends of the proxy that carries the pod's mesh traffic: its sidecars', or a node
    // proxy's in the pod's namespace.
    const proxyEnds = [
      ...sidecars.flatMap((p) => endsOf.get(p.id) ?? []),
      ...[...servedBy.keys()].flatMap((k) =>
        (endsOf.get(k) ?? []).filter((e) => e.socketPod === pod.id),
      ),
    ];
    // Exchanges on connections marked multiplexed are requests too, counted apart; on
    // HTTP/2 connections followed from their preface, the requests their frames opened.
    const requests = appEnds.reduce((n, e) => n + requestsOfSums(e.metrics.sums), 0);

    const direction = (which: Direction): DirectionCost | null =>
      directionCost(
        podMeshHops(pod, processes, input, shared).filter((h) => h.direction === which),
        (which === 'inbound'
          ? proxyEnds.filter((e) => e.side === 'server' && outside(e.remoteAddress))
          : appEnds.filter((e) => e.side === 'client' && outside(e.remoteAddress))
        ).filter((e) => !input.multiplexedEnds?.has(e.id)),
      );

    const ambient = sidecars.length === 0 && servedBy.size > 0;
    // What was seen whatever the pod's own sidecars (a migration under way shows both),
    // though only an ambient pod is charged a node proxy's or a waypoint's part.
    const waypointSeen = waypointCost(pod.id);
    const waypoint = ambient ? waypointSeen : null;
    const ownWaypoint = members.find((p) => waypoints.has(p.id));
    const ownNodeProxy = members.find((p) => nodeProxySet.has(p.id));
    const nodeProxyName =
      servedBy.size > 0 ? (processes.get([...servedBy.keys()][0]!)?.comm ?? null) : null;
    // What was observed, and what the cluster says (pod-mode.ts decides between them).
    const meshMode = podMode(
      {
        sidecar: sidecars[0]?.comm ?? null,
        nodeProxy: nodeProxyName,
        waypoint: waypointSeen?.proxy ?? null,
        isNodeProxyPod: ownNodeProxy !== undefined,
        isWaypointPod: ownWaypoint !== undefined,
      },
      pod.mesh,
    );
    const sidecarCost = sidecars.length
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
        : null;
    return {
      pod: pod.id,
      namespace: pod.namespace,
      name: pod.name,
      mode: meshMode.mode,
      modeSigns: meshMode.modeSigns,
      proxy: ambient
        ? nodeProxyName
        : (sidecars[0]?.comm ?? ownWaypoint?.comm ?? ownNodeProxy?.comm ?? null),
      proxyShare: ambient ? nodeProxy!.proxyShare : null,
      waypoint: waypoint && {
        ...waypoint,
        cost: processCost(
          [waypoint.process],
          input.resources,
          requests,
          seconds,
          () => waypoint.share.share ?? 0,
        ),
      },
      requests,
      requestsPerS: round(requests / seconds),
      inbound: direction('inbound'),
      outbound: direction('outbound'),
      sidecar: sidecarCost,
      sidecarUnmeasured:
        sidecarCost === null
          ? unmeasuredProxy(meshMode.mode, sidecars[0]?.comm ?? null, nodeProxyName, pod.mesh)
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
