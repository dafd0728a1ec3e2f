// When an A/B run's measured part starts, and from which of the store's rows Tollgate's
// figures of it are read. Pure.
//
// The load generator leaves each run's warm-up out of its figures (a fresh process on
// fresh connections: near saturation its first requests wait behind the throttled
// sidecar's accepts and upstream connects). Tollgate's rows are whole seconds, keyed by the
// start of the agent interval that carried a hop, so a run's rows read from before its
// start hold its warm-up too: at saturation that put some 900 warm-up requests of 6,861
// into the sidecar's figure of a round and none into the truth, and in one round of six
// Tollgate's mean came out 2.47 ms where B - A was 0.48 (the probes' figure at the
// generator's own sockets, which held its warm-up too, said 2.80).
//
// So the rows are read from the first whole second that starts `clearMs` after the
// measured part begins, by when the warm-up's last requests are done, and the generator's
// schedule is started at a time chosen so that this second comes soon after the warm-up.
// Tollgate then sees a run's steady part from that second on, the generator all of it:
// requests of the same kind, the first ones of the measured part in the truth alone.

/** Rows of the store are this long, keyed by the start of the interval that carried a hop. */
export const ROW_MS = 1000;

export interface RunWindowOptions {
  /** How long the generator's process takes to come up: its schedule starts no sooner. */
  startAllowanceMs: number;
  /** The shortest warm-up, s. */
  minWarmupS: number;
  /** From the measured part's start to the first row read: the warm-up's last requests end by then. */
  clearMs: number;
}

export interface RunPlan {
  /** When the generator's schedule (its warm-up) starts, epoch ms. */
  startAtMs: number;
  /** The warm-up, s: a whole number of the rate's intervals. */
  warmupS: number;
}

/**
 * The start and warm-up of a run at `rate`: the warm-up at least `minWarmupS` (less one of
 * the rate's intervals at most), and the measured part beginning `clearMs` and a
 * millisecond before a whole row (or up to one interval earlier), so that the rows read for it lose as little of it
 * as they can.
 */
export function planRun(nowMs: number, rate: number, options: RunWindowOptions): RunPlan {
  if (!(rate > 0)) throw new RangeError(`rate must be positive, got ${rate}`);
  const startAtMs = Math.ceil(nowMs + options.startAllowanceMs);
  // A millisecond to spare: the warm-up's end, summed from the rate's intervals in floating
  // point, can land a hair past a planned end that is exact, and the rows would then start
  // a whole second later.
  const spareMs = 1;
  const firstRow = Math.ceil(
    (startAtMs + options.minWarmupS * 1000 + options.clearMs + spareMs) / ROW_MS,
  );
  const measuredFromMs = firstRow * ROW_MS - options.clearMs - spareMs;
  // Whole intervals of the rate, as the generator counts its warm-up in requests: rounded
  // down, so that the measured part starts no later than planned (and the warm-up is at
  // most one interval short of `minWarmupS`).
  const warmupRequests = Math.floor(((measuredFromMs - startAtMs) / 1000) * rate);
  return { startAtMs, warmupS: warmupRequests / rate };
}

/**
 * When a run's measured part began, epoch ms: the schedule's start (later than planned by
 * however late its process came up) plus its warm-up's requests at the rate.
 */
export function measuredFromMs(
  plan: RunPlan,
  rate: number,
  startLateMs: number | undefined,
): number {
  const warmupRequests = Math.round(rate * plan.warmupS);
  return plan.startAtMs + Math.max(0, startLateMs ?? 0) + (warmupRequests * 1000) / rate;
}

/** The first row to read for a run whose measured part began at `measuredFrom`. */
export function firstRowMs(measuredFrom: number, clearMs: number): number {
  return Math.ceil((measuredFrom + clearMs) / ROW_MS) * ROW_MS;
}
