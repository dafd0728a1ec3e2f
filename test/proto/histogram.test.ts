// The log-linear layout's promises: every value lands in a bucket that contains it,
// buckets are contiguous, quantiles are within ~3%, merging equals recording together.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BUCKET_COUNT,
  bucketBounds,
  bucketIndex,
  bucketValue,
  emptyHistogram,
  fromValues,
  MAX_RELATIVE_ERROR,
  mean,
  merge,
  powerOfTwoIndex,
  quantile,
  validate,
} from '../../proto/histogram.js';

const LL = 'HISTOGRAM_LAYOUT_LOG_LINEAR_16' as const;

/** A deterministic pseudo-random sequence (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('buckets are contiguous and cover 0 .. 2^41 without gaps', () => {
  assert.equal(bucketIndex(0), 0);
  let expectedLower = 0;
  for (let i = 0; i < BUCKET_COUNT; i++) {
    const [lower, upper] = bucketBounds(LL, i);
    assert.equal(lower, expectedLower, `bucket ${i} starts where ${i - 1} ends`);
    assert.ok(upper > lower);
    expectedLower = upper;
  }
  assert.equal(expectedLower, 2 ** 41);
  assert.equal(bucketIndex(2 ** 41), BUCKET_COUNT - 1, 'larger values clamp to the last bucket');
  assert.equal(bucketIndex(2 ** 52), BUCKET_COUNT - 1);
});

test('every value falls inside its bucket; the bucket value is within 1/32 of it', () => {
  const next = random(1);
  const values = [
    1,
    15,
    16,
    17,
    31,
    32,
    33,
    1023,
    1024,
    1025,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 32 + 1,
    2 ** 41 - 1,
  ];
  for (let k = 0; k < 20_000; k++) values.push(Math.floor(2 ** (next() * 41)));
  for (const v of values) {
    const i = bucketIndex(v);
    const [lower, upper] = bucketBounds(LL, i);
    assert.ok(v >= lower && v < upper, `${v} in [${lower}, ${upper}) of bucket ${i}`);
    const error = Math.abs(bucketValue(LL, i) - v) / v;
    assert.ok(error <= MAX_RELATIVE_ERROR + 1e-12, `${v}: relative error ${error}`);
  }
});

test('quantiles of a known distribution are within 3% of the exact ones', () => {
  const next = random(7);
  // Log-normal-ish latencies around 2 ms, as a real exchange latency looks.
  const values = Array.from({ length: 50_000 }, () =>
    Math.floor(2e6 * Math.exp((next() - 0.5) * 3)),
  );
  const sorted = [...values].sort((a, b) => a - b);
  const h = fromValues(values);
  for (const q of [0, 0.5, 0.9, 0.99, 0.999, 1]) {
    const exact = sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
    const estimate = quantile(h, q)!;
    assert.ok(Math.abs(estimate - exact) / exact <= 0.03, `q=${q}: ${estimate} vs ${exact}`);
  }
  const exactMean = values.reduce((s, v) => s + v, 0) / values.length;
  assert.equal(mean(h), exactMean, 'the mean is exact: the sum is carried');
});

test('merging equals recording all values in one histogram', () => {
  const next = random(3);
  const a = Array.from({ length: 3000 }, () => Math.floor(next() * 1e7));
  const b = Array.from({ length: 2000 }, () => Math.floor(next() * 1e5));
  assert.deepEqual(merge(fromValues(a), fromValues(b)), fromValues([...a, ...b]));
  assert.deepEqual(merge(emptyHistogram(), fromValues(b)), fromValues(b));
  assert.deepEqual(merge(fromValues(a), emptyHistogram()), fromValues(a));
});

test('merging different layouts is refused; empty histograms have no quantile', () => {
  const p2 = {
    layout: 'HISTOGRAM_LAYOUT_POWER_OF_TWO' as const,
    indexes: [3],
    counts: [1],
    sumNs: 5,
  };
  assert.throws(() => merge(fromValues([5]), p2), /cannot merge/);
  assert.equal(quantile(emptyHistogram(), 0.5), undefined);
  assert.throws(() => quantile(fromValues([1]), 1.5), RangeError);
  assert.deepEqual(bucketBounds('HISTOGRAM_LAYOUT_POWER_OF_TWO', 3), [4, 8]);
});

test('validate names what is wrong with a histogram from outside', () => {
  assert.equal(validate(fromValues([1, 2, 3e6])), undefined);
  const bad = (patch: object) => validate({ ...fromValues([1, 2]), ...patch });
  assert.match(bad({ counts: [1] }) ?? '', /differ in length/);
  assert.match(bad({ indexes: [2, 1] }) ?? '', /ascending/);
  assert.match(bad({ indexes: [1, BUCKET_COUNT] }) ?? '', /out of range/);
  assert.match(bad({ counts: [1, 0] }) ?? '', /count 0/);
  assert.match(bad({ sumNs: -1 }) ?? '', /sum/);
});

test("the power-of-two layout's index and bounds are one rule: each bucket's ends index to it", () => {
  assert.equal(powerOfTwoIndex(0), 0);
  assert.equal(powerOfTwoIndex(1), 1);
  assert.equal(powerOfTwoIndex(1023), 10);
  assert.equal(powerOfTwoIndex(1024), 11);
  for (let i = 1; i <= 52; i++) {
    const [lower, upper] = bucketBounds('HISTOGRAM_LAYOUT_POWER_OF_TWO', i);
    assert.equal(powerOfTwoIndex(lower), i, `bucket ${i}'s lower end`);
    assert.equal(powerOfTwoIndex(upper - 1), i, `bucket ${i}'s last value`);
  }
});
