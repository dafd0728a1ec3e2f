// The arithmetic of an A/B truth for a sidecar's added latency. Pure. The same load at the
// same offered rate runs with the sidecar bypassed (A) and in the path (B), interleaved
// over rounds with the order flipped each round so drift over time does not favour either;
// per round the difference B - A of each quantile of the load generator's own latency is
// what the sidecar added. The truth is the median of those differences over the rounds,
// and their spread (max - min) is the noise floor: how far apart the truth lands from
// one round to the next, below which no disagreement means anything.

export const STATS = ['p50_ms', 'p90_ms', 'p99_ms', 'mean_ms'] as const;
export type Stat = (typeof STATS)[number];
export type Stats = Record<Stat, number>;
export type NullableStats = Record<Stat, number | null>;

/** A load generator's summary, as lab/load.ts gives it. */
export interface LoadSummary {
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  meanMs?: number | null;
}

/** One round: A alone and B alone, in the order they ran. */
export interface AbRound {
  order: 'AB' | 'BA';
  a: Stats;
  b: Stats;
}

export interface AbTruth {
  rounds: number;
  /** Median over rounds of B - A. */
  truth: Stats;
  /** Per round B - A, in round order. */
  differences: Stats[];
  /** max - min of the per-round B - A. */
  noiseFloor: Stats;
  /** max - min of A over the rounds: the same setup run again, with nothing changed. */
  aSpread: Stats;
}

/** A before B in even rounds, B before A in odd ones. */
export function roundOrder(round: number): 'AB' | 'BA' {
  return round % 2 === 0 ? 'AB' : 'BA';
}

/** The load's quantiles and mean, or undefined when it has no latency to give. */
export function statsOf(load: LoadSummary): Stats | undefined {
  const { p50Ms, p90Ms, p99Ms, meanMs } = load;
  if (p50Ms === null || p90Ms === null || p99Ms === null || meanMs === null || meanMs === undefined)
    return undefined;
  return { p50_ms: p50Ms, p90_ms: p90Ms, p99_ms: p99Ms, mean_ms: meanMs };
}

/** The median; of an even count, the mean of the middle two. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of nothing');
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function spread(values: readonly number[]): number {
  return values.length === 0 ? 0 : Math.max(...values) - Math.min(...values);
}

const perStat = <T>(f: (stat: Stat) => T): Record<Stat, T> => ({
  p50_ms: f('p50_ms'),
  p90_ms: f('p90_ms'),
  p99_ms: f('p99_ms'),
  mean_ms: f('mean_ms'),
});

/** Applies f to every statistic. */
export function mapStats<T, U>(stats: Record<Stat, T>, f: (value: T) => U): Record<Stat, U> {
  return perStat((s) => f(stats[s]));
}

export function abTruth(rounds: readonly AbRound[]): AbTruth {
  if (rounds.length === 0) throw new RangeError('an A/B truth needs at least one round');
  const differences = rounds.map((r) => perStat((s) => r.b[s] - r.a[s]));
  return {
    rounds: rounds.length,
    truth: perStat((s) => median(differences.map((d) => d[s]))),
    differences,
    noiseFloor: perStat((s) => spread(differences.map((d) => d[s]))),
    aSpread: perStat((s) => spread(rounds.map((r) => r.a[s]))),
  };
}

/**
 * The median over rounds of a figure reported per round, statistic by statistic, over the
 * rounds that have it: the reported counterpart of the truth, so that both are made the
 * same way and one bad round moves neither. Null where no round has it.
 */
export function medianOfRounds(rounds: readonly NullableStats[]): NullableStats {
  return perStat((s) => {
    const values = rounds.map((r) => r[s]).filter((v): v is number => v !== null);
    return values.length === 0 ? null : median(values);
  });
}

/** How close the reported figure must be: the larger of a share of the truth and a floor. */
export interface Tolerance {
  relative: number;
  absoluteMs: number;
}

/** p50 and mean within 15% or 20 us, p90 within 20%, p99 within 30%. */
export const ADDED_LATENCY_TOLERANCE: Record<Stat, Tolerance> = {
  p50_ms: { relative: 0.15, absoluteMs: 0.02 },
  p90_ms: { relative: 0.2, absoluteMs: 0 },
  p99_ms: { relative: 0.3, absoluteMs: 0 },
  mean_ms: { relative: 0.15, absoluteMs: 0.02 },
};

export interface StatCheck {
  /** |reported - truth|; null when nothing was reported. */
  error_ms: number | null;
  /** error / truth; null when nothing was reported or the truth is not positive. */
  rel_error: number | null;
  tolerance_ms: number;
  met: boolean;
  /** For a miss: the error is no larger than the truth's own run-to-run spread. */
  within_noise_floor: boolean;
}

export function checkStat(
  truthMs: number,
  reportedMs: number | null,
  noiseFloorMs: number,
  tolerance: Tolerance,
): StatCheck {
  const toleranceMs = Math.max(tolerance.relative * Math.abs(truthMs), tolerance.absoluteMs);
  if (reportedMs === null)
    return {
      error_ms: null,
      rel_error: null,
      tolerance_ms: toleranceMs,
      met: false,
      within_noise_floor: false,
    };
  const error = Math.abs(reportedMs - truthMs);
  const met = truthMs > 0 && error <= toleranceMs;
  return {
    error_ms: error,
    rel_error: truthMs > 0 ? error / truthMs : null,
    tolerance_ms: toleranceMs,
    met,
    within_noise_floor: !met && error <= noiseFloorMs,
  };
}

export function checkStats(
  truth: Stats,
  reported: NullableStats,
  noiseFloor: Stats,
  tolerances: Record<Stat, Tolerance> = ADDED_LATENCY_TOLERANCE,
): Record<Stat, StatCheck> {
  return perStat((s) => checkStat(truth[s], reported[s], noiseFloor[s], tolerances[s]));
}

/**
 * The largest relative error of one statistic over conditions. A condition with nothing
 * reported, or a truth that is not positive, counts as 1 (entirely off).
 */
export function relErrorMax(checks: readonly Record<Stat, StatCheck>[], stat: Stat): number {
  if (checks.length === 0) return 0;
  return Math.max(...checks.map((c) => c[stat].rel_error ?? 1));
}
