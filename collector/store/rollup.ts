// Rolls the series up from each tier into the next coarser one (tiers.ts), and remembers
// how far each tier is rolled: reads plan on it, retention never deletes past it, and a
// late batch's rows also go into the rollups their bucket was already rolled into.
import type { Row } from './aggregate.js';
import { BucketGroups } from './aggregate-groups.js';
import { LateRows } from './late-rows.js';
import { SERIES, type SeriesKind } from './series.js';
import type { SeriesTables } from './series-tables.js';
import type { Statements } from './statements.js';
import { bucketStart, type Tier } from './tiers.js';

/** Buckets of the target tier one rollup pass folds (their aggregates are held in memory). */
export const ROLLUP_CHUNK_BUCKETS = 10;

export interface RollupOptions {
  /** How long after a bucket ends before it is rolled up (ms). */
  graceMs: number;
  /** Rollup time one `rollUp` may spend before it leaves the rest to the next call (ms). */
  budgetMs: number;
}

export class Rollups {
  /** How far each tier is rolled up: the end of its last complete bucket. */
  readonly rolledTo = new Map<Tier['name'], number>();
  /** Raw rows that came after a rollup of their bucket was made (late-rows.ts). */
  private readonly late: LateRows;

  constructor(
    private readonly statements: Statements,
    private readonly series: SeriesTables,
    private readonly tiers: readonly Tier[],
    private readonly options: RollupOptions,
  ) {
    this.late = new LateRows(tiers);
    this.refresh();
  }

  /** Reads again how far each tier is rolled up (a reader's view of the writer's work). */
  refresh(): void {
    this.rolledTo.clear();
    for (const row of this.statements.rolledTo.all() as {
      tier: Tier['name'];
      rolled_to_ms: number;
    }[])
      this.rolledTo.set(row.tier, row.rolled_to_ms);
  }

  /**
   * Rolls finished buckets up into each coarser tier in turn, none past `toMs` (at most
   * now less the grace: RollupPacing.rollUpTo); call inside a transaction.
   */
  rollUp(nowMs: number, toMs = Number.POSITIVE_INFINITY): void {
    const started = performance.now();
    const limit = Math.min(toMs, nowMs - this.options.graceMs);
    for (let i = 1; i < this.tiers.length; i++)
      this.rollup(this.tiers[i - 1]!, this.tiers[i]!, limit, started);
  }

  /** Raw rows that came after a rollup of their bucket was made, since the store opened. */
  get lateRows(): number {
    return this.late.count;
  }

  /** Was a raw row of this bucket already rolled up into a coarser tier? */
  isLate(bucket: number): boolean {
    return this.late.isLate(bucket, this.rolledTo);
  }

  /** A raw row: if it came late, gathered for the rollups its bucket was already rolled into. */
  addLate(name: SeriesKind['name'], sid: number, bucket: number, row: Row): void {
    this.late.add(name, sid, bucket, row, this.rolledTo);
  }

  /** Merges the late rows gathered since the last call into their rollups (inside the transaction). */
  flushLate(): void {
    for (const l of this.late.take())
      this.series.mergeInto(l.kind, l.tier, l.bucket, l.sid, l.aggregate);
  }

  /** Forgets the late rows gathered: their transaction failed. */
  dropLate(): void {
    this.late.clear();
  }

  private rollup(source: Tier, target: Tier, toMs: number, started: number): void {
    // A tier never rolls past what its source holds whole: raw rows up to the grace, a
    // rollup up to where it was itself rolled (it may be catching up, below).
    const boundary = bucketStart(
      Math.min(
        toMs,
        source.name === 'raw' ? Number.POSITIVE_INFINITY : (this.rolledTo.get(source.name) ?? 0),
      ),
      target.bucketMs,
    );
    let from = this.rolledTo.get(target.name);
    if (from === undefined) {
      // First rollup: start at the oldest data there is.
      let oldest = boundary;
      for (const kind of SERIES) {
        const b = this.series.oldestBucket(kind, source.name);
        if (b !== null) oldest = Math.min(oldest, bucketStart(b, target.bucketMs));
      }
      from = oldest;
    }
    if (boundary <= from) {
      this.setRolledTo(target, from);
      return;
    }
    // A few buckets at a time, and on to the next tier once this call's time is spent:
    // a tier far behind (a store from before it existed, whose first rollup starts at
    // its source's oldest row, days back; a collector that was down) catches up over
    // calls, holding a few buckets of aggregates in memory and the writer for a bounded
    // time, rather than all of it at once.
    for (let chunk = from; chunk < boundary; ) {
      const end = Math.min(boundary, chunk + ROLLUP_CHUNK_BUCKETS * target.bucketMs);
      for (const kind of SERIES) {
        const groups = new BucketGroups(kind);
        this.series.fold(kind, source.name, chunk, end, target.bucketMs, groups.into);
        for (const g of groups.list())
          this.series.mergeInto(kind, target, g.bucket, g.sid, g.aggregate);
      }
      this.setRolledTo(target, end);
      chunk = end;
      if (performance.now() - started > this.options.budgetMs) break;
    }
  }

  private setRolledTo(tier: Tier, ms: number): void {
    this.rolledTo.set(tier.name, ms);
    this.statements.setRolledTo.run(tier.name, ms);
  }
}
