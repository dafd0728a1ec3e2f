// One interval of kernel records -> the content of one batch: edge reports with their
// histograms and sampled connections, and hop reports per sidecar and direction. Pure:
// identities and directions come from the functions it is given.

import type { EdgeKey, EdgeRecord, HistRecord, TupleRecord } from '../probes/records.js';
import type { ConnectionTuple, EdgeReport, HopReport, Init } from '../proto/gen/tollgate/v1.js';
import { bucketValue, type Layout, type SparseHistogram } from '../proto/histogram.js';

export type Direction = 'DIRECTION_INBOUND' | 'DIRECTION_OUTBOUND';

type EdgeKeyed = HistRecord | TupleRecord;

/** An interval's records, gathered as they arrive. */
export class IntervalRecords {
  edges: EdgeRecord[] = [];
  hists: HistRecord[] = [];
  tuples: TupleRecord[] = [];
  /** Strays carried in from the interval before: carried once, never twice. */
  readonly carried = new Set<EdgeKeyed>();

  add(r: EdgeRecord | EdgeKeyed): void {
    if (r.type === 'edge') this.edges.push(r);
    else if (r.type === 'hist') this.hists.push(r);
    else this.tuples.push(r);
  }

  /** Takes the strays of the interval before (see `strays` in buildInterval). */
  carry(strays: readonly EdgeKeyed[]): void {
    for (const r of strays) {
      this.add(r);
      this.carried.add(r);
    }
  }

  get tgids(): Set<number> {
    return new Set([...this.edges, ...this.hists, ...this.tuples].map((r) => r.key.tgid));
  }
}

/** Hop histograms are keyed by a sidecar's listener, not by an edge of the interval. */
const isHop = (h: HistRecord) => h.metric === 'hop_request' || h.metric === 'hop_response';

export const keyString = (k: EdgeKey) =>
  `${k.tgid}|${k.side}|${k.localAddress}|${k.remoteAddress}|${k.servicePort}`;

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
 */
export class DirectionLearner {
  private readonly learned = new Map<string, Direction>();

  constructor(
    private readonly ports: ReadonlyMap<number, Direction> = new Map([
      [15001, 'DIRECTION_OUTBOUND'],
      [15006, 'DIRECTION_INBOUND'],
      [4140, 'DIRECTION_OUTBOUND'],
      [4143, 'DIRECTION_INBOUND'],
    ]),
  ) {}

  observe(edges: readonly EdgeRecord[]): void {
    const ownAddresses = new Map<number, Set<string>>();
    for (const e of edges) {
      const own = ownAddresses.get(e.key.tgid) ?? new Set<string>();
      own.add(e.key.localAddress);
      ownAddresses.set(e.key.tgid, own);
    }
    for (const e of edges) {
      if (e.key.side !== 'server') continue;
      const fromPod =
        e.key.remoteAddress.startsWith('127.') ||
        e.key.remoteAddress === '::1' ||
        (ownAddresses.get(e.key.tgid)?.has(e.key.remoteAddress) ?? false);
      const key = `${e.key.tgid}:${e.key.servicePort}`;
      // Inbound wins once seen: a listener reached from other pods is not the app's exit.
      if (!fromPod) this.learned.set(key, 'DIRECTION_INBOUND');
      else if (!this.learned.has(key)) this.learned.set(key, 'DIRECTION_OUTBOUND');
    }
  }

  direction(tgid: number, port: number): Direction | undefined {
    return this.ports.get(port) ?? this.learned.get(`${tgid}:${port}`);
  }

  forget(tgid: number): void {
    for (const key of this.learned.keys()) if (key.startsWith(`${tgid}:`)) this.learned.delete(key);
  }
}

export interface BuiltInterval {
  edges: Init<EdgeReport>[];
  hops: Init<HopReport>[];
  /** Hop histograms whose listener's direction is not known yet (dropped). */
  hopsWithoutDirection: number;
  /** Edge records without a service port (nothing to name or join them by): left out. */
  edgesWithoutPort: number;
  /**
   * Histogram buckets and tuples of edges with no record this interval, for the next.
   * The runner swaps the edge map a moment before the others, so an event in between
   * counts in the next interval's edge while its bucket or tuple lands in this one.
   */
  strays: EdgeKeyed[];
  /** Strays still without their edge after being carried once: dropped. */
  straysDropped: number;
}

export function buildInterval(
  records: IntervalRecords,
  processRef: (tgid: number) => { pid: number; startTimeTicks: number } | undefined,
  directions: DirectionLearner,
): BuiltInterval {
  directions.observe(records.edges);
  const edgeIds = new Set(records.edges.map((e) => keyString(e.key)));
  const strays: EdgeKeyed[] = [];
  let straysDropped = 0;
  /** Whether an edge-keyed record belongs to an edge of this interval; keeps the strays. */
  const belongs = (r: EdgeKeyed): boolean => {
    if (edgeIds.has(keyString(r.key))) return true;
    if (records.carried.has(r)) straysDropped++;
    else strays.push(r);
    return false;
  };
  const hists = new Map<string, HistogramDraft>();
  for (const h of records.hists) {
    if (!isHop(h) && !belongs(h)) continue;
    const id = `${keyString(h.key)}#${h.metric}`;
    let d = hists.get(id);
    if (!d) {
      d = { layout: h.layout, buckets: new Map() };
      hists.set(id, d);
    }
    d.buckets.set(h.bucket, (d.buckets.get(h.bucket) ?? 0) + h.count);
  }
  const tuples = new Map<string, Init<ConnectionTuple>[]>();
  for (const t of records.tuples) {
    if (!belongs(t)) continue;
    const k = t.key;
    const tuple =
      k.side === 'client'
        ? {
            client: { address: k.localAddress, port: t.localPort },
            server: { address: k.remoteAddress, port: t.remotePort },
            clientIsn: t.clientIsn,
          }
        : {
            client: { address: k.remoteAddress, port: t.remotePort },
            server: { address: k.localAddress, port: t.localPort },
            clientIsn: t.clientIsn,
          };
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
      connects: e.connects,
      connectErrors: e.connectErrors,
      accepts: e.accepts,
      closes: e.closes,
      resetsSent: e.resetsSent,
      resetsReceived: e.resetsReceived,
      bytesSent: e.bytesSent,
      bytesReceived: e.bytesReceived,
      sendOps: e.sendOps,
      recvOps: e.recvOps,
      retransmits: e.retransmits,
      drops: e.drops,
      exchanges: e.exchanges,
      // The kernel keeps exact sums beside the buckets: the means stay exact.
      connectLatency: toHistogram(hist('connect_latency'), e.connectNsSum),
      exchangeLatency: toHistogram(hist('exchange_latency'), e.exchangeNsSum),
      srtt: toHistogram(hist('srtt'), e.srttNsSum),
      connections: tuples.get(id) ?? [],
    });
  }

  // Hop histograms are keyed by the sidecar's listener: one report per direction.
  const hops = new Map<
    string,
    Init<HopReport> & { request?: HistogramDraft; response?: HistogramDraft }
  >();
  let hopsWithoutDirection = 0;
  for (const h of records.hists) {
    if (!isHop(h)) continue;
    const ref = processRef(h.key.tgid);
    const direction = directions.direction(h.key.tgid, h.key.servicePort);
    if (!ref || !direction) {
      hopsWithoutDirection += h.count;
      continue;
    }
    const id = `${h.key.tgid}/${direction}`;
    let report = hops.get(id);
    if (!report) {
      report = { process: ref, direction, requests: 0, unpaired: 0 };
      hops.set(id, report);
    }
    const which = h.metric === 'hop_request' ? 'request' : 'response';
    report[which] ??= { layout: h.layout, buckets: new Map() };
    const d = report[which];
    d.buckets.set(h.bucket, (d.buckets.get(h.bucket) ?? 0) + h.count);
    if (which === 'request') report.requests = (report.requests ?? 0) + h.count;
  }
  const sumOf = (d: HistogramDraft | undefined) => {
    if (!d) return 0;
    // No kernel sum for hops: the bucket midpoints stand in (within the ~3% bucket error).
    let s = 0;
    for (const [index, count] of d.buckets) s += count * bucketValue(d.layout, index);
    return Math.round(s);
  };
  return {
    edges,
    hops: [...hops.values()].map(({ request, response, ...report }) => ({
      ...report,
      requestHop: toHistogram(request, sumOf(request)),
      responseHop: toHistogram(response, sumOf(response)),
    })),
    hopsWithoutDirection,
    edgesWithoutPort,
    strays,
    straysDropped,
  };
}
