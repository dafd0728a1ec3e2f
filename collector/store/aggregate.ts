// Rows of one series merged into one: sums added, maxes taken, histograms merged. Used by
// the rollups and by range reads alike, so both merge by the same rules. Pure.
import { emptyHistogram, merge, type SparseHistogram } from '../../proto/histogram.js';
import { addEncoded } from './histogram-blob.js';
import type { SeriesKind } from './series.js';

export interface Aggregate {
  sums: Record<string, number>;
  maxes: Record<string, number>;
  hists: Record<string, SparseHistogram>;
}

export type Row = Record<string, number | Uint8Array | null>;

export function emptyAggregate(kind: SeriesKind): Aggregate {
  return {
    sums: Object.fromEntries(kind.sums.map((c) => [c, 0])),
    maxes: Object.fromEntries(kind.maxes.map((c) => [c, 0])),
    hists: Object.fromEntries(kind.hists.map((c) => [c, emptyHistogram()])),
  };
}

/** Adds a stored row into an aggregate, in place. */
export function addRow(kind: SeriesKind, into: Aggregate, row: Row): void {
  for (const c of kind.sums) into.sums[c]! += Number(row[c] ?? 0);
  for (const c of kind.maxes) into.maxes[c] = Math.max(into.maxes[c]!, Number(row[c] ?? 0));
  for (const c of kind.hists) {
    const blob = row[c];
    if (blob instanceof Uint8Array) into.hists[c] = addEncoded(into.hists[c]!, blob);
  }
}

export function addAggregate(kind: SeriesKind, into: Aggregate, other: Aggregate): void {
  for (const c of kind.sums) into.sums[c]! += other.sums[c]!;
  for (const c of kind.maxes) into.maxes[c] = Math.max(into.maxes[c]!, other.maxes[c]!);
  for (const c of kind.hists) into.hists[c] = mergeLenient(into.hists[c]!, other.hists[c]!);
}

/**
 * Merges two histograms; when their layouts differ (a node on the bpftrace fallback),
 * the finer log-linear one is kept whole rather than mixing incomparable buckets.
 */
function mergeLenient(a: SparseHistogram, b: SparseHistogram): SparseHistogram {
  if (a.indexes.length > 0 && b.indexes.length > 0 && a.layout !== b.layout)
    // A copy of b: rows are later added into the result in place.
    return a.layout === 'HISTOGRAM_LAYOUT_LOG_LINEAR_16'
      ? a
      : { ...b, indexes: [...b.indexes], counts: [...b.counts] };
  return merge(a, b);
}
