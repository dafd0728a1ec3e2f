// An edge's detail: exchange latency at both ends, connect latency and srtt as
// histograms on a log axis; every counter of an edge report per side; and each over the
// range as sparklines.
import { WIRE_COUNTERS } from '../../../proto/edge-metrics.js';
import { requestsOf } from '../../../proto/requests.js';
import type { EdgeDetail, EndSummary } from '../model/api-types.js';
import { formatBytes, formatMs, formatNumber, formatRate } from '../model/format.js';
import { histogramChart, sparkline } from './charts.js';
import { el, table } from './dom.js';

const side = (s: EndSummary | null, pick: (s: EndSummary) => string | number) =>
  s ? pick(s) : '–';

export function edgePanel(
  detail: EdgeDetail,
  names: { source: string; target: string },
): HTMLElement {
  const { edge, histograms, series } = detail;
  const c = edge.client;
  const s = edge.server;
  type Row = [string, (e: EndSummary) => string | number];
  // Every counter an edge report carries (proto/edge-metrics.ts), the requests first; the
  // multiplexed exchanges only on an edge that has them, the HTTP/2 counts and the
  // requests a proxy forwarded on a multiplexed upstream likewise.
  const requestCounters: readonly string[] = [
    'exchanges',
    'multiplexedExchanges',
    'http2Requests',
    'http2Exchanges',
    'forwardedRequests',
    'forwardedExchanges',
  ];
  const http2 = (c?.http2Requests ?? 0) + (s?.http2Requests ?? 0) > 0;
  const forwarded = (c?.forwardedExchanges ?? 0) + (s?.forwardedExchanges ?? 0) > 0;
  const shown = (m: (typeof WIRE_COUNTERS)[number]) =>
    m.ts === 'multiplexedExchanges'
      ? edge.multiplexed
      : m.ts === 'http2Requests' || m.ts === 'http2Exchanges'
        ? http2
        : m.ts === 'forwardedRequests' || m.ts === 'forwardedExchanges'
          ? forwarded
          : true;
  const first = (m: (typeof WIRE_COUNTERS)[number]) => (requestCounters.includes(m.ts) ? 0 : 1);
  const ordered = [...WIRE_COUNTERS].sort((a, b) => first(a) - first(b));
  const counters: Row[] = ordered.flatMap((m): Row[] =>
    shown(m)
      ? [
          [
            m.view.label,
            (e) => (m.view.unit === 'bytes' ? formatBytes(e[m.ts]) : formatNumber(e[m.ts])),
          ],
        ]
      : [],
  );
  const rows: Row[] = [
    ['exchange p50', (e) => formatMs(e.exchangeLatency.p50Ms)],
    ['exchange p99', (e) => formatMs(e.exchangeLatency.p99Ms)],
    ...counters,
  ];
  const stepS = series.length > 1 ? (series[1]!.startMs - series[0]!.startMs) / 1000 : 1;
  const over = (pick: (e: EndSummary) => number | null) =>
    series.map((p) => {
      const end = p.client ?? p.server;
      return { t: p.startMs, v: end ? pick(end) : null };
    });
  return el(
    'section',
    { class: 'panel edge-panel', attrs: { 'data-edge': edge.id } },
    el('h2', {}, `${names.source} → ${names.target}`),
    el(
      'p',
      { class: 'muted' },
      `port ${edge.port} · ends joined by ${edge.joined} · ${formatRate(edge.requestsPerS, ' req/s')} · ${formatRate(edge.bytesPerS, ' B/s')}`,
    ),
    edge.multiplexed &&
      el(
        'p',
        { class: 'note' },
        'Multiplexed: this connection carries several requests at once (HTTP/2, gRPC, pipelining), so a time from a send to the next reply is no request’s latency, and none is shown. The requests’ latency is in the sidecars’ added latency.',
      ),
    c?.shared &&
      el(
        'p',
        { class: 'note' },
        'The client counts cover other servers too: it dialed a Service address that spreads over several backends.',
      ),
    s?.shared &&
      el(
        'p',
        { class: 'note' },
        'The server counts cover other client processes too: the kernel counts a server’s connections by the client’s address, which every process of the client’s pod shares.',
      ),
    table(
      ['', 'client', 'server'],
      rows.map(([label, pick]) => [label, side(c, pick), side(s, pick)]),
      { class: 'grid edge-stats' },
    ),
    el(
      'div',
      { class: 'charts' },
      histogramChart('exchange latency (client)', histograms.clientExchange),
      histogramChart('exchange latency (server)', histograms.serverExchange),
      histogramChart('connect latency', histograms.connect),
      histogramChart('srtt', histograms.srtt),
    ),
    histograms.srtt.indexes.length > 0 &&
      el(
        'p',
        { class: 'note muted' },
        "srtt is the kernel's smoothed round-trip estimate. Where requests and replies alternate, the ACK of a request often rides on its reply, so srtt then holds the other end's time to answer as well: it is not the network's share (the waterfall's network part is).",
      ),
    el(
      'div',
      { class: 'sparklines' },
      sparkline(
        'requests/s',
        over((e) => requestsOf(e) / stepS),
        (v) => formatRate(v),
      ),
      sparkline(
        'bytes/s',
        over((e) => (e.bytesSent + e.bytesReceived) / stepS),
        (v) => formatBytes(v),
      ),
      sparkline(
        'p50',
        over((e) => e.exchangeLatency.p50Ms),
        formatMs,
      ),
      sparkline(
        'retransmits',
        over((e) => e.retransmits),
        formatNumber,
      ),
      sparkline(
        'resets',
        over((e) => e.resetsSent + e.resetsReceived),
        formatNumber,
      ),
    ),
  );
}
