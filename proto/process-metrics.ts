// The Node process's own metrics, as the agent and the collector both expose them: what
// prom-client's defaults give, in Prometheus's conventions and counted in full. Shared here
// so that the two parts' /metrics name and count them alike.
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { collectDefaultMetrics, Histogram, type Registry } from 'prom-client';

/** perf_hooks' GC kinds, labelled as prom-client labels them. */
const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/**
 * prom-client's default metrics under `prefix`, with two corrections:
 * - its totals of active handles, requests and resources are gauges named _total, against
 *   Prometheus's convention (promtool flags them): removed, as its gauges by type keep the
 *   same counts (sum them for the total);
 * - its GC duration histogram observes only the first GC of each list the observer is
 *   handed (prom-client 15), and under load a list holds many: a collector that spent a
 *   fifth of its CPU in GC showed 0.14 s of it. Replaced, same name and buckets,
 *   by one that observes every GC.
 * Returns what stops its GC observer (prom-client's own runs for the process's life).
 */
export function collectProcessMetrics(registry: Registry, prefix: string): () => void {
  collectDefaultMetrics({ register: registry, prefix });
  for (const total of ['active_handles_total', 'active_requests_total', 'active_resources_total'])
    registry.removeSingleMetric(`${prefix}nodejs_${total}`);
  const name = `${prefix}nodejs_gc_duration_seconds`;
  registry.removeSingleMetric(name);
  const gc = new Histogram({
    name,
    help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb; every collection',
    labelNames: ['kind'] as const,
    buckets: [0.001, 0.01, 0.1, 1, 2, 5],
    registers: [registry],
  });
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind ?? 0;
      gc.observe({ kind: GC_KINDS[kind] ?? 'unknown' }, entry.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
