// Reads of the metric series over a time range: each part of the range from the tier
// that answers it (planRange), merged into one aggregate per series, or per step of one
// series over time. The merge is the same whichever tiers answer.
import type { Aggregate } from './aggregate.js';
import { addToStep, aggregateAt, stepsInOrder } from './aggregate-groups.js';
import { type ReadBudget, spend } from './read-budget.js';
import { type SeriesKind, seriesKind } from './series.js';
import type { SeriesTables } from './series-tables.js';
import { planRange, type Tier } from './tiers.js';

export class RangeReader {
  constructor(
    private readonly series: SeriesTables,
    private readonly tiers: readonly Tier[],
    /** How far each tier is rolled up (Rollups.rolledTo, kept current by its owner). */
    private readonly rolledTo: ReadonlyMap<Tier['name'], number>,
  ) {}

  /**
   * Every series of a kind merged over [fromMs, toMs), by series id. The merge is the
   * same whichever tiers answer (planRange), so the coarsest answers every whole bucket
   * of its inside the range: a day is 23 or 24 hour rows per series and its ragged ends,
   * not 1,440 minute rows (and with 1 s reports, an hour was 3,600 rows per series: over
   * the read budget at a few thousand series).
   */
  read(
    name: SeriesKind['name'],
    fromMs: number,
    toMs: number,
    nowMs: number,
    budget?: ReadBudget,
  ): Map<number, Aggregate> {
    const kind = seriesKind(name);
    const out = new Map<number, Aggregate>();
    const spans = planRange(fromMs, toMs, nowMs, this.tiers, this.rolledTo, toMs - fromMs);
    const seriesOf = (_bucket: number, sid: number) => aggregateAt(out, kind, sid);
    for (const span of spans)
      this.series.fold(kind, span.tier.name, span.fromMs, span.toMs, null, seriesOf, budget);
    return out;
  }

  /** One series over time: one aggregate per step of `stepMs`, oldest first. */
  readSeries(
    name: SeriesKind['name'],
    sids: readonly number[],
    fromMs: number,
    toMs: number,
    stepMs: number,
    nowMs: number,
    budget?: ReadBudget,
  ): { startMs: number; aggregate: Aggregate }[] {
    const kind = seriesKind(name);
    const steps = new Map<number, Aggregate>();
    const wanted = new Set(sids);
    for (const span of planRange(fromMs, toMs, nowMs, this.tiers, this.rolledTo, stepMs)) {
      for (const row of this.series.rows(kind, span.tier.name, span.fromMs, span.toMs, sids)) {
        spend(budget);
        if (wanted.has(row.sid)) addToStep(kind, steps, stepMs, row);
      }
    }
    return stepsInOrder(steps);
  }
}
