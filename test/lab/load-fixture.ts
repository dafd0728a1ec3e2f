// A load generator's result for the demo's pure summaries: these latencies, every request
// issued on time, so that the figures counted from the issue and from the due time agree.
import type { LoadResult } from '../../daemonset/load/load.js';
import { fromValues } from '../../proto/histogram.js';

export function onTimeLoad(latenciesMs: readonly number[]): LoadResult {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const rank = (q: number) => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const squares = sorted.reduce((a, b) => a + (b - mean) ** 2, 0);
  const summary = {
    latency: fromValues(sorted.map((ms) => ms * 1e6)),
    p50Ms: rank(0.5),
    p90Ms: rank(0.9),
    p99Ms: rank(0.99),
    meanMs: mean,
    stddevMs: sorted.length > 1 ? Math.sqrt(squares / (sorted.length - 1)) : null,
  };
  return {
    url: 'http://x/',
    rate: 100,
    durationS: 1,
    sent: sorted.length,
    ok: sorted.length,
    errors: 0,
    timeouts: 0,
    actualRps: 100,
    ...summary,
    fromIssue: summary,
    issueLagMeanMs: 0,
  };
}
