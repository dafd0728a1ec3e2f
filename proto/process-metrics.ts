// The Node process's own metrics, as the agent and the collector both expose them: what
// prom-client's defaults give, in Prometheus's conventions and counted in full. Shared here
// so that the two parts' /metrics name and count them alike.
import { constants, createHistogram, PerformanceObserver } from 'node:perf_hooks';
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
 * of libuv's own that ran 100 times a second for the process's life: an idle agent's main
 * thread was woken 103 times a second, nearly all by it, and returned from epoll_wait 206
 * times a second, all but 2 of them for the timer alone; an idle collector alike. On a busy
 * node each wake-up is a turn the scheduler may give them ahead of the workload. Once a
 * second still shows a loop held up, but only where a sample falls due within the stall,
 * and from that due time on: a stall under a second may be missed, and any is
 * under-reported by up to a second.
 */
export const EVENT_LOOP_SAMPLE_MS = 1000;

/**
 * prom-client's own sampler, which cannot be turned off, set to run once in 2^31 - 1 ms
 * (24.8 days, the most the int32 Node keeps its period in holds), and its gauges replaced
 * by eventLoopDelay's.
 */
const PROM_CLIENT_SAMPLE_MS = 2 ** 31 - 1;

/** The gauges prom-client fills from its sampler's histogram. */
const DELAY_STATS = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;

/**
 * prom-client's default metrics under `prefix`, with three corrections:
 * - the event loop's delay is sampled once a second, not every 10 ms (EVENT_LOOP_SAMPLE_MS),
 *   and given as the delay itself, where prom-client's gauges gave the time between
 *   samples, the sampling period included (eventLoopDelay);
 * - its totals of active handles, requests and resources are gauges named _total, against
 *   Prometheus's convention (promtool flags them): removed, as its gauges by type keep the
 *   same counts (sum them for the total);
 * - its GC duration histogram observes only the first GC of each list the observer is
 *   handed (prom-client 15), and under load a list holds many: a collector that spent a
 *   fifth of its CPU in GC showed 0.14 s of it. Replaced, same name and buckets,
 *   by one that observes every GC.
 * Returns what stops its GC observer and its sampler of the loop's delay (prom-client's
 * own observer and sampler run for the process's life).
 */
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
 * prom-client's gauges of the event loop's delay, same names and help, from a sampler of
 * our own that runs every EVENT_LOOP_SAMPLE_MS and records how much later than due each
 * run came: the time since the run before, less the period (Node sets a repeating timer
 * again from each run). Not perf_hooks' monitorEventLoopDelay, which prom-client uses:
 * its histogram holds the time between runs, the period included, and its reset at each
 * scrape also forgets the last run, so the next one records nothing, a whole period
 * unseen after every scrape. A scrape gives the figures of the runs since the scrape
 * before and starts afresh: the first of these gauges read takes them (a full scrape reads
 * the gauges in the order they were registered), and so does one read again before the
 * others were. Where no run came since the last scrape the gauges keep their figures, 0 at
 * first. Two scrapers each take runs from the other, as they did with prom-client's.
 * Returns what stops the sampler.
 */
function eventLoopDelay(registry: Registry, prefix: string): () => void {
  const periodNs = BigInt(EVENT_LOOP_SAMPLE_MS) * 1_000_000n;
  const delays = createHistogram();
  let lastRun = process.hrtime.bigint();
  const sampler = setInterval(() => {
    const now = process.hrtime.bigint();
    const late = now - lastRun - periodNs;
    lastRun = now;
    // The histogram takes whole numbers from 1: a run on time, or early by the timer's
    // millisecond rounding, counts as 1 ns late.
    delays.record(late > 0n ? late : 1n);
  }, EVENT_LOOP_SAMPLE_MS).unref();
  let figures: Record<(typeof DELAY_STATS)[number], number> | undefined;
  const readSinceTaken = new Set<string>();
  const take = () => {
    figures =
      delays.count > 0
        ? {
            min: delays.min / 1e9,
            max: delays.max / 1e9,
            mean: delays.mean / 1e9,
            stddev: delays.stddev / 1e9,
            p50: delays.percentile(50) / 1e9,
            p90: delays.percentile(90) / 1e9,
            p99: delays.percentile(99) / 1e9,
          }
        : undefined;
    delays.reset();
    readSinceTaken.clear();
  };
  for (const stat of DELAY_STATS) {
    const name = `${prefix}nodejs_eventloop_lag_${stat}_seconds`;
    const theirs = registry.getSingleMetric(name) as { help?: string } | undefined;
    registry.removeSingleMetric(name);
    new Gauge({
      name,
      help: theirs?.help ?? `The ${stat} of the event loop's delays since the last scrape.`,
      registers: [registry],
      collect() {
        if (readSinceTaken.size === 0 || readSinceTaken.has(stat)) take();
        readSinceTaken.add(stat);
        if (figures) this.set(figures[stat]);
      },
    });
  }
  return () => clearInterval(sampler);
}
