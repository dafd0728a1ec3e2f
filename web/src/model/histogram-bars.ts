// A latency histogram as bars on a log axis, and the axis domain that shows them. Pure:
// the shared histogram layout does the bucket maths.
import {
  bucketBounds,
  quantile,
  type SparseHistogram,
  totalCount,
} from '../../../proto/histogram.js';

export interface Bar {
  /** Bucket bounds in milliseconds, [lo, hi). */
  loMs: number;
  hiMs: number;
  count: number;
  /** Share of all samples. */
  share: number;
}

/** Below a microsecond nothing a network does is measured; the axis starts there. */
export const MIN_MS = 0.001;

export function bars(h: SparseHistogram | undefined): Bar[] {
  if (!h) return [];
  const total = totalCount(h);
  if (total === 0) return [];
  return h.indexes.map((index, k) => {
    const [lo, hi] = bucketBounds(h.layout, index);
    return {
      loMs: Math.max(MIN_MS, lo / 1e6),
      hiMs: Math.max(MIN_MS * 1.0625, hi / 1e6),
      count: h.counts[k]!,
      share: h.counts[k]! / total,
    };
  });
}

/** A log domain in ms that holds every bar, widened to whole decades. */
export function logDomain(all: readonly Bar[]): [number, number] {
  if (all.length === 0) return [0.01, 10];
  const lo = Math.min(...all.map((b) => b.loMs));
  const hi = Math.max(...all.map((b) => b.hiMs));
  return [10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(hi))];
}

/** Quantile markers (ms) to draw over the bars. */
export function markers(h: SparseHistogram | undefined): { label: string; ms: number }[] {
  if (!h || totalCount(h) === 0) return [];
  return [
    ['p50', 0.5],
    ['p90', 0.9],
    ['p99', 0.99],
  ].map(([label, q]) => ({ label: label as string, ms: quantile(h, q as number)! / 1e6 }));
}
