// The counters of a proxy's hops, defined once, as proto/edge-metrics.ts defines an edge's.
// Two tables, because the kernel's counters and HopReport's are not the same list: the
// kernel counts exchanges paired and unpaired apart, HopReport carries the exchanges seen
// complete and, of those, the unpaired. From these tables:
//   - the kernel's struct tg_hop_stats and its field list (probes/src/counters.h,
//     generated), and so the runner's layout and the decoder's offsets;
//   - HopReport's counter fields (the generated block of proto/tollgate/v1/report.proto);
//   - the agent's hop reports (which kernel counters add into which field) and the store's
//     hop columns, with the migration that adds a new one.
// The collector's uses of each counter (coverage, validation, /metrics) are each their
// own and name the counters they read. Pure data: imported by the browser too.

/** The histograms of HopReport whose exact sum the kernel keeps in a counter. */
export type HopHistogram = 'request_hop' | 'response_hop' | 'added';

export interface HopReportCounter {
  /** In the .proto and in the store. */
  readonly name: string;
  /** In TypeScript: the generated messages, the agent's reports. */
  readonly ts: string;
  /** The .proto field's comment. */
  readonly doc: string;
  /** HopReport's field number: never changes. */
  readonly field: number;
  /** The store's schema version that added its column, if not the first. */
  readonly since?: number;
}

/** HopReport's counters, by field number (the store's column order). */
export const HOP_REPORT_COUNTERS = [
  {
    name: 'requests',
    ts: 'requests',
    doc: 'Downstream exchanges the sidecar saw complete in this direction: the count of `added` plus `unpaired`. From READ_TO_WRITE and UNSPECIFIED agents: request hops timed.',
    field: 5,
  },
  {
    name: 'unpaired',
    ts: 'unpaired',
    doc: 'Of `requests`, the exchanges left out of `added` because a hop could not be paired: replies multiplexed or pipelined on one upstream with no direction change between them (which write forwards which reply cannot be known), every exchange where both sides of the proxy carry many requests at once (gRPC end to end through it: its hops are timed on their own, in `request_hop` and `response_hop`), answers the proxy gave itself, a full pairing queue, an arrival that aged out. Always 0 from READ_TO_WRITE and UNSPECIFIED agents, which do not join exchanges.',
    field: 6,
  },
  {
    name: 'unmatched_forwards',
    ts: 'unmatchedForwards',
    doc: 'Forwards that found no pending arrival to pair with (health checks the proxy makes, further writes of a multiplexed stream): not in any histogram.',
    field: 8,
    since: 5,
  },
  {
    name: 'arrival_unknown',
    ts: 'arrivalUnknown',
    doc: "Hops timed from the proxy's read because the kernel never saw the bytes arrive (a socket adopted mid-life): they miss the time spent queued in the socket.",
    field: 9,
    since: 5,
  },
  {
    name: 'on_cpu_ns',
    ts: 'onCpuNs',
    doc: "The proxy threads' on-CPU time while serving this listener's sockets (in this direction and, for a node proxy, this pod's namespace): the run time the scheduler accounted to a thread from one of its socket events here to its next socket event, wherever that is. How a node proxy's CPU is split among the pods it serves (ShareMethod 'on-cpu').",
    field: 12,
    since: 10,
  },
  {
    name: 'handoffs',
    ts: 'handoffs',
    doc: "Of the request hops in `request_hop` and `added`, those that run on to the next reader's wake-up: the proxy's forward handed the request to a reader that was waiting for it, and the proxy had been waiting for the request too. Such a hop runs from the proxy's wake-up to that reader's (the proxy's own wake-up stands in for the one the reader would have had without it; what each runs of its own between its wake-up and its read is left to it, as the reader runs it without the proxy too). From the proxy's read to the reader's read where `handoff_ends` says READS (no context-switch hook, or its attach failed), and from agents before 2026-12-07. Also, from agents of 2026-12-04 on, requests the proxy was busy for, let go in a burst to a reader (no proxy) busy with the same thread's earlier forwards: from the arrival to the reader's read (busy with the burst, it has no wake-up of its own for this one), by at most what the burst took out of the requests' spacing. The others run from the arrival to the forward.",
    field: 13,
    since: 13,
  },
  {
    name: 'neighbour_wait_ns',
    ts: 'neighbourWaitNs',
    doc: "The time other processes' threads waited in a CPU's run queue while a thread of the proxy serving this listener ran on that CPU: the CPU the proxy took from its neighbours (its app, clients on its node), which no hop holds and of which an A/B measurement sees part as latency. Kernel threads, proxies' own waits and tasks outside the kernel filter are left out; 0 from kernels without the hook and older agents.",
    field: 14,
    since: 14,
  },
  {
    name: 'reply_handoffs',
    ts: 'replyHandoffs',
    doc: "Of the response hops in `response_hop` and `added`, those that run on to the client's wake-up: the proxy's write handed the reply to a client on its node that was waiting for it (a client that is no proxy), and the proxy had been waiting for the reply too. Such a hop runs from the proxy's wake-up by the reply to the client's wake-up (the proxy's own wake-up stands in for the one the client would have had without it; where `handoff_ends` says READS, and from agents before 2026-12-07, from the proxy's read of the reply to the client's read). Also, from agents of 2026-12-04 on, replies the proxy was busy for, let go in a burst to such a client busy with the same thread's earlier replies (its epoll woken by the last of them, the thread not asleep since): from the reply's arrival at the proxy to the client's read, by at most what the burst took out of the replies' spacing. The others run from the reply's arrival to its delivery by the proxy's write.",
    field: 15,
    since: 15,
  },
] as const satisfies readonly HopReportCounter[];

type ReportCounter = (typeof HOP_REPORT_COUNTERS)[number];

/** HopReport's counters, by their TypeScript names. */
export type HopReportCounterName = ReportCounter['ts'];

/** HopReport's counters, by the store's column names. */
export type HopCounterColumn = ReportCounter['name'];

/** Where a kernel hop counter goes past the kernel. */
export type HopMetricWire =
  /** Added into each of these counters of HopReport. */
  | { adds: readonly HopReportCounterName[] }
  /** The exact sum beside the buckets of this histogram of HopReport: its mean. */
  | { histogramSum: HopHistogram };

export interface HopMetric {
  /** In C. */
  readonly name: string;
  /** In TypeScript: the decoder's records. */
  readonly ts: string;
  /** The C field's comment. */
  readonly doc: string;
  readonly wire: HopMetricWire;
}

/**
 * The kernel's counters per (proxy, listener), keyed like its hop histograms, in the order
 * of its struct. Each downstream exchange (a request read, its reply written) ends either
 * paired, with both hops timed and summed into TG_METRIC_HOP_ADDED, or unpaired; the sums
 * are exact, so the means are too.
 */
export const HOP_METRICS = [
  {
    name: 'exchanges',
    ts: 'exchanges',
    doc: 'Downstream exchanges with both hops paired: the count of TG_METRIC_HOP_ADDED.',
    wire: { adds: ['requests'] },
  },
  {
    name: 'unpaired',
    ts: 'unpaired',
    doc: 'Downstream exchanges that ended with a hop missing.',
    wire: { adds: ['requests', 'unpaired'] },
  },
  {
    name: 'request_ns_sum',
    ts: 'requestNsSum',
    doc: 'The exact sum of TG_METRIC_HOP_REQUEST.',
    wire: { histogramSum: 'request_hop' },
  },
  {
    name: 'response_ns_sum',
    ts: 'responseNsSum',
    doc: 'The exact sum of TG_METRIC_HOP_RESPONSE.',
    wire: { histogramSum: 'response_hop' },
  },
  {
    name: 'added_ns_sum',
    ts: 'addedNsSum',
    doc: 'The exact sum of TG_METRIC_HOP_ADDED.',
    wire: { histogramSum: 'added' },
  },
  {
    name: 'unmatched_forwards',
    ts: 'unmatchedForwards',
    doc: 'Forwards that found no pending arrival to pair with.',
    wire: { adds: ['unmatchedForwards'] },
  },
  {
    name: 'arrival_unknown',
    ts: 'arrivalUnknown',
    doc: "Hops timed from the proxy's read: the arrival was not seen.",
    wire: { adds: ['arrivalUnknown'] },
  },
  {
    name: 'on_cpu_ns',
    ts: 'onCpuNs',
    doc: "Run time of the proxy's threads charged to this hop (charge_on_cpu).",
    wire: { adds: ['onCpuNs'] },
  },
  {
    name: 'handoffs',
    ts: 'handoffs',
    doc: "Request hops run on to the next reader: to its wake-up when handed to a waiting reader, to its read when carried to one busy with the thread's burst (handoff.bpf.h).",
    wire: { adds: ['handoffs'] },
  },
  {
    name: 'neighbour_wait_ns',
    ts: 'neighbourWaitNs',
    doc: "Run-queue wait of other processes' threads behind the proxy's threads (neighbours.bpf.h).",
    wire: { adds: ['neighbourWaitNs'] },
  },
  {
    name: 'reply_handoffs',
    ts: 'replyHandoffs',
    doc: "Response hops run on to the client: to its wake-up when handed to a waiting client, to its read when carried to one busy with the thread's burst (handoff.bpf.h).",
    wire: { adds: ['replyHandoffs'] },
  },
] as const satisfies readonly HopMetric[];

type Metric = (typeof HOP_METRICS)[number];

/** Every counter of a kernel hop record, by its TypeScript name. */
export type HopCounter = Metric['ts'];

export const HOP_COUNTERS: readonly HopCounter[] = HOP_METRICS.map((m) => m.ts);

/** The kernel counter that holds each histogram's exact sum, found once. */
export const HOP_HISTOGRAM_SUMS = Object.fromEntries(
  HOP_METRICS.flatMap((m) => ('histogramSum' in m.wire ? [[m.wire.histogramSum, m.ts]] : [])),
) as Record<HopHistogram, HopCounter>;

const ADDING: readonly { from: HopCounter; into: readonly HopReportCounterName[] }[] =
  HOP_METRICS.flatMap((m) => ('adds' in m.wire ? [{ from: m.ts, into: m.wire.adds }] : []));

/** HopReport's counters, all 0. */
export function zeroHopReportCounters(): Record<HopReportCounterName, number> {
  return Object.fromEntries(HOP_REPORT_COUNTERS.map((c) => [c.ts, 0])) as Record<
    HopReportCounterName,
    number
  >;
}

/** Adds a kernel hop record's counters into HopReport's, as the table says. */
export function addHopCounters(
  into: Record<HopReportCounterName, number>,
  from: Readonly<Record<HopCounter, number>>,
): void {
  for (const { from: name, into: targets } of ADDING)
    for (const target of targets) into[target] += from[name];
}
