// The Node process's own metrics, as the agent and the collector both expose them: what
// prom-client's defaults give, in Prometheus's conventions and counted in full. Shared here
// so that the two parts' /metrics name and count them alike.
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { collectDefaultMetrics, Gauge, Histogram, type Registry } from 'prom-client';

/** perf_hooks' GC kinds, labelled as prom-client labels them. */
const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/**
 * How often the event loop's delay is sampled, ms. prom-client's default, 10, is a timer
 * of libuv's own that woke the process 100 times a second for its life: an idle agent's
 * and an idle collector's main threads came out of epoll_wait some 200 times a second
 * each, nearly all of their wake-ups, and on a busy node each wake-up is a turn the
 * scheduler may give them ahead of the workload. Once a second still shows a loop held up
 * (the delay's max and quantiles since the last scrape), but can miss a stall shorter than
 * a second that ends between two samples.
 */
export const EVENT_LOOP_SAMPLE_MS = 1000;

/**
 * prom-client's own sampler, which cannot be turned off, set to wake once in 2^31 - 1 ms
 * (24.8 days, the most a Node timer takes), and its gauges replaced by eventLoopDelay's.
 */
const PROM_CLIENT_SAMPLE_MS = 2 ** 31 - 1;

/** The gauges prom-client fills from its sampler's histogram. */
const DELAY_STATS = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;

export function collectProcessMetrics(registry: Registry, prefix: string): () => void {
  collectDefaultMetrics({
    register: registry,
    prefix,
    eventLoopMonitoringPrecision: PROM_CLIENT_SAMPLE_MS,
  });
  const stopDelay = eventLoopDelay(registry, prefix);
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
  return () => {
    observer.disconnect();
    stopDelay();
  };
}

/**
 * prom-client's gauges of the event loop's delay, same names and help, from a sampler that
 * wakes once every EVENT_LOOP_SAMPLE_MS. Node's histogram holds the time between a
 * repeating timer's runs, which is the period plus how late the loop ran it: the period is
 * taken off. Each scrape reads what came since the one before: the first gauge read takes
 * the figures and starts the histogram afresh, and the others give those figures (a
 * registry reads its metrics in the order they were registered). Before any sample a
 * gauge holds its last figure, 0 at first. Returns what stops the sampler.
 */
function eventLoopDelay(registry: Registry, prefix: string): () => void {
  const histogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_SAMPLE_MS });
  histogram.enable();
  const periodNs = EVENT_LOOP_SAMPLE_MS * 1e6;
  const late = (ns: number) => Math.max(0, ns - periodNs) / 1e9;
  let figures: Record<(typeof DELAY_STATS)[number], number> | undefined;
  const take = () => {
    figures =
      histogram.count > 0
        ? {
            min: late(histogram.min),
            max: late(histogram.max),
            mean: late(histogram.mean),
            stddev: histogram.stddev / 1e9,
            p50: late(histogram.percentile(50)),
            p90: late(histogram.percentile(90)),
            p99: late(histogram.percentile(99)),
          }
        : undefined;
    histogram.reset();
  };
  DELAY_STATS.forEach((stat, i) => {
    const name = `${prefix}nodejs_eventloop_lag_${stat}_seconds`;
    const theirs = registry.getSingleMetric(name) as { help?: string } | undefined;
    registry.removeSingleMetric(name);
    new Gauge({
      name,
      help: theirs?.help ?? `The ${stat} of the event loop's delays since the last scrape.`,
      registers: [registry],
      collect() {
        if (i === 0) take();
        if (figures) this.set(figures[stat]);
      },
    });
  });
  return () => histogram.disable();
}
