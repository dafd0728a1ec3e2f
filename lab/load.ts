// An open-loop, constant-rate HTTP load generator. Request i is due at start + i/rate
// whatever happened to earlier ones, and its latency counts from when it was due, not
// from when it was sent: a stalled server shows up in the latency of every request that
// had to wait (no coordinated omission). Bounded in count and in time.
import { performance } from 'node:perf_hooks';
import { fromValues, type SparseHistogram } from '../proto/histogram.js';
import { ConnectionPool } from './connection-pool.js';

export interface LoadOptions {
  url: string;
  /** Requests per second. */
  rate: number;
  durationS: number;
  /** Keep-alive connections; requests wait for a free one (and that wait counts). */
  connections: number;
  timeoutMs: number;
}

export interface LoadResult {
  url: string;
  rate: number;
  durationS: number;
  sent: number;
  ok: number;
  errors: number;
  timeouts: number;
  actualRps: number;
  latency: SparseHistogram;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
}

export const LOAD_LIMITS = { maxRequests: 2_000_000, maxDurationS: 3600, maxConnections: 1000 };

export function validateLoadOptions(o: LoadOptions): void {
  const total = Math.round(o.rate * o.durationS);
  if (!URL.canParse(o.url) || new URL(o.url).protocol !== 'http:')
    throw new RangeError(`'${o.url.slice(0, 80)}' is not an http:// URL`);
  if (!(o.rate > 0) || !(o.durationS > 0))
    throw new RangeError('rate and duration must be positive');
  if (o.durationS > LOAD_LIMITS.maxDurationS)
    throw new RangeError(`duration above ${LOAD_LIMITS.maxDurationS} s`);
  if (total > LOAD_LIMITS.maxRequests)
    throw new RangeError(`${total} requests is above ${LOAD_LIMITS.maxRequests}`);
  if (!(o.connections >= 1 && o.connections <= LOAD_LIMITS.maxConnections)) {
    throw new RangeError(`connections must be within 1..${LOAD_LIMITS.maxConnections}`);
  }
}

export function constantRateLoad(options: LoadOptions): Promise<LoadResult> {
  validateLoadOptions(options);
  const total = Math.round(options.rate * options.durationS);
  const intervalMs = 1000 / options.rate;
  const pool = new ConnectionPool(new URL(options.url), options.connections, options.timeoutMs);
  const latenciesNs: number[] = [];
  let sent = 0;
  let settled = 0;
  let errors = 0;
  let timeouts = 0;
  const start = performance.now();

  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    // A hard stop: whatever is still outstanding then is counted as timed out.
    const deadline = setTimeout(finish, options.durationS * 1000 + options.timeoutMs + 1000);

    function fire(dueAt: number): void {
      sent++;
      pool.send(dueAt, (outcome) => {
        if (outcome === 'ok') latenciesNs.push((performance.now() - dueAt) * 1e6);
        else if (outcome === 'error') errors++;
        else timeouts++;
        if (++settled === total) finish();
      });
    }

    function tick(): void {
      const now = performance.now();
      let next = sent;
      while (next < total && start + next * intervalMs <= now) fire(start + next++ * intervalMs);
      if (next < total)
        timer = setTimeout(tick, Math.max(0, start + next * intervalMs - performance.now()));
    }

    let finished = false;
    function finish(): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearTimeout(deadline);
      pool.destroy();
      const elapsedS = (performance.now() - start) / 1000;
      const latency = fromValues(latenciesNs);
      // Quantiles from the raw values (nearest rank), not the histogram's buckets, whose
      // ~6% width would hide the small differences the overhead benchmark looks for.
      const sorted = Float64Array.from(latenciesNs).sort();
      const ms = (q: number) =>
        sorted.length ? sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]! / 1e6 : null;
      resolve({
        url: options.url,
        rate: options.rate,
        durationS: options.durationS,
        sent,
        ok: latenciesNs.length,
        errors,
        // Requests still outstanding at the hard stop count as timed out.
        timeouts: timeouts + (total - settled),
        actualRps: latenciesNs.length / Math.max(elapsedS, options.durationS),
        latency,
        p50Ms: ms(0.5),
        p90Ms: ms(0.9),
        p99Ms: ms(0.99),
      });
    }

    tick();
  });
}
