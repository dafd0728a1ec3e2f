// The counters and histograms of each edge's ends folded into what the topology shows of
// it: both sides' sums and latencies, rates over the range, whether an end is counted in
// other edges too. Apart from the drafting (edge-drafts.ts) because it reads the
// metrics, which the drafting never does; `summarize` serves the edge detail's time series
// too. Pure.
import type { EndCounters, EndSummary, TopologyEdge } from '../../proto/api.js';
import { WIRE_COUNTERS } from '../../proto/edge-metrics.js';
import { emptyHistogram, merge, type SparseHistogram } from '../../proto/histogram.js';
import { latencyStats, round } from '../../proto/latency.js';
import { requestsOf } from '../../proto/requests.js';
import type { EdgeDraft, EdgeDrafts } from './edge-drafts.js';
import type { EndRecord } from './topology.js';

/**
 * One side of an edge, its ends' counters summed. `multiplexed`: the edge carries several
 * requests at once, and the exchange latency of this side is left out (empty).
 */
export function summarize(
  ends: readonly EndRecord[],
  shared = false,
  multiplexed = false,
): EndSummary | null {
  if (ends.length === 0) return null;
  const sum = (c: string) => ends.reduce((n, e) => n + (e.metrics.sums[c] ?? 0), 0);
  const hist = (c: string) =>
    ends.reduce<SparseHistogram | undefined>(
      (h, e) => (h ? merge(h, e.metrics.hists[c]!) : e.metrics.hists[c]),
      undefined,
    )!;
  const counters = {} as EndCounters;
  for (const m of WIRE_COUNTERS) counters[m.ts] = sum(m.name);
  return {
    ends: ends.length,
    ...counters,
    exchangeLatency: latencyStats(multiplexed ? emptyHistogram() : hist('exchange_latency')),
    connectLatency: latencyStats(hist('connect_latency')),
    srtt: latencyStats(hist('srtt')),
    shared,
  };
}

/** Every draft's edge, in the drafts' order; rates are per second of the range. */
export function summarizeEdges(drafts: EdgeDrafts, fromMs: number, toMs: number): TopologyEdge[] {
  const uses = serverEndUses(drafts);
  const seconds = Math.max(1, (toMs - fromMs) / 1000);
  return [...drafts].map(([id, d]) => edgeOf(id, d, seconds, uses));
}

// A server end in several edges (the kernel keys it by the client's address, which every
// process of the client's pod shares) is counted in each: said so, as `shared`.
function serverEndUses(drafts: EdgeDrafts): Map<number, number> {
  const draftsOf = new Map<number, number>();
  for (const d of drafts.values())
    for (const e of d.server) draftsOf.set(e.id, (draftsOf.get(e.id) ?? 0) + 1);
  return draftsOf;
}

function edgeOf(
  id: string,
  d: EdgeDraft,
  seconds: number,
  draftsOf: ReadonlyMap<number, number>,
): TopologyEdge {
  const multiplexed = [...d.client, ...d.server].some(
    (e) => (e.metrics.sums.multiplexed_exchanges ?? 0) > 0,
  );
  const client = summarize(d.client, d.shared, multiplexed);
  const server = summarize(
    d.server,
    d.server.some((e) => (draftsOf.get(e.id) ?? 0) > 1),
    multiplexed,
  );
  const main = client ?? server!;
  return {
    id,
    source: d.source,
    target: d.target,
    port: d.port,
    joined: d.joined,
    requestsPerS: round(requestsOf(main) / seconds),
    bytesPerS: round((main.bytesSent + main.bytesReceived) / seconds),
    latencyMs: client?.exchangeLatency.p50Ms ?? server?.exchangeLatency.p50Ms ?? null,
    multiplexed,
    client,
    server,
  };
}
