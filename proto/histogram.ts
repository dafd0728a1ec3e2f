// The log-linear histogram layout shared by kernel, wire, store and browser (TypeScript
// side; the C side is proto/histogram.h, and a test checks that both agree).
//
// Values are nanoseconds. Values 0..15 each have their own bucket. Above, a value's bucket
// is its power of two p plus the 4 bits below its leading one: index = (p - 3) * 16 + sub.
// A bucket is 1/16 of its power of two wide, so reading a quantile as the bucket's midpoint
// is off by at most 1/32 (3.1%) of the value. Values of 2^(MAX_POWER+1) ns (~36 min) and
// more are clamped into the last bucket.
// Pure: no I/O. Sparse histograms are the wire shape: ascending indexes, positive counts.

export const SUB_BUCKET_BITS = 4;
export const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
export const MAX_POWER = 40;
export const BUCKET_COUNT = (MAX_POWER - SUB_BUCKET_BITS + 1) * SUB_BUCKETS + SUB_BUCKETS;
/** Worst-case relative error of a quantile read from a log-linear bucket. */
export const MAX_RELATIVE_ERROR = 1 / (2 * SUB_BUCKETS);

export type Layout = 'HISTOGRAM_LAYOUT_LOG_LINEAR_16' | 'HISTOGRAM_LAYOUT_POWER_OF_TWO';

export interface SparseHistogram {
  layout: Layout;
  indexes: number[];
  counts: number[];
  sumNs: number;
}

const TWO_POW_32 = 2 ** 32;

/** floor(log2(v)) for an integer 1 <= v < 2^53, exact (no floating-point log). */
function log2Floor(v: number): number {
  if (v >= TWO_POW_32) return 32 + 31 - Math.clz32(Math.floor(v / TWO_POW_32));
  return 31 - Math.clz32(v);
}

export function bucketIndex(valueNs: number): number {
  const v = Math.max(0, Math.floor(valueNs));
  if (v < SUB_BUCKETS) return v;
  const power = log2Floor(v);
  if (power > MAX_POWER) return BUCKET_COUNT - 1;
  const sub = Math.floor(v / 2 ** (power - SUB_BUCKET_BITS)) - SUB_BUCKETS;
  return (power - SUB_BUCKET_BITS + 1) * SUB_BUCKETS + sub;
}

/**
 * The POWER_OF_TWO bucket of a value (the bpftrace fallback's hist()): 0 holds [0, 1),
 * bucket i >= 1 holds [2^(i-1), 2^i). The inverse of bucketBounds for that layout.
 */
export function powerOfTwoIndex(valueNs: number): number {
  const v = Math.floor(valueNs);
  return v < 1 ? 0 : log2Floor(v) + 1;
}

/** [lower, upper) in nanoseconds of a bucket of the given layout. */
export function bucketBounds(layout: Layout, index: number): [number, number] {
  if (layout === 'HISTOGRAM_LAYOUT_POWER_OF_TWO') {
    return index === 0 ? [0, 1] : [2 ** (index - 1), 2 ** index];
  }
  if (index < SUB_BUCKETS) return [index, index + 1];
  const power = Math.floor(index / SUB_BUCKETS) + SUB_BUCKET_BITS - 1;
  const sub = index % SUB_BUCKETS;
  const width = 2 ** (power - SUB_BUCKET_BITS);
  const lower = (SUB_BUCKETS + sub) * width;
  return [lower, lower + width];
}

/** The value a bucket stands for: exact below 16, else the midpoint. */
export function bucketValue(layout: Layout, index: number): number {
  const [lower, upper] = bucketBounds(layout, index);
  return upper - lower <= 1 ? lower : (lower + upper) / 2;
}

/** Builds a sparse histogram from values (for tests, the lab and synthesised data). */
export function fromValues(valuesNs: Iterable<number>): SparseHistogram {
  const counts = new Map<number, number>();
  let sumNs = 0;
  for (const v of valuesNs) {
    const i = bucketIndex(v);
    counts.set(i, (counts.get(i) ?? 0) + 1);
    sumNs += Math.max(0, Math.floor(v));
  }
  const indexes = [...counts.keys()].sort((a, b) => a - b);
  return {
    layout: 'HISTOGRAM_LAYOUT_LOG_LINEAR_16',
    indexes,
    counts: indexes.map((i) => counts.get(i)!),
    sumNs,
  };
}

export function emptyHistogram(layout: Layout = 'HISTOGRAM_LAYOUT_LOG_LINEAR_16'): SparseHistogram {
  return { layout, indexes: [], counts: [], sumNs: 0 };
}

export function totalCount(h: SparseHistogram): number {
  let n = 0;
  for (const c of h.counts) n += c;
  return n;
}

/** Merges by adding bucket counts; both must share a layout (an empty one adopts the other's). */
export function merge(a: SparseHistogram, b: SparseHistogram): SparseHistogram {
  if (a.indexes.length === 0)
    return { ...b, indexes: [...b.indexes], counts: [...b.counts], sumNs: a.sumNs + b.sumNs };
  if (b.indexes.length > 0 && a.layout !== b.layout) {
    throw new Error(`cannot merge histograms of layouts ${a.layout} and ${b.layout}`);
  }
  const indexes: number[] = [];
  const counts: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.indexes.length || j < b.indexes.length) {
    const ai = a.indexes[i] ?? Number.POSITIVE_INFINITY;
    const bj = b.indexes[j] ?? Number.POSITIVE_INFINITY;
    if (ai === bj) {
      indexes.push(ai);
      counts.push(a.counts[i++]! + b.counts[j++]!);
    } else if (ai < bj) {
      indexes.push(ai);
      counts.push(a.counts[i++]!);
    } else {
      indexes.push(bj);
      counts.push(b.counts[j++]!);
    }
  }
  return { layout: a.layout, indexes, counts, sumNs: a.sumNs + b.sumNs };
}

/**
 * Adds `n` sparse buckets (ascending indexes) into `target`, in place: for reads that
 * fold thousands of rows into one histogram, where a new array per merge was most of
 * the cost. Same layout assumed (the caller checks).
 */
export function addInto(
  target: SparseHistogram,
  indexes: ArrayLike<number>,
  counts: ArrayLike<number>,
  n: number,
  sumNs: number,
): void {
  target.sumNs += sumNs;
  const ti = target.indexes;
  const tc = target.counts;
  let j = 0;
  for (let k = 0; k < n; k++) {
    const index = indexes[k]!;
    while (j < ti.length && ti[j]! < index) j++;
    if (j < ti.length && ti[j] === index) tc[j]! += counts[k]!;
    else {
      // A bucket the target has not had: rare once a series' shape is known.
      ti.splice(j, 0, index);
      tc.splice(j, 0, counts[k]!);
    }
    j++;
  }
}

/** The q-quantile (0 <= q <= 1) in nanoseconds, or undefined for an empty histogram. */
export function quantile(h: SparseHistogram, q: number): number | undefined {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be within [0, 1], got ${q}`);
  const total = totalCount(h);
  if (total === 0) return undefined;
  // The smallest bucket whose cumulative count reaches rank; rank >= 1 so q=0 is the minimum.
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let k = 0; k < h.indexes.length; k++) {
    seen += h.counts[k]!;
    if (seen >= rank) return bucketValue(h.layout, h.indexes[k]!);
  }
  return bucketValue(h.layout, h.indexes[h.indexes.length - 1]!);
}

export function mean(h: SparseHistogram): number | undefined {
  const total = totalCount(h);
  return total === 0 ? undefined : h.sumNs / total;
}

/** Describes what is wrong with a histogram from outside, or returns undefined when sound. */
export function validate(h: SparseHistogram): string | undefined {
  if (h.indexes.length !== h.counts.length) return 'indexes and counts differ in length';
  const limit = h.layout === 'HISTOGRAM_LAYOUT_POWER_OF_TWO' ? 64 : BUCKET_COUNT;
  for (let k = 0; k < h.indexes.length; k++) {
    const index = h.indexes[k]!;
    if (!Number.isInteger(index) || index < 0 || index >= limit)
      return `bucket index ${index} out of range`;
    if (k > 0 && index <= h.indexes[k - 1]!) return 'bucket indexes not strictly ascending';
    const count = h.counts[k]!;
    if (!Number.isSafeInteger(count) || count <= 0) return `bucket ${index} has count ${count}`;
  }
  if (!Number.isSafeInteger(h.sumNs) || h.sumNs < 0) return `sum ${h.sumNs} out of range`;
  return undefined;
}
