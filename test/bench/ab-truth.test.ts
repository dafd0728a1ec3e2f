// The A/B truth's arithmetic: rounds alternate their order, the truth is the median of
// the per-round differences, the noise floor their spread, and a reported figure is judged
// against the truth with the larger of a relative and an absolute tolerance.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AbRound,
  abTruth,
  checkStat,
  checkStats,
  median,
  medianOfRounds,
  relErrorMax,
  roundOrder,
  type Stats,
  spread,
  statsOf,
} from '../../bench/ab-truth.js';

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
