// Raw rows that came late: after their bucket was already rolled up into a coarser tier.
// Such a row must also go into the rollups its bucket was rolled into, or reads answered
// from them miss it. A collector that fell behind gets most of its rows late, many of one
// series and rollup bucket in a group of batches: gathered here per rollup row and merged
// once per group, not row by row. Pure: the engine merges what `take` gives.
import { type Aggregate, addRow, emptyAggregate, type Row } from './aggregate.js';
import { type SeriesKind, seriesKind } from './series.js';
import { bucketStart, type Tier } from './tiers.js';

export interface LateRollupRow {
  kind: SeriesKind;
  tier: Tier;
  bucket: number;
  sid: number;
  aggregate: Aggregate;
}

export class LateRows {
  /** Late raw rows gathered since the store opened (a group that then fails counts too). */
  count = 0;
  private readonly gathered = new Map<string, LateRollupRow>();

  constructor(private readonly tiers: readonly Tier[]) {}

  /** Has any tier's rollup already passed this bucket (`rolledTo`)? */
  isLate(bucket: number, rolledTo: ReadonlyMap<Tier['name'], number>): boolean {
    for (let i = 1; i < this.tiers.length; i++)
      if (bucket < (rolledTo.get(this.tiers[i]!.name) ?? 0)) return true;
    return false;
  }

  /** A raw row: gathered for each tier whose rollup already passed its bucket (`rolledTo`). */
  add(
    name: SeriesKind['name'],
    sid: number,
    bucket: number,
    row: Row,
    rolledTo: ReadonlyMap<Tier['name'], number>,
  ): void {
    let kind: SeriesKind | undefined;
    let late = false;
    for (let i = 1; i < this.tiers.length; i++) {
      const tier = this.tiers[i]!;
      if (bucket >= (rolledTo.get(tier.name) ?? 0)) continue;
      kind ??= seriesKind(name);
      const start = bucketStart(bucket, tier.bucketMs);
      const key = `${name}\0${tier.name}\0${start}\0${sid}`;
      let gathered = this.gathered.get(key);
      if (!gathered) {
        gathered = { kind, tier, bucket: start, sid, aggregate: emptyAggregate(kind) };
        this.gathered.set(key, gathered);
      }
      addRow(kind, gathered.aggregate, row);
      late = true;
    }
    if (late) this.count++;
  }

  /** What was gathered since the last take (or clear), to merge into the rollups; then empty. */
  take(): LateRollupRow[] {
    const rows = [...this.gathered.values()];
    this.gathered.clear();
    return rows;
  }

  /** Forgets what was gathered: its transaction failed. */
  clear(): void {
    this.gathered.clear();
  }
}
