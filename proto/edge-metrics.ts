// The counters of a connection end, defined once. Everything else is generated from this
// table or driven by it:
//   - the kernel's struct tg_edge_stats and its field list (probes/src/counters.h,
//     generated), and so the runner's layout and the decoder's offsets;
//   - EdgeReport's counter fields (the generated block of proto/tollgate/v1/report.proto,
//     and from it proto/gen);
//   - the agent's batch, the store's columns (and the migration that adds a new one), the
//     API's EndCounters, the collector's sums and the viewer's rows.
// `npm run gen:proto` writes the generated files; test/proto/generated.test.ts fails when
// one is stale. Adding a counter touches this table and the kernel code that fills it.
// Pure data: imported by the browser too.

/** The histograms of EdgeReport whose exact sum the kernel keeps in a counter. */
type SummedHistogram = 'connect_latency' | 'exchange_latency' | 'srtt';

/** Where a counter goes past the kernel. */
export type EdgeMetricWire =
  /** A counter of EdgeReport (this field number), a column of the store, summed. */
  | { counter: number; since?: number }
  /** The exact sum beside the buckets of this histogram of EdgeReport: its mean. */
  | { histogramSum: SummedHistogram };

export interface EdgeMetric {
  /** In C, in the .proto and in the store. */
  readonly name: string;
  /** In TypeScript: the decoder's records, the generated messages, the API. */
  readonly ts: string;
  /** What it counts: the comment of the C field and of the .proto field. */
  readonly doc: string;
  readonly wire: EdgeMetricWire;
  /**
   * The viewer's row for it in an edge's detail, and how its value reads; none for the
   * ones the viewer shows otherwise (the histograms' sums, as means).
   */
  readonly view?: { label: string; unit: 'count' | 'bytes' };
}

/** In the order of the kernel's struct; the field numbers are the wire's and never change. */
export const EDGE_METRICS = [
  {
    name: 'connects',
    ts: 'connects',
    doc: 'Connections this end opened (SYN_SENT -> ESTABLISHED).',
    wire: { counter: 5 },
    view: { label: 'connects', unit: 'count' },
  },
  {
    name: 'connect_errors',
    ts: 'connectErrors',
    doc: 'Connections this end tried to open that never reached ESTABLISHED.',
    wire: { counter: 6 },
    view: { label: 'connect errors', unit: 'count' },
  },
  {
    name: 'accepts',
    ts: 'accepts',
    doc: 'Connections this end accepted (SYN_RECV -> ESTABLISHED), counted at their first read or write.',
    wire: { counter: 7 },
    view: { label: 'accepts', unit: 'count' },
  },
  {
    name: 'closes',
    ts: 'closes',
    doc: 'Established connections closed.',
    wire: { counter: 8 },
    view: { label: 'closes', unit: 'count' },
  },
  {
    name: 'resets_sent',
    ts: 'resetsSent',
    doc: 'RSTs this end sent.',
    wire: { counter: 9 },
    view: { label: 'resets sent', unit: 'count' },
  },
  {
    name: 'resets_received',
    ts: 'resetsReceived',
    doc: 'RSTs this end received.',
    wire: { counter: 10 },
    view: { label: 'resets received', unit: 'count' },
  },
  {
    name: 'bytes_sent',
    ts: 'bytesSent',
    doc: 'Bytes the process wrote to the connections (what sendmsg returned).',
    wire: { counter: 11 },
    view: { label: 'bytes sent', unit: 'bytes' },
  },
  {
    name: 'bytes_received',
    ts: 'bytesReceived',
    doc: 'Bytes the process read from the connections (what recvmsg returned).',
    wire: { counter: 12 },
    view: { label: 'bytes received', unit: 'bytes' },
  },
  {
    name: 'send_ops',
    ts: 'sendOps',
    doc: 'Writes that sent at least one byte.',
    wire: { counter: 13 },
    view: { label: 'writes', unit: 'count' },
  },
  {
    name: 'recv_ops',
    ts: 'recvOps',
    doc: 'Reads that returned at least one byte (not MSG_PEEK).',
    wire: { counter: 14 },
    view: { label: 'reads', unit: 'count' },
  },
  {
    name: 'exchanges',
    ts: 'exchanges',
    doc: 'Request/response exchanges timed: a direction change that ended one (the count of exchange_latency).',
    wire: { counter: 20 },
    view: { label: 'exchanges', unit: 'count' },
  },
  {
    name: 'adopted',
    ts: 'adopted',
    doc: 'Connections first seen mid-life (open before tracing began, or before the filter chose them): their open is in neither connects nor accepts.',
    wire: { counter: 24, since: 8 },
    view: { label: 'adopted mid-life', unit: 'count' },
  },
  {
    name: 'retransmits',
    ts: 'retransmits',
    doc: "Segments retransmitted, as the kernel's TcpRetransSegs counts them.",
    wire: { counter: 15 },
    view: { label: 'retransmits', unit: 'count' },
  },
  {
    name: 'drops',
    ts: 'drops',
    doc: 'Packets of these connections the kernel freed as dropped (skb:kfree_skb).',
    wire: { counter: 16 },
    view: { label: 'drops', unit: 'count' },
  },
  {
    name: 'connect_ns_sum',
    ts: 'connectNsSum',
    doc: "The connect latencies' sum, for the mean of connect_latency.",
    wire: { histogramSum: 'connect_latency' },
  },
  {
    name: 'exchange_ns_sum',
    ts: 'exchangeNsSum',
    doc: "The exchange latencies' sum, for the mean of exchange_latency.",
    wire: { histogramSum: 'exchange_latency' },
  },
  {
    name: 'srtt_ns_sum',
    ts: 'srttNsSum',
    doc: "The sampled smoothed RTTs' sum, for the mean of srtt.",
    wire: { histogramSum: 'srtt' },
  },
  {
    name: 'multiplexed_exchanges',
    ts: 'multiplexedExchanges',
    doc: "Exchanges on connections seen carrying several requests at once (in most exchanges the peer sent bytes before it had what this end wrote, or a proxy forwarded a second request while one still waited for its reply: HTTP/1.1 pipelining, HTTP/2, gRPC). Counted here instead of in exchanges and left out of exchange_latency: a send-to-reply time there is no request's latency. Such an edge is multiplexed; its exchange figures are not a request/response latency.",
    wire: { counter: 23, since: 6 },
    view: { label: 'multiplexed exchanges', unit: 'count' },
  },
  {
    name: 'http2_requests',
    ts: 'http2Requests',
    doc: "Requests on connections that began with HTTP/2's client preface in the clear (h2c, or HTTP/2 before a sidecar's TLS or after it): the HEADERS frames that opened a client stream, read from the syscall's own buffer, on a server's end in what it read, on a client's end in what it wrote. The request count of such connections, where exchanges count a batch of requests read or written together as one; stops where the frames are lost (a syscall whose buffer the probes do not read). Exchanges of the same connections are in http2_exchanges.",
    wire: { counter: 25, since: 16 },
    view: { label: 'HTTP/2 requests', unit: 'count' },
  },
  {
    name: 'http2_exchanges',
    ts: 'http2Exchanges',
    doc: 'Of exchanges and multiplexed_exchanges, those that ended on connections whose requests http2_requests counts: the requests of an end are exchanges + multiplexed_exchanges - http2_exchanges - forwarded_exchanges + http2_requests + forwarded_requests.',
    wire: { counter: 26, since: 16 },
    view: { label: 'HTTP/2 exchanges', unit: 'count' },
  },
  {
    name: 'forwarded_requests',
    ts: 'forwardedRequests',
    doc: "On a proxy's upstream marked multiplexed whose frames are not followed (HTTP/2 or gRPC between sidecars inside TLS), the requests the proxy forwarded on it: each a request it read on a downstream and that the hop pairing took with a write here. Its direction changes count a write that gathers a turn's requests as one, and a write of the proxy's own (an HTTP/2 WINDOW_UPDATE or PING in TLS) as one too; these count neither. Exchanges of the same connections are in forwarded_exchanges. The requests of an end are exchanges + multiplexed_exchanges - http2_exchanges - forwarded_exchanges + http2_requests + forwarded_requests.",
    wire: { counter: 27, since: 17 },
    view: { label: 'forwarded requests', unit: 'count' },
  },
  {
    name: 'forwarded_exchanges',
    ts: 'forwardedExchanges',
    doc: 'Of multiplexed_exchanges, those that ended on connections whose requests forwarded_requests counts.',
    wire: { counter: 28, since: 17 },
    view: { label: 'forwarded exchanges', unit: 'count' },
  },
] as const satisfies readonly EdgeMetric[];

type Metric = (typeof EDGE_METRICS)[number];

/** Every counter of a kernel edge record, by its TypeScript name. */
export type EdgeCounter = Metric['ts'];

/** The counters EdgeReport carries, by their TypeScript names. */
export type WireCounter = Extract<Metric, { wire: { counter: number } }>['ts'];

/** The counters the store keeps, by their column names. */
export type CounterColumn = Extract<Metric, { wire: { counter: number } }>['name'];

export const EDGE_COUNTERS: readonly EdgeCounter[] = EDGE_METRICS.map((m) => m.ts);

/** The metrics that are counters of EdgeReport, by field number (the store's column order). */
export const WIRE_COUNTERS = EDGE_METRICS.filter(
  (m): m is Extract<Metric, { wire: { counter: number } }> => 'counter' in m.wire,
).sort((a, b) => a.wire.counter - b.wire.counter);

/** The kernel counter that holds each histogram's exact sum, found once. */
export const HISTOGRAM_SUMS = Object.fromEntries(
  EDGE_METRICS.flatMap((m) => ('histogramSum' in m.wire ? [[m.wire.histogramSum, m.ts]] : [])),
) as Record<SummedHistogram, EdgeCounter>;

/** The counters' values of a record or report, by TypeScript name. */
export function wireCounters(
  from: Readonly<Record<WireCounter, number>>,
): Record<WireCounter, number> {
  const out = {} as Record<WireCounter, number>;
  for (const m of WIRE_COUNTERS) out[m.ts] = from[m.ts];
  return out;
}
