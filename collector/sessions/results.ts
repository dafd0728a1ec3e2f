// A session's results from the topology of its time window: per targeted pod the hop
// histograms of the proxy that carries its mesh traffic (each hop, and the joint added
// latency with its method and unpaired count), its mode and why, and the costs (a shared
// node proxy's and waypoint's at the pod's share, with the share by each method); per edge
// touching a targeted pod its histograms and counters; the proxy processes that carry the
// targeted pods' traffic; and the SMPS headline (latencies_ms, actual_qps) from the
// session's own load when it had one, else from the edges that enter the target. Pure.
//
// Edges are named by stable names ("namespace/pod/role", or the peer's name or address
// outside), not by process ids, so two sessions' edges match even when every pid
// changed; several processes of one role in a pod merge into one name. A node proxy's
// role reads "node-proxy": it is no sidecar of the pod it lives in.

import type { EndSummary, PodCost, TopologyPod, TopologyProcess } from '../../proto/api.js';
import type {
  EdgeResult,
  Histogram,
  LatencySummary,
  LoadResult,
  PodResult,
  SidecarResources,
  WaypointPart,
} from '../../proto/gen/tollgate/v1.js';
import {
  bucketValue,
  emptyHistogram,
  mean,
  merge,
  quantile,
  type SparseHistogram,
  totalCount,
} from '../../proto/histogram.js';
import { handoffEndsOfTiming, handoffTimingOf, round } from '../../proto/latency.js';
import { requestsOf } from '../../proto/requests.js';
import type { CompiledTarget } from '../../proto/target.js';
import {
  handoffsByEndsOf,
  isOwnSidecar,
  podMeshHops,
  sharedProxyKinds,
} from '../model/sidecar-cost.js';
import type { RangeView } from '../queries.js';
import { methodOfCode } from '../store/series.js';
import { methodShares, type ProxyKind } from './pod-mesh.js';
import { FILE_LIMITS } from './session-file.js';

export interface SessionResults {
  pods: PodResult[];
  edges: EdgeResult[];
  sidecars: SidecarResources[];
  latenciesMs: LatencySummary;
  actualQps: number;
  latencySource: '' | 'load' | 'entry';
  /** "namespace/name" of every targeted pod seen. */
  workloads: string[];
  /** The proxy processes carrying each targeted pod's mesh traffic. */
  carriers: Carrier[];
}

/** A proxy process carrying a targeted pod's mesh traffic. */
export interface Carrier {
  kind: ProxyKind;
  /** The pod it carries, "namespace/name". */
  pod: string;
  process: TopologyProcess;
}

type Hist = SparseHistogram;

function byId<T extends { id: string }>(list: T[]): T[] {
  return list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** min/average/quantiles/max in milliseconds, from a histogram (bucket values). */
export function latencySummary(h: Hist): LatencySummary {
  const n = totalCount(h);
  const ms = (ns: number | undefined) => (ns === undefined ? 0 : round(ns / 1e6));
  if (n === 0) return { min: 0, average: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  return {
    min: ms(bucketValue(h.layout, h.indexes[0]!)),
    average: ms(mean(h)),
    p50: ms(quantile(h, 0.5)),
    p90: ms(quantile(h, 0.9)),
    p99: ms(quantile(h, 0.99)),
    max: ms(bucketValue(h.layout, h.indexes[h.indexes.length - 1]!)),
  };
}

/**
 * A pod's mode signs as a file may hold them (FILE_LIMITS): the model's words unchanged
 * within the limits; past them, the last sign says how many more there were and a sign
 * too long ends in "…", so a frozen session always imports.
 */
export function fileSafeSigns(signs: readonly string[]): string[] {
  const max = FILE_LIMITS.stringLength;
  const cut = (s: string) => {
    if (s.length <= max) return s;
    // Not between the halves of a surrogate pair.
    const end = /[\uD800-\uDBFF]/.test(s[max - 2]!) ? max - 2 : max - 1;
    return `${s.slice(0, end)}…`;
  };
  if (signs.length <= FILE_LIMITS.modeSigns) return signs.map(cut);
  const kept = signs.slice(0, FILE_LIMITS.modeSigns - 1).map(cut);
  return [...kept, `…and ${signs.length - kept.length} more signs`];
}

const asWire = (h: Hist): Histogram => ({
  layout: h.layout,
  indexes: h.indexes,
  counts: h.counts,
  sumNs: h.sumNs,
});

export function sessionResults(input: {
  view: RangeView;
  target: CompiledTarget;
  load?: LoadResult;
  /** How long the load ran (its first start to its last end), for its actual rate. */
  loadSeconds?: number;
}): SessionResults {
  const { topology, costs, edgeEnds, hops, ends } = input.view;
  const seconds = Math.max(1e-3, (topology.toMs - topology.fromMs) / 1000);
  const pods = new Map(topology.pods.map((p) => [p.id, p]));
  const processes = new Map(topology.processes.map((p) => [p.id, p]));
  const sharedKinds = sharedProxyKinds(ends, hops, topology.pods, processes);
  const shared = new Set(sharedKinds.keys());
  const externals = new Map(topology.externals.map((e) => [e.id, e]));
  const targeted = (pod: TopologyPod | undefined) =>
    pod !== undefined &&
    input.target.matches({ namespace: pod.namespace, name: pod.name, labels: pod.labels });
  const podOf = (nodeId: string) => {
    const p = processes.get(nodeId);
    return p?.pod ? pods.get(p.pod) : undefined;
  };
  const stableName = (nodeId: string) => {
    const p = processes.get(nodeId);
    if (p) {
      const pod = p.pod ? pods.get(p.pod) : undefined;
      const role = sharedKinds.get(p.id) ?? p.role;
      return pod ? `${pod.namespace}/${pod.name}/${role}` : `${p.node}/${p.comm}/${role}`;
    }
    const e = externals.get(nodeId)!;
    return e.name ?? (e.port > 0 ? `${e.address}:${e.port}` : e.address);
  };

  // The node proxies holding sockets in each pod's namespace.
  const servedBy = new Map<string, Set<string>>();
  for (const x of [...ends, ...hops]) {
    if (!x.socketPod || !shared.has(x.processKey)) continue;
    servedBy.set(x.socketPod, (servedBy.get(x.socketPod) ?? new Set()).add(x.processKey));
  }
  const carriers: Carrier[] = [];
  const carry = (kind: ProxyKind, pod: TopologyPod, keys: Iterable<string>) => {
    for (const key of keys) {
      const process = processes.get(key);
      if (process) carriers.push({ kind, pod: `${pod.namespace}/${pod.name}`, process });
    }
  };
  const waypointPart = (w: NonNullable<PodCost['waypoint']>): WaypointPart => {
    const home = processes.get(w.process)?.pod;
    const pod = home ? pods.get(home) : undefined;
    return {
      proxy: w.proxy,
      pod: pod ? `${pod.namespace}/${pod.name}` : '',
      share: w.share.share ?? 0,
      shareMethod: w.share.method,
      shares: methodShares(w.share.byMethod),
      measured: w.cost !== null,
      cpuMsPerThousandRequests: w.cost?.cpuMsPer1kRequests ?? 0,
      memMb: w.cost?.rssMb ?? 0,
      cpuMcores: w.cost?.millicores ?? 0,
    };
  };

  // Pods: hop histograms of the proxy per direction, and costs from the cost model.
  const podResults: PodResult[] = [];
  const sidecars: SidecarResources[] = [];
  for (const cost of costs) {
    const pod = pods.get(cost.pod);
    if (!targeted(pod)) continue;
    // Its own sidecars (proxies in it that serve no other pod), as the cost model counts them.
    if (cost.mode === 'sidecar')
      carry(
        'sidecar',
        pod!,
        pod!.processes.filter((k) => isOwnSidecar(processes.get(k), shared)),
      );
    if (cost.mode === 'ambient' || cost.mode === 'ambient+waypoint')
      carry('node-proxy', pod!, servedBy.get(pod!.id) ?? []);
    if (cost.waypoint) carry('waypoint', pod!, [cost.waypoint.process]);
    // Its sidecars' hops, or a node proxy's through its namespace (ambient mode).
    const ofDirection = (direction: 'inbound' | 'outbound') =>
      podMeshHops(pod!, processes, { ends, hops }, shared).filter((h) => h.direction === direction);
    const hop = (
      direction: 'inbound' | 'outbound',
      which: 'request_hop' | 'response_hop' | 'added',
    ) =>
      asWire(
        ofDirection(direction).reduce(
          (h, x) => merge(h, x.metrics.hists[which]!),
          emptyHistogram(),
        ),
      );
    // The newest method seen in the window, as the cost model reads it.
    const method = (direction: 'inbound' | 'outbound') =>
      methodOfCode(Math.max(0, ...ofDirection(direction).map((h) => h.metrics.maxes.method!)));
    const handoffEnds = (direction: 'inbound' | 'outbound') =>
      handoffEndsOfTiming(handoffTimingOf(handoffsByEndsOf(ofDirection(direction))));
    const unpaired = (direction: 'inbound' | 'outbound') =>
      ofDirection(direction).reduce((n, h) => n + h.metrics.sums.unpaired!, 0);
    const podRef = { namespace: pod!.namespace, name: pod!.name, labels: pod!.labels };
    podResults.push({
      pod: { ...podRef, uid: '', node: pod!.node, source: 'POD_SOURCE_UNSPECIFIED' },
      proxy: cost.proxy ?? '',
      inboundRequestHop: hop('inbound', 'request_hop'),
      inboundResponseHop: hop('inbound', 'response_hop'),
      outboundRequestHop: hop('outbound', 'request_hop'),
      outboundResponseHop: hop('outbound', 'response_hop'),
      requests: cost.requests,
      sidecarCpuMsPerThousandRequests: cost.sidecar?.cpuMsPer1kRequests ?? 0,
      sidecarMemMb: cost.sidecar?.rssMb ?? 0,
      appCpuMsPerThousandRequests: cost.app?.cpuMsPer1kRequests ?? 0,
      appMemMb: cost.app?.rssMb ?? 0,
      inboundAdded: hop('inbound', 'added'),
      outboundAdded: hop('outbound', 'added'),
      inboundMethod: method('inbound'),
      outboundMethod: method('outbound'),
      inboundUnpaired: unpaired('inbound'),
      outboundUnpaired: unpaired('outbound'),
      meshMode: cost.mode,
      proxyShare: cost.proxyShare?.share ?? 0,
      proxyShareMethod: cost.proxyShare?.method ?? '',
      modeSigns: fileSafeSigns(cost.modeSigns),
      proxyShares: cost.proxyShare ? methodShares(cost.proxyShare.byMethod) : [],
      sidecarCpuMcores: cost.sidecar?.millicores ?? 0,
      waypoints: cost.waypoint ? [waypointPart(cost.waypoint)] : [],
      // The sidecar_* zeros above are no figures where the proxy was not measured.
      proxyUnmeasured: cost.sidecarUnmeasured ?? '',
      proxyProcesses: cost.proxyShare?.processes ?? [],
      inboundHandoffEnds: handoffEnds('inbound'),
      outboundHandoffEnds: handoffEnds('outbound'),
    });
    // SMPS's sidecars are sidecars: a shared proxy's part is in the pod's result.
    if (cost.sidecar && cost.mode === 'sidecar') {
      sidecars.push({
        pod: { ...podRef, uid: '', node: pod!.node, source: 'POD_SOURCE_UNSPECIFIED' },
        proxy: cost.proxy ?? '',
        cpuMcores: cost.sidecar.millicores,
        memMb: cost.sidecar.rssMb ?? 0,
      });
    }
  }

  // Edges touching the target, merged by stable name.
  interface Draft {
    client: string;
    server: string;
    port: number;
    clientEnds: Hist;
    serverEnds: Hist;
    connect: Hist;
    srtt: Hist;
    bytesSent: number;
    bytesReceived: number;
    retransmits: number;
    resets: number;
    exchanges: number;
    entry: boolean;
  }
  const drafts = new Map<string, Draft>();
  // Pods that other pods (or peers outside) call; a pod that only calls is a load source.
  const receivers = new Set<string>();
  for (const e of topology.edges) {
    const to = podOf(e.target);
    if (to && podOf(e.source)?.id !== to.id) receivers.add(to.id);
  }
  for (const edge of topology.edges) {
    const sourcePod = podOf(edge.source);
    const targetPod = podOf(edge.target);
    if (!targeted(sourcePod) && !targeted(targetPod)) continue;
    const ends = edgeEnds.get(edge.id)!;
    const client = stableName(edge.source);
    const server = stableName(edge.target);
    const id = `${client}>${server}:${edge.port}`;
    let d = drafts.get(id);
    if (!d) {
      d = {
        client,
        server,
        port: edge.port,
        clientEnds: emptyHistogram(),
        serverEnds: emptyHistogram(),
        connect: emptyHistogram(),
        srtt: emptyHistogram(),
        bytesSent: 0,
        bytesReceived: 0,
        retransmits: 0,
        resets: 0,
        exchanges: 0,
        // Into the target from outside it, or from a pod that only calls (a load source).
        entry:
          targeted(targetPod) &&
          sourcePod?.id !== targetPod?.id &&
          (!targeted(sourcePod) || !receivers.has(sourcePod!.id)),
      };
      drafts.set(id, d);
    }
    const hist = (list: readonly { metrics: { hists: Record<string, Hist> } }[], c: string) =>
      list.reduce((h, e) => merge(h, e.metrics.hists[c]!), emptyHistogram());
    // A multiplexed edge's send-to-reply times are no request's latency (TopologyEdge):
    // none enter the session's edges or its headline; its requests count as the
    // topology counts them (requestsOf).
    if (!edge.multiplexed) {
      d.clientEnds = merge(d.clientEnds, hist(ends.client, 'exchange_latency'));
      d.serverEnds = merge(d.serverEnds, hist(ends.server, 'exchange_latency'));
    }
    d.connect = merge(d.connect, hist(ends.client, 'connect_latency'));
    d.srtt = merge(d.srtt, hist([...ends.client, ...ends.server], 'srtt'));
    const main: EndSummary = edge.client ?? edge.server!;
    d.bytesSent += edge.client ? edge.client.bytesSent : edge.server!.bytesReceived;
    d.bytesReceived += edge.client ? edge.client.bytesReceived : edge.server!.bytesSent;
    d.retransmits += (edge.client?.retransmits ?? 0) + (edge.server?.retransmits ?? 0);
    d.resets += (edge.client?.resetsSent ?? 0) + (edge.server?.resetsSent ?? 0);
    d.exchanges += requestsOf(main);
  }
  const edges: EdgeResult[] = [];
  let entryLatency = emptyHistogram();
  let entryExchanges = 0;
  for (const [id, d] of drafts) {
    edges.push({
      id,
      client: d.client,
      server: d.server,
      clientExchangeLatency: asWire(d.clientEnds),
      serverExchangeLatency: asWire(d.serverEnds),
      connectLatency: asWire(d.connect),
      srtt: asWire(d.srtt),
      bytesSent: d.bytesSent,
      bytesReceived: d.bytesReceived,
      retransmits: d.retransmits,
      resets: d.resets,
      actualQps: round(d.exchanges / seconds),
      port: d.port,
      exchanges: d.exchanges,
    });
    // What a caller of the target waits: its own end when traced, else the server's.
    const waited = totalCount(d.clientEnds) > 0 ? d.clientEnds : d.serverEnds;
    if (d.entry && totalCount(waited) > 0) {
      entryLatency = merge(entryLatency, waited);
      entryExchanges += d.exchanges;
    }
  }

  const load = input.load?.latency;
  const fromLoad = load !== undefined && totalCount(load as Hist) > 0;
  const headline = fromLoad ? (load as Hist) : entryLatency;
  return {
    pods: podResults.sort((a, b) =>
      `${a.pod!.namespace}/${a.pod!.name}` < `${b.pod!.namespace}/${b.pod!.name}` ? -1 : 1,
    ),
    edges: byId(edges),
    sidecars,
    latenciesMs: latencySummary(headline),
    actualQps: fromLoad
      ? round(input.load!.requests / Math.max(1e-3, input.loadSeconds ?? seconds))
      : round(entryExchanges / seconds),
    latencySource: fromLoad ? 'load' : entryExchanges > 0 ? 'entry' : '',
    workloads: podResults.map((p) => `${p.pod!.namespace}/${p.pod!.name}`),
    carriers,
  };
}
