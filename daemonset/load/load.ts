// An open-loop, constant-rate HTTP load generator (and, through openLoop, of any
// request/response protocol with a transport of its own). Request i is due at start + i/rate
// whatever happened to earlier ones, and its latency counts from when it was due, not
// from when it was sent: a stalled server shows up in the latency of every request that
// had to wait (no coordinated omission). Bounded in count and in time.
//
// When asked, the same latencies are also counted from when the generator issued each
// request (its timer ran and handed it to the transport, which may still have to wait for
// a free connection, and that wait counts): `fromIssue`. The difference is the issue's lag
// behind the due time. Node's timers tick in whole milliseconds of a loop clock read when
// the loop wakes, so a request is issued 0.5-0.7 ms after it was due on average, and by
// how much depends on when replies woke the loop: a path that answers later moves the lag
// too (its B - A was 10-88 us in runs of bench accuracy at 311 requests/s), which is the
// generator's own timing, not the path's. The lag also holds any stall of the generator's
// own process (its garbage collection, a wait for a core): counted from the issue, that
// is left out, so the lag's mean and its largest are reported beside it.
import { performance } from 'node:perf_hooks';
import { fromValues, type SparseHistogram } from '../../proto/histogram.js';
import { ConnectionPool, type Outcome } from './connection-pool.js';
import { dueOffsetMs, spanS, type Turn, turnOf, validateTurns } from './schedule.js';

export interface LoadOptions {
  url: string;
  /** Requests per second. */
  rate: number;
  durationS: number;
  /** Keep-alive connections; requests wait for a free one (and that wait counts). */
  connections: number;
  timeoutMs: number;
  /** Open all `connections` and use them in turn (see ConnectionPool), not the fewest needed. */
  rotateConnections?: boolean;
  /** Seconds of the same load before the measured `durationS`, not counted (see OpenLoopSchedule). */
  warmupS?: number;
  /** Also count each request from its issue (see OpenLoopSchedule). */
  countFromIssue?: boolean;
  /** Load in turns (see OpenLoopSchedule). */
  turnsS?: readonly Turn[];
  /** When the schedule starts, epoch ms (see OpenLoopSchedule). */
  startAtMs?: number;
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
  /** Exact, from the raw values; absent in results of versions before it was added. */
  meanMs?: number | null;
  /** The raw values' standard deviation (n - 1); absent in results before it was added. */
  stddevMs?: number | null;
  /** Each turn's mean, in loads in turns (LatencySummary.turnMeansMs). */
  turnMeansMs?: (number | null)[];
  /**
   * The same requests' latencies counted from when each was issued rather than due (see
   * the head of this file); only when asked (OpenLoopSchedule.countFromIssue).
   */
  fromIssue?: LatencySummary;
  /** Mean of issued - due over the measured requests that completed, ms: the issue's lag. */
  issueLagMeanMs?: number | null;
  /** The largest issued - due over the measured requests that completed, ms. */
  issueLagMaxMs?: number | null;
  /**
   * How much later than its `startAtMs` the schedule started (the process came up late),
   * ms; 0 when on time, absent without a start. Loads in turns overlap by as much.
   */
  startLateMs?: number;
  /**
   * Times the load went from no request outstanding to one, warm-up included: its busy
   * periods. A request is outstanding from its issue to its end here, which holds the
   * time any proxy on its path has it, so requests of two busy periods never overlap
   * there: a proxy that carries all of the load's connections over one multiplexed
   * connection sees at least this many exchanges on it (a lower bound that does not
   * depend on the proxy, where overlapping requests make the exact count unknowable).
   * Absent in results of versions before it was added.
   */
  busyPeriods?: number;
}

/**
 * Quantiles (nearest rank of the raw values), the exact mean, the standard deviation (what
 * a mean's margin is drawn from), and the histogram.
 */
export interface LatencySummary {
  latency: SparseHistogram;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  meanMs: number | null;
  /** Absent in results before it was added. */
  stddevMs?: number | null;
  /**
   * In turns (OpenLoopSchedule.turnsS): the mean of each turn's requests, in the turns'
   * order (null for a turn with none), so that an A/B in turns can take its margin from
   * the turns' own differences. Absent without turns.
   */
  turnMeansMs?: (number | null)[];
}

/** The open-loop schedule of a run, whatever the protocol. */
export interface OpenLoopSchedule {
  rate: number;
  durationS: number;
  timeoutMs: number;
  /**
   * Seconds of load before the measured part, at the same rate: sent, awaited, not counted.
   * A fresh process (and its connections) is slower for its first requests, which would
   * otherwise be part of every run's figures.
   */
  warmupS?: number;
  /**
   * Also count each request's latency from its issue (LoadResult.fromIssue), for A/B
   * truths: a second value per request kept until the end, so off unless asked (an
   * agent's session loads keep one, bounded by LOAD_LIMITS.maxRequests).
   */
  countFromIssue?: boolean;
  /**
   * Load in turns: the measured load's requests are due only within these windows
   * (seconds from the end of any warm-up, ascending, apart), at `rate` within each, and
   * `durationS` is their sum. Nothing is sent between them, so that other loads can take
   * their turns on the same machine, interleaved (the demo's chains, an A/B's two sides);
   * requests still out at a turn's end are awaited as always. A warm-up runs before them.
   */
  turnsS?: readonly Turn[];
  /**
   * When the schedule starts (the warm-up, or the first request), as epoch milliseconds:
   * loads in separate processes start in step and keep their turns apart. Now if unset.
   */
  startAtMs?: number;
}

/** Sends one request when told; ends it exactly once. ConnectionPool is one. */
export interface RequestTransport {
  send(dueAt: number, end: (outcome: Outcome) => void): void;
  destroy(): void;
}

export const LOAD_LIMITS = {
  maxRequests: 2_000_000,
  maxDurationS: 3600,
  maxConnections: 1000,
  maxStartDelayMs: 60_000,
};

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
  if (o.turnsS !== undefined) validateTurns(o.turnsS, o.durationS, LOAD_LIMITS.maxDurationS);
  validateStartAt(o.startAtMs);
}

/** A schedule's start (OpenLoopSchedule.startAtMs), if given, no further than the limit from now. */
export function validateStartAt(startAtMs: number | undefined): void {
  if (startAtMs !== undefined && !(Math.abs(startAtMs - Date.now()) <= LOAD_LIMITS.maxStartDelayMs))
    throw new RangeError(`the start is not within ${LOAD_LIMITS.maxStartDelayMs / 1000} s of now`);
}

export function constantRateLoad(options: LoadOptions): Promise<LoadResult> {
  validateLoadOptions(options);
  const pool = new ConnectionPool(
    new URL(options.url),
    options.connections,
    options.timeoutMs,
    options.rotateConnections === true,
  );
  return openLoop(options.url, options, pool);
}

/**
 * Runs the schedule over a transport (which it destroys at the end). `target` only labels
 * the result. Callers validate their own options.
 */
export function openLoop(
  target: string,
  options: OpenLoopSchedule,
  pool: RequestTransport,
): Promise<LoadResult> {
  const warmup = Math.round(options.rate * (options.warmupS ?? 0));
  const total = warmup + Math.round(options.rate * options.durationS);
  const intervalMs = 1000 / options.rate;
  const turns = options.turnsS;
  // The warm-up at the constant rate, then the measured load (in its turns, if any).
  const dueMs = (i: number) =>
    i < warmup
      ? i * intervalMs
      : warmup * intervalMs + dueOffsetMs(i - warmup, options.rate, turns);
  // Time between turns, which the achieved rate leaves out.
  const idleS = spanS(options.durationS, turns) - options.durationS;
  const latenciesNs: number[] = [];
  const fromIssueNs: number[] = [];
  // The turn of each value in latenciesNs (and fromIssueNs): loads in turns only.
  const turnOfValue: number[] = [];
  let issueLagMsSum = 0;
  let issueLagMsMax = 0;
  let sent = 0;
  let settled = 0;
  let errors = 0;
  let outstanding = 0;
  let busyPeriods = 0;
  const startLateMs =
    options.startAtMs === undefined ? undefined : Math.max(0, Date.now() - options.startAtMs);
  const start =
    performance.now() +
    (options.startAtMs === undefined ? 0 : Math.max(0, options.startAtMs - Date.now()));
  const measuredFrom = start + warmup * intervalMs;

  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    // A hard stop: whatever is still outstanding then is counted as timed out.
    const deadline = setTimeout(
      finish,
      start -
        performance.now() +
        warmup * intervalMs +
        spanS(options.durationS, turns) * 1000 +
        options.timeoutMs +
        1000,
    );

    function fire(dueAt: number, counted: boolean, turn: number): void {
      const issuedAt = performance.now();
      if (counted) sent++;
      if (outstanding++ === 0) busyPeriods++;
      pool.send(dueAt, (outcome) => {
        outstanding--;
        if (counted) {
          if (outcome === 'ok') {
            const now = performance.now();
            latenciesNs.push((now - dueAt) * 1e6);
            if (options.countFromIssue) fromIssueNs.push((now - issuedAt) * 1e6);
            if (turns) turnOfValue.push(turn);
            issueLagMsSum += issuedAt - dueAt;
            issueLagMsMax = Math.max(issueLagMsMax, issuedAt - dueAt);
          } else if (outcome === 'error') errors++;
        }
        // Warm-up requests settle too: the run ends once every request has.
        if (++settled === total) finish();
      });
    }

    let next = 0;
    function tick(): void {
      const now = performance.now();
      while (next < total && start + dueMs(next) <= now) {
        fire(
          start + dueMs(next),
          next >= warmup,
          next >= warmup ? turnOf(next - warmup, options.rate, turns) : 0,
        );
        next++;
      }
      if (next < total)
        timer = setTimeout(tick, Math.max(0, start + dueMs(next) - performance.now()));
    }

    let finished = false;
    function finish(): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearTimeout(deadline);
      pool.destroy();
      const elapsedS = (performance.now() - measuredFrom) / 1000 - idleS;
      const byTurn = turns ? { turnOf: turnOfValue, turns: turns.length } : undefined;
      const fromDue = summarise(latenciesNs, byTurn);
      resolve({
        url: target,
        rate: options.rate,
        durationS: options.durationS,
        sent,
        ok: latenciesNs.length,
        errors,
        // Timed out, still outstanding at the hard stop, or never sent by then.
        timeouts: total - warmup - latenciesNs.length - errors,
        actualRps: latenciesNs.length / Math.max(elapsedS, options.durationS),
        ...fromDue,
        ...(options.countFromIssue ? { fromIssue: summarise(fromIssueNs, byTurn) } : {}),
        issueLagMeanMs: latenciesNs.length ? issueLagMsSum / latenciesNs.length : null,
        issueLagMaxMs: latenciesNs.length ? issueLagMsMax : null,
        ...(startLateMs === undefined ? {} : { startLateMs }),
        busyPeriods,
      });
    }

    tick();
  });
}

/**
 * Quantiles from the raw values (nearest rank), not the histogram's buckets, whose ~6%
 * width would hide the small differences the overhead benchmark looks for.
 */
function summarise(
  valuesNs: readonly number[],
  byTurn?: { turnOf: readonly number[]; turns: number },
): LatencySummary {
  const sorted = Float64Array.from(valuesNs).sort();
  const ms = (q: number) =>
    sorted.length ? sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]! / 1e6 : null;
  let sumNs = 0;
  for (const v of sorted) sumNs += v;
  const meanNs = sumNs / sorted.length;
  let squaresNs2 = 0;
  for (const v of sorted) squaresNs2 += (v - meanNs) ** 2;
  return {
    latency: fromValues(valuesNs),
    p50Ms: ms(0.5),
    p90Ms: ms(0.9),
    p99Ms: ms(0.99),
    meanMs: sorted.length ? meanNs / 1e6 : null,
    stddevMs: sorted.length > 1 ? Math.sqrt(squaresNs2 / (sorted.length - 1)) / 1e6 : null,
    ...(byTurn ? { turnMeansMs: turnMeans(valuesNs, byTurn.turnOf, byTurn.turns) } : {}),
  };
}

/** The mean of each turn's values, ms; null for a turn with none. */
function turnMeans(valuesNs: readonly number[], turnOf: readonly number[], turns: number) {
  const sums = new Float64Array(turns);
  const counts = new Uint32Array(turns);
  for (const [i, v] of valuesNs.entries()) {
    sums[turnOf[i]!]! += v;
    counts[turnOf[i]!]!++;
  }
  return Array.from(sums, (sum, k) => (counts[k] ? sum / counts[k]! / 1e6 : null));
}
