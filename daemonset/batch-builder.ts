// One interval of kernel records -> the content of one batch: edge reports with their
// histograms and sampled connections, and hop reports per sidecar and direction. Pure:
// identities and directions come from the functions it is given.

import {
  type EdgeKey,
  type EdgeRecord,
  type HistRecord,
  HOP_COUNTERS,
  type HopCounter,
  type HopRecord,
  type IntervalRecord,
  type TupleRecord,
} from '../probes/records.js';
import { HISTOGRAM_SUMS, wireCounters } from '../proto/edge-metrics.js';
import type {
  ConnectionTuple,
  EdgeReport,
  HandoffEnds,
  HopMethod,
  HopReport,
  Init,
  PodRef,
} from '../proto/gen/tollgate/v1.js';
import type { Layout, SparseHistogram } from '../proto/histogram.js';
import {
  addHopCounters,
  HOP_HISTOGRAM_SUMS,
  type HopHistogram,
  type HopReportCounterName,
  zeroHopReportCounters,
} from '../proto/hop-metrics.js';

export type Direction = 'DIRECTION_INBOUND' | 'DIRECTION_OUTBOUND';

type EdgeKeyed = HistRecord | TupleRecord;

/** An interval's records, gathered as they arrive. */
export class IntervalRecords {
  edges: EdgeRecord[] = [];
  hists: HistRecord[] = [];
  tuples: TupleRecord[] = [];
  /** Per proxy listener, what its hops amounted to (keyed like the hop histograms). */
  hops: HopRecord[] = [];
  /** Strays carried in from the interval before: carried once, never twice. */
  readonly carried = new Set<EdgeKeyed>();

  add(r: EdgeRecord | EdgeKeyed | HopRecord): void {
    if (r.type === 'edge') this.edges.push(r);
    else if (r.type === 'hist') this.hists.push(r);
    else if (r.type === 'hop') this.hops.push(r);
    else this.tuples.push(r);
  }

  /** Takes the strays of the interval before (see `strays` in buildInterval). */
  carry(strays: readonly EdgeKeyed[]): void {
    for (const r of strays) {
      this.add(r);
      this.carried.add(r);
    }
  }

  /**
   * The processes this interval reports: those of its edges and hops. A bucket or tuple
   * without its edge (a hop bucket without its listener's counts) is a stray, carried to
   * the next interval: its process is named there (a process born between the runner's
   * swaps may be told of after this one).
   */
  get tgids(): Set<number> {
    return new Set([...this.edges, ...this.hops].map((r) => r.key.tgid));
  }
}

/** Hop histograms are keyed by a sidecar's listener, not by an edge of the interval. */
const isHop = (h: HistRecord) =>
  h.metric === 'hop_request' || h.metric === 'hop_response' || h.metric === 'hop_added';

/**
 * An edge report's identity, the socket's namespace included: a node proxy's ends in
 * different pods' namespaces are reported apart, each naming its pod (socketPod).
 */
export const keyString = (k: EdgeKey) =>
  `${k.tgid}|${k.netnsInode}|${k.side}|${k.localAddress}|${k.remoteAddress}|${k.servicePort}`;

/**
 * The pod whose namespace holds a key's sockets when that is not its process's own (a
 * node proxy serving that pod); undefined for every other process, and where unknown.
 */
export type SocketPod = (key: EdgeKey) => Init<PodRef> | undefined;

interface HistogramDraft {
  layout: Layout;
  buckets: Map<number, number>;
}

function toHistogram(
  d: HistogramDraft | undefined,
  sumNs: number | undefined,
): SparseHistogram | undefined {
  if (!d) return undefined;
  const indexes = [...d.buckets.keys()].sort((a, b) => a - b);
  return {
    layout: d.layout,
    indexes,
    counts: indexes.map((i) => d.buckets.get(i)!),
    sumNs: sumNs ?? 0,
  };
}

/**
 * Which way traffic flows through a sidecar's listener: known ports first (Istio 15001
 * outbound, 15006 inbound; Linkerd 4140 outbound, 4143 inbound), else learned: a listener
 * whose callers are the pod itself (loopback, or an address the sidecar also uses as its
 * own) carries the app's outbound calls; one called from elsewhere is inbound.
 * What is learned is forgotten when its listener has not been seen for `ttlMs` (every
 * server process's listeners are learned, and processes come and go), and at most
 * `maxEntries` are kept, the one seen longest ago going first (counted in `evicted`).
 */
export class DirectionLearner {
  /** In order of last sighting: the first was seen longest ago. */
  private readonly learned = new Map<string, { direction: Direction; seenMs: number }>();
  evicted = 0;

  constructor(
    private readonly ports: ReadonlyMap<number, Direction> = new Map([
      [15001, 'DIRECTION_OUTBOUND'],
      [15006, 'DIRECTION_INBOUND'],
      // Ambient mode's tunnel (HBONE): a node proxy's inbound from other node proxies.
      [15008, 'DIRECTION_INBOUND'],
      [4140, 'DIRECTION_OUTBOUND'],
      [4143, 'DIRECTION_INBOUND'],
    ]),
    private readonly limits = { ttlMs: 3_600_000, maxEntries: 65_536 },
  ) {}

  get size(): number {
    return this.learned.size;
  }

  observe(edges: readonly EdgeRecord[], nowMs = Date.now()): void {
    // A process's own addresses, per namespace of its sockets: a node proxy's in one pod
    // are not its addresses in another.
    const where = (k: EdgeKey) => `${k.tgid}:${k.netnsInode}`;
    const ownAddresses = new Map<string, Set<string>>();
    for (const e of edges) {
      const own = ownAddresses.get(where(e.key)) ?? new Set<string>();
      own.add(e.key.localAddress);
      ownAddresses.set(where(e.key), own);
    }
    for (const e of edges) {
      if (e.key.side !== 'server') continue;
      const fromPod =
        e.key.remoteAddress.startsWith('127.') ||
        e.key.remoteAddress === '::1' ||
        (ownAddresses.get(where(e.key))?.has(e.key.remoteAddress) ?? false);
      const key = `${e.key.tgid}:${e.key.servicePort}`;
      const known = this.learned.get(key);
      // Inbound wins once seen: a listener reached from other pods is not the app's exit.
      const direction: Direction =
        !fromPod || known?.direction === 'DIRECTION_INBOUND'
          ? 'DIRECTION_INBOUND'
          : 'DIRECTION_OUTBOUND';
      this.learned.delete(key);
      this.learned.set(key, { direction, seenMs: nowMs });
    }
    for (const [key, entry] of this.learned) {
      const stale = nowMs - entry.seenMs >= this.limits.ttlMs;
      if (!stale && this.learned.size <= this.limits.maxEntries) break;
      this.learned.delete(key);
      if (!stale) this.evicted++;
    }
  }

  direction(tgid: number, port: number): Direction | undefined {
    return this.ports.get(port) ?? this.learned.get(`${tgid}:${port}`)?.direction;
  }

  forget(tgid: number): void {
    for (const key of this.learned.keys()) if (key.startsWith(`${tgid}:`)) this.learned.delete(key);
  }
}

export interface BuiltInterval {
  edges: Init<EdgeReport>[];
  hops: Init<HopReport>[];
  /**
   * Hops of listeners whose direction is not known yet (or whose listener is unknown:
   * port 0), dropped: their request and response hops plus their unmatched forwards.
   */
  hopsWithoutDirection: number;
  /** Hops through the mesh's own listeners (MESH_MANAGEMENT_PORTS): left out. */
  meshManagementHops: number;
  /** Edge records without a service port (nothing to name or join them by): left out. */
  edgesWithoutPort: number;
  /** Sampled connections without one of their ports: left out (the join has the others). */
  tuplesWithoutPort: number;
  /**
   * Histogram buckets and tuples of edges with no record this interval, and hop buckets
   * of listeners with no hop record, for the next. The runner turns the edges' interval
   * and swaps the hop counts a moment before the others, so an event in between counts
   * in the next interval while its bucket or tuple lands in this one.
   */
  strays: EdgeKeyed[];
  /** Strays still without their edge or listener's counts after being carried once: dropped. */
  straysDropped: number;
}

/**
 * Where an interval's handed-off hops began and ended, as the runner says in its interval
 * record: at the two threads' switches onto a CPU where its context-switch hook was
 * attached whenever a proxy was listed, else at their reads (handoff.bpf.h, woke_at).
 */
export const handoffEndsOf = (interval: Pick<IntervalRecord, 'handoffWakeUps'>): HandoffEnds =>
  interval.handoffWakeUps ? 'HANDOFF_ENDS_WAKE_UPS' : 'HANDOFF_ENDS_READS';

export function buildInterval(
  records: IntervalRecords,
  processRef: (tgid: number) => { pid: number; startTimeTicks: number } | undefined,
  directions: DirectionLearner,
  socketPod: SocketPod = () => undefined,
  /** Unspecified where the caller does not say (see handoffEndsOf). */
  handoffEnds: HandoffEnds = 'HANDOFF_ENDS_UNSPECIFIED',
): BuiltInterval {
  directions.observe(records.edges);
  const edgeIds = new Set(records.edges.map((e) => keyString(e.key)));
  const strays: EdgeKeyed[] = [];
  let straysDropped = 0;
  /** Keeps a record for the next interval, or drops it if it was carried once already. */
  const stray = (r: EdgeKeyed): false => {
    if (records.carried.has(r)) straysDropped++;
    else strays.push(r);
    return false;
  };
  /** Whether an edge-keyed record belongs to an edge of this interval; keeps the strays. */
  const belongs = (r: EdgeKeyed): boolean => edgeIds.has(keyString(r.key)) || stray(r);
  const hists = new Map<string, HistogramDraft>();
  for (const h of records.hists) {
    if (isHop(h) || !belongs(h)) continue;
    const id = `${keyString(h.key)}#${h.metric}`;
    let d = hists.get(id);
    if (!d) {
      d = { layout: h.layout, buckets: new Map() };
      hists.set(id, d);
    }
    d.buckets.set(h.bucket, (d.buckets.get(h.bucket) ?? 0) + h.count);
  }
  const tuples = new Map<string, Init<ConnectionTuple>[]>();
  let tuplesWithoutPort = 0;
  for (const t of records.tuples) {
    if (!belongs(t)) continue;
    const k = t.key;
    // The peer's address from the tuple itself: a folded edge's key has none.
    const tuple =
      k.side === 'client'
        ? {
            client: { address: k.localAddress, port: t.localPort },
            server: { address: t.remoteAddress, port: t.remotePort },
            clientIsn: t.clientIsn,
          }
        : {
            client: { address: t.remoteAddress, port: t.remotePort },
            server: { address: k.localAddress, port: t.localPort },
            clientIsn: t.clientIsn,
          };
    // The contract needs both ports; one bad sample must not cost the whole batch.
    if (!tuple.client.port || !tuple.server.port) {
      tuplesWithoutPort++;
      continue;
    }
    const id = keyString(k);
    tuples.set(id, [...(tuples.get(id) ?? []), tuple]);
  }

  const edges: Init<EdgeReport>[] = [];
  let edgesWithoutPort = 0;
  for (const e of records.edges) {
    const ref = processRef(e.key.tgid);
    if (!ref || e.key.side === 'unknown') continue;
    // Seen under load with the collector away: a record keyed by port 0. The wire
    // contract needs the service port, and one bad record must not cost the whole batch.
    if (e.key.servicePort === 0) {
      edgesWithoutPort++;
      continue;
    }
    const id = keyString(e.key);
    const client = e.key.side === 'client';
    const hist = (metric: HistRecord['metric']) => hists.get(`${id}#${metric}`);
    edges.push({
      process: ref,
      side: client ? 'CONNECTION_SIDE_CLIENT' : 'CONNECTION_SIDE_SERVER',
      local: { address: e.key.localAddress, port: client ? 0 : e.key.servicePort },
      remote: { address: e.key.remoteAddress, port: client ? e.key.servicePort : 0 },
      socketPod: socketPod(e.key),
      ...wireCounters(e),
      // The kernel keeps exact sums beside the buckets: the means stay exact.
      connectLatency: toHistogram(hist('connect_latency'), e[HISTOGRAM_SUMS.connect_latency]),
      exchangeLatency: toHistogram(hist('exchange_latency'), e[HISTOGRAM_SUMS.exchange_latency]),
      srtt: toHistogram(hist('srtt'), e[HISTOGRAM_SUMS.srtt]),
      connections: tuples.get(id) ?? [],
    });
  }

  // A hop's buckets and counts are swapped apart like an edge's: a hop event between
  // the runner's swaps has its counts in the next interval and its buckets in this one.
  // Buckets of a listener without counts here wait for them there; counted once, never
  // taken for requests of their own.
  const counted = new Set(records.hops.map((r) => listenerId(r.key)));
  const hopHists = records.hists.filter(
    (h) => isHop(h) && (counted.has(listenerId(h.key)) || stray(h)),
  );
  const hopReports = buildHops(
    records.hops,
    hopHists,
    processRef,
    directions,
    socketPod,
    handoffEnds,
  );
  return {
    edges,
    hops: hopReports.hops,
    hopsWithoutDirection: hopReports.withoutDirection,
    meshManagementHops: hopReports.management,
    edgesWithoutPort,
    tuplesWithoutPort,
    strays,
    straysDropped,
  };
}

const drafted = (d: HistogramDraft | undefined, h: HistRecord): HistogramDraft => {
  const draft = d ?? { layout: h.layout, buckets: new Map<number, number>() };
  draft.buckets.set(h.bucket, (draft.buckets.get(h.bucket) ?? 0) + h.count);
  return draft;
};

const countOf = (d: HistogramDraft | undefined) => {
  let n = 0;
  for (const c of d?.buckets.values() ?? []) n += c;
  return n;
};

/** One proxy listener's interval: its hop histograms and its counts. */
interface ListenerDraft {
  key: EdgeKey;
  request?: HistogramDraft;
  response?: HistogramDraft;
  added?: HistogramDraft;
  stats: Record<HopCounter, number>;
}

interface ReportDraft {
  process: { pid: number; startTimeTicks: number };
  direction: Direction;
  socketPod: Init<PodRef> | undefined;
  request?: HistogramDraft;
  response?: HistogramDraft;
  added?: HistogramDraft;
  /** Each histogram's exact sum, the kernel's. */
  sumNs: Record<HopHistogram, number>;
  counters: Record<HopReportCounterName, number>;
}

const HOP_HISTOGRAMS = Object.keys(HOP_HISTOGRAM_SUMS) as HopHistogram[];

const mergeDraft = (into: HistogramDraft | undefined, from: HistogramDraft | undefined) => {
  if (!from) return into;
  const draft = into ?? { layout: from.layout, buckets: new Map<number, number>() };
  for (const [index, count] of from.buckets)
    draft.buckets.set(index, (draft.buckets.get(index) ?? 0) + count);
  return draft;
};

/**
 * Hop histograms and hop records are keyed by the sidecar's listener; a report is one
 * sidecar in one direction, all its listeners of that direction together.
 */
/**
 * A mesh's own listeners on a sidecar: admin, health checks and metrics (Envoy's admin
 * 15000 and Prometheus 15090, Istio's pilot-agent 15004, 15020 and 15021, Linkerd's
 * admin 4191). The kubelet's probes and Prometheus's scrapes go through them, not the
 * app's requests: their hops are not the sidecar's added latency.
 */
export const MESH_MANAGEMENT_PORTS: ReadonlySet<number> = new Set([
  15000, 15004, 15020, 15021, 15090, 4191,
]);

/** A proxy listener's identity: what its hop buckets and hop records are keyed by. */
const listenerId = (key: EdgeKey) => `${key.tgid}:${key.netnsInode}:${key.servicePort}`;

/**
 * Hop reports from the listeners with counts this interval (hopRecords), each with its
 * buckets (hopHists, every one of a listener among them).
 */
function buildHops(
  hopRecords: readonly HopRecord[],
  hopHists: readonly HistRecord[],
  processRef: (tgid: number) => { pid: number; startTimeTicks: number } | undefined,
  directions: DirectionLearner,
  socketPod: SocketPod,
  handoffEnds: HandoffEnds,
): { hops: Init<HopReport>[]; withoutDirection: number; management: number } {
  const listeners = new Map<string, ListenerDraft>();
  for (const r of hopRecords) {
    const id = listenerId(r.key);
    let l = listeners.get(id);
    if (!l) {
      const stats = Object.fromEntries(HOP_COUNTERS.map((c) => [c, 0]));
      l = { key: r.key, stats: stats as Record<HopCounter, number> };
      listeners.set(id, l);
    }
    for (const c of HOP_COUNTERS) l.stats[c] += r[c];
  }
  for (const h of hopHists) {
    // Every bucket's listener has its counts here: buildInterval set the others aside.
    const l = listeners.get(listenerId(h.key));
    if (!l) throw new Error(`hop buckets of ${listenerId(h.key)} without its counts`);
    if (h.metric === 'hop_request') l.request = drafted(l.request, h);
    else if (h.metric === 'hop_response') l.response = drafted(l.response, h);
    else l.added = drafted(l.added, h);
  }
  // The runner, the one source of hops (the bpftrace fallback has none), times every hop
  // from the bytes' arrival.
  const method: HopMethod = 'HOP_METHOD_ARRIVAL_TO_FORWARD';

  const reports = new Map<string, ReportDraft>();
  let withoutDirection = 0;
  let management = 0;
  for (const l of listeners.values()) {
    if (MESH_MANAGEMENT_PORTS.has(l.key.servicePort)) {
      management += countOf(l.request) + countOf(l.response);
      continue;
    }
    const ref = processRef(l.key.tgid);
    const direction =
      l.key.servicePort === 0 ? undefined : directions.direction(l.key.tgid, l.key.servicePort);
    if (!ref || !direction) {
      withoutDirection += countOf(l.request) + countOf(l.response) + l.stats.unmatchedForwards;
      continue;
    }
    // A sidecar's listeners are all in its namespace; a node proxy's hops are reported
    // per pod it serves.
    const id = `${l.key.tgid}/${direction}/${l.key.netnsInode}`;
    let report = reports.get(id);
    if (!report) {
      report = {
        process: ref,
        direction,
        socketPod: socketPod(l.key),
        sumNs: { request_hop: 0, response_hop: 0, added: 0 },
        counters: zeroHopReportCounters(),
      };
      reports.set(id, report);
    }
    report.request = mergeDraft(report.request, l.request);
    report.response = mergeDraft(report.response, l.response);
    report.added = mergeDraft(report.added, l.added);
    // The kernel's exact sums and counts, into HopReport's as proto/hop-metrics.ts says.
    for (const h of HOP_HISTOGRAMS) report.sumNs[h] += l.stats[HOP_HISTOGRAM_SUMS[h]];
    addHopCounters(report.counters, l.stats);
  }
  return {
    hops: [...reports.values()].map((r) => ({
      process: r.process,
      direction: r.direction,
      socketPod: r.socketPod,
      requestHop: toHistogram(r.request, r.sumNs.request_hop),
      responseHop: toHistogram(r.response, r.sumNs.response_hop),
      added: toHistogram(r.added, r.sumNs.added),
      ...r.counters,
      method,
      handoffEnds,
    })),
    withoutDirection,
    management,
  };
}
