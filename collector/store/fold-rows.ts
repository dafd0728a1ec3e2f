// The rows a fold of a series table reads (series-tables.ts, postgres/pg-series.ts), added
// into the aggregates it folds into. Both engines' queries give their columns in one
// order: a group's totals as [bucket, sid, rows, ...sums, ...maxes] (the counters summed
// and the peaks taken by the database), and a row's histograms as [bucket, sid, ...hists].
// Pure.
import type { Aggregate } from './aggregate.js';
import { addEncoded } from './histogram-blob.js';
import { type ReadBudget, spend } from './read-budget.js';
import type { SeriesKind } from './series.js';

/** Adds a group's totals into the aggregate `into` gives for it, spending its rows of `budget`. */
export function addTotalsRow(
  kind: SeriesKind,
  row: readonly number[],
  into: (bucket: number, sid: number) => Aggregate,
  budget?: ReadBudget,
): void {
  spend(budget, row[2]!);
  const aggregate = into(row[0]!, row[1]!);
  let i = 3;
  for (const c of kind.sums) aggregate.sums[c]! += row[i++]!;
  for (const c of kind.maxes) aggregate.maxes[c] = Math.max(aggregate.maxes[c]!, row[i++]!);
}

/** Merges a row's histograms (the encoded ones; NULLs add nothing) into the aggregate `into` gives for it. */
export function addHistogramRow(
  kind: SeriesKind,
  row: readonly unknown[],
  into: (bucket: number, sid: number) => Aggregate,
): void {
  const aggregate = into(row[0] as number, row[1] as number);
  for (let k = 0; k < kind.hists.length; k++) {
    const blob = row[k + 2];
    if (blob instanceof Uint8Array) {
      const c = kind.hists[k]!;
      aggregate.hists[c] = addEncoded(aggregate.hists[c]!, blob);
    }
  }
}
