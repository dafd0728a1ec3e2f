// The arithmetic of an A/B truth for a sidecar's added latency. Pure. The same load at the
// same offered rate runs with the sidecar bypassed (A) and in the path (B), interleaved
// over rounds with the order flipped each round so drift over time does not favour either;
// per round the difference B - A of each statistic of the load generator's own latency is
// the truth for that round. The truth is the median of those differences over the rounds,
// and their spread (max - min) is the noise floor: how far apart the truth lands from
// one round to the next, below which no disagreement means anything.
//
// Only the mean of B - A is the mean of what the sidecar added: means add, quantiles do
// not. q_B(p) - q_A(p) equals the p-quantile of the added latency only when the added
// latency is constant; when it varies, a slow added latency lands on A latencies of every
// size and the differences of quantiles flatten out (simulated: A at p50 2.0 / p90 2.6 /
// p99 3.5 ms plus an independent added latency of p50 0.14 / p90 0.29 / p99 0.52 ms gives
// B - A of 0.167 / 0.182 / 0.178). So the quantiles a profiler reports of the added
// latency are held to B - A through what they imply for B (predictedAdded below).

import {
  bucketBounds,
  bucketValue,
  emptyHistogram,
  merge,
  quantile,
  type SparseHistogram,
  totalCount,
} from '../proto/histogram.js';

export const STATS = ['p50_ms', 'p90_ms', 'p99_ms', 'mean_ms'] as const;
export type Stat = (typeof STATS)[number];
export type Stats = Record<Stat, number>;
export type NullableStats = Record<Stat, number | null>;

/** A load generator's summary, as daemonset/load/load.ts gives it. */
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

/** A record of f's value for every statistic. */
export const perStat = <T>(f: (stat: Stat) => T): Record<Stat, T> => ({
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

/**
 * The spread (max - min) over rounds of a figure reported per round, over the rounds that
 * have it: how much the reported figure itself moves from one B run to the next. Null
 * where no round has it.
 */
export function spreadOfRounds(rounds: readonly NullableStats[]): NullableStats {
  return perStat((s) => {
    const values = rounds.map((r) => r[s]).filter((v): v is number => v !== null);
    return values.length === 0 ? null : spread(values);
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

// The B a reported added latency implies. Taking an A latency and an added latency as
// independent (the model in which B - A measures an added latency at all), a B latency is
// their sum, distributed as the convolution of the two. Its quantiles less A's are on the
// added-latency scale and are the very quantity B - A of quantiles measures, so a reported
// distribution can be held to the A/B truth quantile by quantile. The mean needs none of
// this: the mean of B less the mean of A is the mean added latency, exactly.

/** The quantile statistics, with the level each reads. */
export const QUANTILE_STATS = ['p50_ms', 'p90_ms', 'p99_ms'] as const;
export type QuantileStat = (typeof QUANTILE_STATS)[number];
export const QUANTILE_LEVEL: Record<QuantileStat, number> = {
  p50_ms: 0.5,
  p90_ms: 0.9,
  p99_ms: 0.99,
};

/** A discrete distribution: values ascending, each with its probability (they sum to 1). */
export interface Points {
  values: Float64Array;
  weights: Float64Array;
}

/**
 * Points per bucket of A when predicting B (see pointsOf): with 16, a bucket of A's
 * latencies (1/16 of a power of two wide, 65 us around 2 ms) is read to 1/256 of the
 * value, 4 us there, well inside the 20 us that the p50 is judged by.
 */
export const A_SUBDIVISIONS = 16;

/**
 * A histogram as a discrete distribution. With one point per bucket, each at the bucket's
 * value (proto/histogram.ts: exact below 16 ns, else the midpoint), its quantiles are the
 * histogram's own, off the values behind them by up to 1/32 (~3%). With `subdivisions`
 * points spread evenly across each wider bucket, the latencies are taken as spread evenly
 * inside it instead, and a quantile falls where in its bucket the counts say.
 */
export function pointsOf(h: SparseHistogram, subdivisions = 1): Points {
  if (!(Number.isInteger(subdivisions) && subdivisions >= 1))
    throw new RangeError(`subdivisions must be a positive integer, got ${subdivisions}`);
  const total = totalCount(h);
  const values: number[] = [];
  const weights: number[] = [];
  for (let k = 0; k < h.indexes.length; k++) {
    const index = h.indexes[k]!;
    const p = h.counts[k]! / total;
    const [lower, upper] = bucketBounds(h.layout, index);
    const width = upper - lower;
    if (subdivisions === 1 || width <= 1) {
      values.push(bucketValue(h.layout, index));
      weights.push(p);
      continue;
    }
    for (let j = 0; j < subdivisions; j++) {
      values.push(lower + ((j + 0.5) * width) / subdivisions);
      weights.push(p / subdivisions);
    }
  }
  return { values: Float64Array.from(values), weights: Float64Array.from(weights) };
}

/**
 * The q-quantile of a distribution by nearest rank, as proto/histogram.ts reads a
 * histogram: the smallest value whose cumulative probability reaches q (a hair of slack
 * for the rounding of summed probabilities). Undefined for an empty distribution.
 */
export function pointsQuantile(points: Points, q: number): number | undefined {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be within [0, 1], got ${q}`);
  const n = points.values.length;
  if (n === 0) return undefined;
  let seen = 0;
  for (let i = 0; i < n; i++) {
    seen += points.weights[i]!;
    if (seen >= q - 1e-12) return points.values[i]!;
  }
  return points.values[n - 1]!;
}

/** The distribution of a + b for independent a and b: every pair, its probability the product. */
export function sumOf(a: Points, b: Points): Points {
  const n = a.values.length * b.values.length;
  const values = new Float64Array(n);
  const weights = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < a.values.length; i++)
    for (let j = 0; j < b.values.length; j++, k++) {
      values[k] = a.values[i]! + b.values[j]!;
      weights[k] = a.weights[i]! * b.weights[j]!;
    }
  const order = Uint32Array.from({ length: n }, (_, i) => i).sort(
    (x, y) => values[x]! - values[y]!,
  );
  // Equal sums as one point, so that a quantile cannot stop between two of them.
  const outValues: number[] = [];
  const outWeights: number[] = [];
  for (const i of order) {
    const last = outValues.length - 1;
    if (last >= 0 && outValues[last] === values[i]) outWeights[last]! += weights[i]!;
    else {
      outValues.push(values[i]!);
      outWeights.push(weights[i]!);
    }
  }
  return { values: Float64Array.from(outValues), weights: Float64Array.from(outWeights) };
}

/**
 * What a reported added-latency distribution implies the A/B truth would be, quantile by
 * quantile: q(A (+) added, p) - q(A, p), in ms, for A the load generator's latencies with
 * the sidecar bypassed and (+) the independent sum. With several added latencies (the
 * sidecars along one path), A plus all of them. Undefined when any is empty.
 *
 * Both from histograms, so both carry the buckets' resolution: the added latency is read
 * at its buckets' values, as Tollgate reads its own quantiles (within ~3% of each value,
 * a few us at the added latencies measured here). A is spread across its buckets
 * (A_SUBDIVISIONS): read at its buckets' midpoints instead, q(A) would be off its latencies
 * by up to half a bucket (33 us around 2 ms) while q(A (+) added), smeared across several
 * buckets by the added latency, is off by much less, and the difference would carry that
 * error whole. Spread, both quantiles fall inside their buckets alike and the errors
 * cancel; a constant added latency still shifts every quantile by exactly itself.
 */
export function predictedAdded(
  a: SparseHistogram,
  added: SparseHistogram | readonly SparseHistogram[],
  subdivisions = A_SUBDIVISIONS,
): Record<QuantileStat, number> | undefined {
  // Several sidecars on the path (each one's added latency): their sum, as independent.
  const parts = Array.isArray(added) ? added : [added as SparseHistogram];
  if (totalCount(a) === 0 || parts.length === 0 || parts.some((h) => totalCount(h) === 0))
    return undefined;
  const aPoints = pointsOf(a, subdivisions);
  const total = parts.map((h) => pointsOf(h)).reduce((sum, p) => sumOf(sum, p));
  const b = sumOf(aPoints, total);
  const shift = (stat: QuantileStat) =>
    (pointsQuantile(b, QUANTILE_LEVEL[stat])! - pointsQuantile(aPoints, QUANTILE_LEVEL[stat])!) /
    1e6;
  return { p50_ms: shift('p50_ms'), p90_ms: shift('p90_ms'), p99_ms: shift('p99_ms') };
}

// Pooled: every round's runs of one side taken as one run. A p99 of one 2 s run at low
// load rests on its 6 or 7 slowest requests of some 620, and B - A of two such moves by
// more than the truth from one round to the next; the median over rounds of those
// differences keeps that scatter. Pooled over six rounds, each p99 rests on some 37 of
// 3,700. The rounds still alternate, so drift favours neither side. Its noise floor is
// the same truth of the first half of the rounds against that of the second half (each
// half holding both orders): what repeating the whole A/B gives.

/** One run's latencies as the load generator counted them, and its exact mean. */
export interface RunLatencies {
  latency: SparseHistogram;
  meanMs: number;
}

/**
 * Runs taken as one: quantiles of their merged histogram (read as proto/histogram.ts reads
 * one, to its ~3% resolution), the mean over every request (exact, from each run's own).
 * Undefined when they hold no request.
 */
export function pooledStats(runs: readonly RunLatencies[]): Stats | undefined {
  const all = runs.reduce((h, r) => merge(h, r.latency), emptyHistogram());
  const count = totalCount(all);
  if (count === 0) return undefined;
  const q = (level: number) => quantile(all, level)! / 1e6;
  return {
    p50_ms: q(QUANTILE_LEVEL.p50_ms),
    p90_ms: q(QUANTILE_LEVEL.p90_ms),
    p99_ms: q(QUANTILE_LEVEL.p99_ms),
    mean_ms: runs.reduce((sum, r) => sum + r.meanMs * totalCount(r.latency), 0) / count,
  };
}

export interface PooledTruth {
  /** B pooled less A pooled, over every round. */
  truth: Stats;
  /** The same over the first half of the rounds and over the second. */
  halves: [Stats, Stats];
  /** |first half - second half|. */
  noiseFloor: Stats;
}

/** The A/B truth pooled (see above); undefined with fewer than two rounds or an empty side. */
export function pooledTruth(
  rounds: readonly { a: RunLatencies; b: RunLatencies }[],
): PooledTruth | undefined {
  if (rounds.length < 2) return undefined;
  const of = (part: readonly { a: RunLatencies; b: RunLatencies }[]) => {
    const a = pooledStats(part.map((r) => r.a));
    const b = pooledStats(part.map((r) => r.b));
    return a && b ? perStat((s) => b[s] - a[s]) : undefined;
  };
  const half = rounds.length >> 1;
  const truth = of(rounds);
  const first = of(rounds.slice(0, half));
  const second = of(rounds.slice(half));
  if (!truth || !first || !second) return undefined;
  return {
    truth,
    halves: [first, second],
    noiseFloor: perStat((s) => Math.abs(first[s] - second[s])),
  };
}
