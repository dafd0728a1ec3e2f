// What an agent's reports become in the store, whatever the engine: the series row of
// an edge or a hop report (columns as series.ts names them, histograms encoded), of a
// resource sample or an agent's cost report (its CPU the difference cpu-deltas.ts works
// out), the identity of the connection end or hop series it belongs to, and a
// pod's mesh signs as the pod_signs table keeps them. Pure.
import { WIRE_COUNTERS } from '../../proto/edge-metrics.js';
import type {
  AgentCost,
  EdgeReport,
  Histogram,
  HopReport,
  PodMeshSigns,
  PodRef,
  ResourceSample,
} from '../../proto/gen/tollgate/v1.js';
import { HOP_REPORT_COUNTERS } from '../../proto/hop-metrics.js';
import { meshLabels, NAMESPACE_MESH_LABELS, POD_MESH_LABELS } from '../../proto/mesh-signs.js';
import { podId } from '../model/ids.js';
import type { Row } from './aggregate.js';
import { encodeHistogram } from './histogram-blob.js';
import { DIRECTION_CODE, SIDE_CODE } from './identity-rows.js';
import { END_HISTS, METHOD_CODE } from './series.js';

/** A connection end as the ends table keys it, less its process. */
export interface EndIdentity {
  side: number;
  local: string;
  remote: string;
  /** The service port: what the client dialed, or what the server listens on. */
  port: number;
  socketPod: string;
}

export function endIdentity(edge: EdgeReport): EndIdentity {
  const side = SIDE_CODE[edge.side as keyof typeof SIDE_CODE];
  const client = side === SIDE_CODE.CONNECTION_SIDE_CLIENT;
  return {
    side,
    local: edge.local?.address ?? '',
    remote: edge.remote?.address ?? '',
    port: client ? (edge.remote?.port ?? 0) : (edge.local?.port ?? 0),
    socketPod: socketPodId(edge.socketPod),
  };
}

/** An edge report's row of its end's series. */
export function endRow(edge: EdgeReport): Row {
  const row: Row = {};
  for (const m of WIRE_COUNTERS) row[m.name] = edge[m.ts];
  for (const column of END_HISTS) row[column] = encodeHistogram(edge[END_HIST_FIELDS[column]]);
  return row;
}

/** An edge report's counters in its end series' column order (END_SUMS), into `out`. */
export function endValues(edge: EdgeReport, out: number[]): void {
  out.length = WIRE_COUNTERS.length;
  for (let i = 0; i < WIRE_COUNTERS.length; i++) out[i] = edge[WIRE_COUNTERS[i]!.ts];
}

/** An edge report's histograms in its end series' column order (END_HISTS). */
export function endHistograms(edge: EdgeReport): (Histogram | undefined)[] {
  return END_HISTS.map((column) => edge[END_HIST_FIELDS[column]]);
}

/** The edge report's field each histogram column of an end series holds. */
const END_HIST_FIELDS = {
  connect_latency: 'connectLatency',
  exchange_latency: 'exchangeLatency',
  srtt: 'srtt',
} as const satisfies Record<(typeof END_HISTS)[number], keyof EdgeReport>;

export function hopDirection(hop: HopReport): number {
  return DIRECTION_CODE[hop.direction as keyof typeof DIRECTION_CODE];
}

/** A hop report's row of its hop series. */
export function hopRow(hop: HopReport): Row {
  const handedOff = hop.handoffs + hop.replyHandoffs;
  return {
    ...Object.fromEntries(HOP_REPORT_COUNTERS.map((c) => [c.name, hop[c.ts]])),
    method: METHOD_CODE[hop.method],
    // Any other value (unspecified, a newer agent's) leaves its hand-offs not said.
    handoffs_at_wake_ups: hop.handoffEnds === 'HANDOFF_ENDS_WAKE_UPS' ? handedOff : 0,
    handoffs_at_reads: hop.handoffEnds === 'HANDOFF_ENDS_READS' ? handedOff : 0,
    request_hop: encodeHistogram(hop.requestHop),
    response_hop: encodeHistogram(hop.responseHop),
    added: encodeHistogram(hop.added),
  };
}

/** A resource sample's row of its process's series, its CPU the interval's (processCpuDelta). */
export function resourceRow(sample: ResourceSample, cpuNs: number): Row {
  return {
    cpu_ns: cpuNs,
    rss_bytes_sum: sample.rssBytes,
    samples: 1,
    rss_bytes_max: sample.rssBytes,
  };
}

/** An agent's cost report as a row of its agent's series, its CPU the interval's (agentCpuDelta). */
export function agentCostRow(
  cost: AgentCost,
  cpu: { agentCpuNs: number; runnerCpuNs: number },
): Row {
  return {
    agent_cpu_ns: cpu.agentCpuNs,
    runner_cpu_ns: cpu.runnerCpuNs,
    agent_rss_bytes_sum: cost.agentRssBytes,
    runner_rss_bytes_sum: cost.runnerRssBytes,
    samples: 1,
    agent_rss_bytes_max: cost.agentRssBytes,
    runner_rss_bytes_max: cost.runnerRssBytes,
  };
}

/** A pod's mesh signs as the pod_signs table keeps them (labels, owner and containers as JSON). */
export interface PodSignsUpsert {
  pod: string;
  namespaceLabels: string;
  labels: string;
  ownerKind: string;
  ownerName: string;
  sidecarContainers: string;
  /** When they were seen: the latest wins. */
  seen: number;
}

/** A pod's signs seen at `seen`: only the labels this collector reads as signs (validation bounded the rest). */
export function podSignsUpsert(signs: PodMeshSigns, seen: number): PodSignsUpsert {
  return {
    pod: podId(signs.namespace, signs.name),
    namespaceLabels: JSON.stringify(meshLabels(signs.namespaceLabels, NAMESPACE_MESH_LABELS)),
    labels: JSON.stringify(meshLabels(signs.labels, POD_MESH_LABELS)),
    ownerKind: signs.ownerKind,
    ownerName: signs.ownerName,
    sidecarContainers: JSON.stringify(signs.sidecarContainers),
    seen,
  };
}

/** The pod a node proxy's sockets serve, as the topology names pods; '' for the rest. */
export function socketPodId(pod: PodRef | undefined): string {
  return pod?.name ? podId(pod.namespace, pod.name) : '';
}
