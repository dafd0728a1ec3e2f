// The A/B truth's arithmetic: rounds alternate their order, the truth is the median of
// the per-round differences, the noise floor their spread, and a reported figure is judged
// against the truth with the larger of a relative and an absolute tolerance. A reported
// added-latency distribution is held to B - A of quantiles through the B it implies (A
// plus it, as independent), which these tests check against distributions whose sums are
// known.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AbRound,
  abTruth,
  checkStat,
  checkStats,
  median,
  medianOfRounds,
  type Points,
  pointsOf,
  pointsQuantile,
  pooledStats,
  pooledTruth,
  predictedAdded,
  QUANTILE_LEVEL,
  QUANTILE_STATS,
  relErrorMax,
  roundOrder,
  type Stats,
  spread,
  spreadOfRounds,
  statsOf,
  sumOf,
} from '../../bench/ab-truth.js';
import {
  bucketBounds,
  bucketIndex,
  bucketValue,
  fromValues,
  quantile,
} from '../../proto/histogram.js';

const stats = (p50: number, p90: number, p99: number, mean: number): Stats => ({
  p50_ms: p50,
  p90_ms: p90,
  p99_ms: p99,
  mean_ms: mean,
});

test('rounds flip their order; median and spread', () => {
  assert.deepEqual([0, 1, 2, 3].map(roundOrder), ['AB', 'BA', 'AB', 'BA']);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5, 'an even count: the mean of the middle two');
  assert.equal(median([-1]), -1);
  assert.throws(() => median([]), /median of nothing/);
  assert.equal(spread([0.2, 0.5, 0.1]), 0.5 - 0.1);
  assert.equal(spread([]), 0);
});

test('a load without latencies (or without a mean) has no statistics', () => {
  assert.deepEqual(statsOf({ p50Ms: 1, p90Ms: 2, p99Ms: 3, meanMs: 1.5 }), stats(1, 2, 3, 1.5));
  assert.equal(statsOf({ p50Ms: null, p90Ms: null, p99Ms: null, meanMs: null }), undefined);
  assert.equal(statsOf({ p50Ms: 1, p90Ms: 2, p99Ms: 3 }), undefined, 'an older result');
});

test('the truth is the median of B - A over rounds, the noise floor their spread', () => {
  const rounds: AbRound[] = [
    { order: 'AB', a: stats(2.0, 2.6, 4.0, 2.1), b: stats(2.1, 2.8, 4.5, 2.2) },
    { order: 'BA', a: stats(1.9, 2.5, 4.2, 2.0), b: stats(2.1, 2.7, 4.1, 2.3) },
    { order: 'AB', a: stats(2.05, 2.6, 4.1, 2.1), b: stats(2.2, 2.9, 5.1, 2.25) },
  ];
  const t = abTruth(rounds);
  assert.equal(t.rounds, 3);
  const close = (actual: number, expected: number, what: string) =>
    assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} vs ${expected}`);
  // Per round p50: 0.1, 0.2, 0.15 -> median 0.15, spread 0.1.
  close(t.truth.p50_ms, 0.15, 'p50 truth');
  close(t.noiseFloor.p50_ms, 0.1, 'p50 noise floor');
  // p99: 0.5, -0.1, 1.0 -> median 0.5 (a round can come out negative: that is noise).
  close(t.truth.p99_ms, 0.5, 'p99 truth');
  close(t.noiseFloor.p99_ms, 1.1, 'p99 noise floor');
  close(t.aSpread.p50_ms, 0.15, 'A - A spread');
  assert.equal(t.differences.length, 3);
  assert.throws(() => abTruth([]), /at least one round/);
});

test('a reported figure is within the larger of the relative and absolute tolerance', () => {
  const p50 = { relative: 0.15, absoluteMs: 0.02 };
  // Small truths: 20 us absolute decides.
  assert.equal(checkStat(0.1, 0.118, 0.05, p50).met, true);
  assert.equal(checkStat(0.1, 0.125, 0.05, p50).met, false);
  // Large truths: 15% decides.
  assert.equal(checkStat(2, 2.29, 0.05, p50).met, true);
  const miss = checkStat(2, 1.6, 0.5, p50);
  assert.equal(miss.met, false);
  assert.ok(Math.abs(miss.rel_error! - 0.2) < 1e-9);
  assert.equal(miss.within_noise_floor, true, '0.4 ms off, with a noise floor of 0.5 ms');
  assert.equal(checkStat(2, 1.6, 0.3, p50).within_noise_floor, false);
  assert.equal(checkStat(2, 2.1, 1, p50).within_noise_floor, false, 'a hit is no miss');
  const none = checkStat(0.1, null, 1, p50);
  assert.deepEqual(
    [none.met, none.error_ms, none.rel_error, none.within_noise_floor],
    [false, null, null, false],
  );
  // A truth that is not positive cannot be met: the A/B saw no added latency at all.
  const flat = checkStat(-0.01, 0.005, 0.05, p50);
  assert.equal(flat.met, false);
  assert.equal(flat.rel_error, null);
});

test('checks per statistic use their own tolerances; the max error counts misses as 1', () => {
  const truth = stats(0.1, 0.2, 1, 0.12);
  const noise = stats(0.05, 0.1, 2, 0.05);
  const checks = checkStats(
    truth,
    { p50_ms: 0.11, p90_ms: 0.25, p99_ms: 1.29, mean_ms: null },
    noise,
  );
  assert.equal(checks.p50_ms.met, true);
  assert.equal(checks.p90_ms.met, false, '25% off, 20% allowed');
  assert.equal(checks.p90_ms.within_noise_floor, true);
  assert.equal(checks.p99_ms.met, true, '29% off, 30% allowed');
  assert.equal(checks.mean_ms.met, false);
  const other = checkStats(truth, { p50_ms: 0.13, p90_ms: 0.2, p99_ms: 1, mean_ms: 0.12 }, noise);
  assert.ok(Math.abs(relErrorMax([checks, other], 'p50_ms') - 0.3) < 1e-9);
  assert.equal(relErrorMax([checks, other], 'mean_ms'), 1, 'nothing reported counts as 1');
  assert.equal(relErrorMax([], 'p50_ms'), 0);
});

test('the reported figure per round is summarised as the truth is: the median over rounds', () => {
  const round = (p50: number | null, p99: number | null) => ({
    p50_ms: p50,
    p90_ms: null,
    p99_ms: p99,
    mean_ms: 0.1,
  });
  // One round gone bad (its B run overloaded) moves neither figure.
  const m = medianOfRounds([round(0.1, 0.3), round(80, 300), round(0.12, 0.5), round(0.11, null)]);
  assert.ok(Math.abs(m.p50_ms! - 0.115) < 1e-9, `p50 ${m.p50_ms}`);
  assert.equal(m.p99_ms, 0.5, 'over the rounds that have it');
  assert.equal(m.p90_ms, null, 'no round has it');
  assert.equal(m.mean_ms, 0.1);
});

test('the spread of a figure over the rounds that have it', () => {
  const round = (p50: number | null) => ({ p50_ms: p50, p90_ms: null, p99_ms: 1, mean_ms: 0.1 });
  const s = spreadOfRounds([round(0.1), round(0.3), round(null), round(0.15)]);
  assert.ok(Math.abs(s.p50_ms! - 0.2) < 1e-9);
  assert.equal(s.p90_ms, null);
  assert.equal(s.p99_ms, 0);
});

const points = (pairs: [number, number][]): Points => ({
  values: Float64Array.from(pairs.map(([v]) => v)),
  weights: Float64Array.from(pairs.map(([, w]) => w)),
});
const near = (actual: number | undefined, expected: number, slack: number, what: string) =>
  assert.ok(
    actual !== undefined && Math.abs(actual - expected) <= slack,
    `${what}: ${actual} vs ${expected} (+-${slack})`,
  );

test('one point per bucket reads a histogram as proto/histogram.ts does', () => {
  // Latencies 0.5 .. 8 ms, uneven, deterministic.
  const values = Array.from({ length: 997 }, (_, i) => 5e5 + ((i * 7919) % 997) ** 1.3 * 700);
  const h = fromValues(values);
  const p = pointsOf(h);
  assert.equal(p.values.length, h.indexes.length);
  near(
    p.weights.reduce((n, w) => n + w, 0),
    1,
    1e-12,
    'probabilities sum to 1',
  );
  for (const q of [0, 0.1, 0.5, 0.9, 0.99, 0.999, 1])
    assert.equal(pointsQuantile(p, q), quantile(h, q), `q ${q}`);
  assert.equal(
    pointsQuantile({ values: new Float64Array(), weights: new Float64Array() }, 0.5),
    undefined,
  );
  assert.throws(() => pointsQuantile(p, 1.5), /within \[0, 1\]/);
  assert.throws(() => pointsOf(h, 0), /positive integer/);
});

test('subdivided, a bucket is spread evenly across its width (exact buckets stay points)', () => {
  const index = bucketIndex(2_000_000);
  const [lower, upper] = bucketBounds('HISTOGRAM_LAYOUT_LOG_LINEAR_16', index);
  const w = upper - lower;
  const p = pointsOf(fromValues([2_000_000, 2_000_000, 7]), 4);
  assert.deepEqual(
    [...p.values],
    [7, lower + w / 8, lower + (3 * w) / 8, lower + (5 * w) / 8, lower + (7 * w) / 8],
  );
  assert.deepEqual([...p.weights], [1 / 3, 1 / 6, 1 / 6, 1 / 6, 1 / 6]);
});

test('the sum of independent distributions: every pair, equal sums merged', () => {
  // a: 1 or 3 (1/2 each); b: 0 (1/4) or 2 (3/4). Sums 1 (1/8), 3 (3/8 + 1/8), 5 (3/8).
  const s = sumOf(
    points([
      [1, 0.5],
      [3, 0.5],
    ]),
    points([
      [0, 0.25],
      [2, 0.75],
    ]),
  );
  assert.deepEqual([...s.values], [1, 3, 5]);
  assert.deepEqual([...s.weights], [0.125, 0.5, 0.375]);
  assert.equal(sumOf(points([]), points([[1, 1]])).values.length, 0);
});

test('a constant added latency shifts every quantile by exactly itself', () => {
  const a = fromValues(Array.from({ length: 500 }, (_, i) => 1.5e6 + ((i * 37) % 500) * 4000));
  // 150 us lands in a bucket whose value is what the added latency is read as.
  const added = fromValues(Array.from({ length: 300 }, () => 150_000));
  const constant = bucketValue('HISTOGRAM_LAYOUT_LOG_LINEAR_16', bucketIndex(150_000)) / 1e6;
  for (const subdivisions of [1, 16]) {
    const predicted = predictedAdded(a, added, subdivisions)!;
    for (const stat of QUANTILE_STATS)
      near(predicted[stat], constant, 1e-9, `${stat}, ${subdivisions} points per bucket`);
  }
});

test('two discrete distributions: the sum quantiles by hand', () => {
  // Values below 16 ns have buckets of their own, so these are exact.
  // A: 2 (3/5) or 12 (2/5): p50 2, p90 12, p99 12.
  // Added: 0 (4/5) or 3 (1/5): p50 0, p90 3, p99 3, mean 0.6.
  // A + added: 2 (12/25), 5 (3/25), 12 (8/25), 15 (2/25); cumulative 0.48, 0.6, 0.92, 1:
  // p50 5, p90 12, p99 15. B - A of quantiles: p50 3, p90 0, p99 3 -- not the added
  // latency's own 0, 3, 3, which is why the two cannot be compared directly.
  const a = fromValues([2, 2, 2, 12, 12]);
  const added = fromValues([0, 0, 0, 0, 3]);
  const predicted = predictedAdded(a, added)!;
  assert.deepEqual(predicted, { p50_ms: 3e-6, p90_ms: 0, p99_ms: 3e-6 });
  assert.equal(predictedAdded(a, fromValues([])), undefined);
  assert.equal(predictedAdded(fromValues([]), added), undefined);
});

/** A log-logistic distribution's p-quantile: median times (p / (1 - p)) ^ shape. */
const logLogistic = (medianNs: number, shape: number) => (p: number) =>
  medianNs * (p / (1 - p)) ** shape;
/** n values at evenly spaced probabilities: the distribution, without randomness. */
const grid = (n: number, quantileOf: (p: number) => number) =>
  Array.from({ length: n }, (_, i) => quantileOf((i + 0.5) / n));
const nearestRank = (sorted: Float64Array, q: number) =>
  sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;

test('the prediction recovers B - A of quantiles where the added latency varies', () => {
  // A: p50 2.0, p90 2.6, p99 3.5 ms; added: p50 0.14, p90 0.29, p99 0.64 ms. B is every
  // A latency plus every added latency, an exact independent sum (A's grid fine enough
  // that its own steps are a few us at p99).
  const aValues = grid(8000, logLogistic(2e6, Math.log(1.3) / Math.log(9)));
  const addedValues = grid(200, logLogistic(1.4e5, Math.log(0.29 / 0.14) / Math.log(9)));
  const sortedA = Float64Array.from(aValues).sort();
  const sortedB = Float64Array.from(aValues.flatMap((x) => addedValues.map((d) => x + d))).sort();
  const a = fromValues(aValues);
  const added = fromValues(addedValues);
  const predicted = predictedAdded(a, added)!;
  const midpoints = predictedAdded(a, added, 1)!;
  for (const stat of QUANTILE_STATS) {
    const q = QUANTILE_LEVEL[stat];
    const truth = (nearestRank(sortedB, q) - nearestRank(sortedA, q)) / 1e6;
    const direct = quantile(added, q)! / 1e6;
    // Within the buckets' resolution: 5% of the truth, about 10 us.
    near(predicted[stat], truth, 0.05 * truth, `${stat} predicted`);
    assert.ok(
      Math.abs(direct - truth) > 2 * Math.abs(predicted[stat] - truth) + 0.02,
      `${stat}: the added latency's own quantile ${direct} is far from B - A ${truth}`,
    );
  }
  // Read at its buckets' midpoints, A's p90 (2.6 ms, in a bucket 131 us wide) is off by
  // more than the prediction: the reason A is spread across its buckets.
  const truthP90 = (nearestRank(sortedB, 0.9) - nearestRank(sortedA, 0.9)) / 1e6;
  assert.ok(
    Math.abs(midpoints.p90_ms - truthP90) > 0.02,
    `midpoints ${midpoints.p90_ms} vs ${truthP90}`,
  );
});

/** A run of `n` latencies spread evenly over [lowMs, highMs), as the generator would count them. */
function run(n: number, lowMs: number, highMs: number) {
  const values = Array.from(
    { length: n },
    (_, i) => (lowMs + ((highMs - lowMs) * (i + 0.5)) / n) * 1e6,
  );
  return { latency: fromValues(values), meanMs: values.reduce((x, y) => x + y, 0) / n / 1e6 };
}

test('pooled runs: the mean over every request, quantiles of the merged histogram', () => {
  // 100 requests around 1 ms and 300 around 2 ms: a mean of 1.75 exactly, and the
  // merged p50 and p90 among the 2 ms ones, the p10 among the 1 ms ones.
  const pooled = pooledStats([run(100, 0.99, 1.01), run(300, 1.99, 2.01)])!;
  assert.ok(Math.abs(pooled.mean_ms - 1.75) < 1e-9, String(pooled.mean_ms));
  for (const s of ['p50_ms', 'p90_ms', 'p99_ms'] as const)
    assert.ok(Math.abs(pooled[s] - 2) / 2 < 1 / 32, `${s} ${pooled[s]}`);
  assert.equal(pooledStats([]), undefined);
});

test('the pooled truth: B - A of the pooled sides, its noise floor the halves apart', () => {
  // Six rounds, A the same spread each time; B adds 0.1 ms in the first three rounds and
  // 0.3 ms in the last three. Pooled, the mean adds 0.2 exactly; the halves say 0.1 and
  // 0.3, so the noise floor of the mean is 0.2.
  const rounds = [0.1, 0.1, 0.1, 0.3, 0.3, 0.3].map((added) => ({
    a: run(500, 0.5, 1.5),
    b: run(500, 0.5 + added, 1.5 + added),
  }));
  const t = pooledTruth(rounds)!;
  assert.ok(Math.abs(t.truth.mean_ms - 0.2) < 1e-9, String(t.truth.mean_ms));
  assert.ok(
    Math.abs(t.halves[0].mean_ms - 0.1) < 1e-9 && Math.abs(t.halves[1].mean_ms - 0.3) < 1e-9,
  );
  assert.ok(Math.abs(t.noiseFloor.mean_ms - 0.2) < 1e-9);
  // Each half's quantiles move by its own shift, to the histogram's resolution (3% of
  // latencies near 1-2 ms: some 60 us at most).
  for (const s of ['p50_ms', 'p90_ms', 'p99_ms'] as const) {
    assert.ok(Math.abs(t.halves[0][s] - 0.1) < 0.07, `${s} first half ${t.halves[0][s]}`);
    assert.ok(Math.abs(t.halves[1][s] - 0.3) < 0.07, `${s} second half ${t.halves[1][s]}`);
    assert.ok(t.truth[s] > 0.1 - 0.07 && t.truth[s] < 0.3 + 0.07, `${s} pooled ${t.truth[s]}`);
  }
  assert.equal(pooledTruth(rounds.slice(0, 1)), undefined, 'one round has no halves');
});
