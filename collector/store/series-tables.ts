// The SQL of the metric series' tables (one per kind and tier, series.ts): a report's raw
// row, a merge into a rollup's row, and the folds and scans that reads and rollups are
// made of. Which rows to fold, and when, is for rollup.ts and range-reads.ts to say.

import type Database from 'better-sqlite3';
import { type Aggregate, addAggregate, addRow, emptyAggregate, type Row } from './aggregate.js';
import { addHistogramRow, addTotalsRow } from './fold-rows.js';
import { encodeHistogram } from './histogram-blob.js';
import type { ReadBudget } from './read-budget.js';
import { columns, SERIES, type SeriesKind, tableName } from './series.js';
import type { Sql } from './statements.js';
import type { Tier } from './tiers.js';

export class SeriesTables {
  /** Per kind, its raw table's insert and the columns it binds, in order (positional: cheaper than by name). */
  private readonly insertRaw = new Map<
    SeriesKind['name'],
    { statement: Database.Statement; columns: string[] }
  >();

  constructor(private readonly sql: Sql) {
    for (const kind of SERIES) {
      const cols = columns(kind);
      this.insertRaw.set(kind.name, {
        statement: sql.db.prepare(
          `INSERT INTO ${tableName(kind, 'raw')} (bucket_ms, sid, ${cols.join(', ')}) VALUES (?, ?, ${cols.map(() => '?').join(', ')})`,
        ),
        columns: cols,
      });
    }
  }

  /** One report's row of a series, into its kind's raw table; it must have every column. */
  insert(name: SeriesKind['name'], sid: number, bucket: number, row: Row): void {
    const { statement, columns } = this.insertRaw.get(name)!;
    const values: (number | Uint8Array | null)[] = [bucket, sid];
    for (const c of columns) {
      const value = row[c];
      if (value === undefined) throw new Error(`a ${name} row lacks its column ${c}`);
      values.push(value);
    }
    statement.run(values);
  }

  /** Adds `add` into a tier's row of a series and bucket, making the row if there is none. */
  mergeInto(kind: SeriesKind, tier: Tier, bucket: number, sid: number, add: Aggregate): void {
    const table = tableName(kind, tier.name);
    const existing = this.sql
      .prepare(`SELECT * FROM ${table} WHERE bucket_ms = ? AND sid = ?`)
      .get(bucket, sid) as Row | undefined;
    const merged = emptyAggregate(kind);
    if (existing) addRow(kind, merged, existing);
    addAggregate(kind, merged, add);
    const cols = columns(kind);
    this.sql
      .prepare(
        `INSERT OR REPLACE INTO ${table} (bucket_ms, sid, ${cols.join(', ')}) VALUES (?, ?, ${cols.map(() => '?').join(', ')})`,
      )
      .run(bucket, sid, ...aggregateValues(kind, merged));
  }

  /** The bucket of a tier's oldest row of a kind, or null when it has none. */
  oldestBucket(kind: SeriesKind, tier: Tier['name']): number | null {
    const row = this.sql
      .prepare(`SELECT MIN(bucket_ms) AS b FROM ${tableName(kind, tier)}`)
      .get() as {
      b: number | null;
    };
    return row.b;
  }

  /**
   * Folds one tier's rows in [fromMs, toMs) into the aggregate `into` gives for each
   * series, or for each series and bucket of `groupMs` (a rollup). SQLite sums the
   * counters and takes the peaks per group, and only the histograms' bytes come out row
   * by row, as arrays: a row made into an object of every column was most of the cost
   * of a long window's read and of a rollup.
   */
  fold(
    kind: SeriesKind,
    tier: Tier['name'],
    fromMs: number,
    toMs: number,
    groupMs: number | null,
    into: (bucket: number, sid: number) => Aggregate,
    budget?: ReadBudget,
  ): void {
    const table = tableName(kind, tier);
    const bucket = groupMs === null ? '0' : `(bucket_ms / ${groupMs}) * ${groupMs}`;
    const totals = this.sql
      .prepare(
        `SELECT ${bucket} AS b, sid, COUNT(*), ${[
          ...kind.sums.map((c) => `TOTAL(${c})`),
          ...kind.maxes.map((c) => `IFNULL(MAX(${c}), 0)`),
        ].join(', ')} FROM ${table} WHERE bucket_ms >= ? AND bucket_ms < ? GROUP BY b, sid`,
      )
      .raw(true)
      .all(fromMs, toMs) as number[][];
    for (const row of totals) addTotalsRow(kind, row, into, budget);
    if (kind.hists.length === 0) return;
    const blobs = this.sql
      .prepare(
        `SELECT ${bucket}, sid, ${kind.hists.join(', ')} FROM ${table}
         WHERE bucket_ms >= ? AND bucket_ms < ?
         AND (${kind.hists.map((c) => `${c} IS NOT NULL`).join(' OR ')})`,
      )
      .raw(true)
      .iterate(fromMs, toMs) as IterableIterator<(number | Uint8Array | null)[]>;
    for (const row of blobs) addHistogramRow(kind, row, into);
  }

  /** A tier's rows in [fromMs, toMs) of the series `sids`, whole, one at a time. */
  rows(
    kind: SeriesKind,
    tier: Tier['name'],
    fromMs: number,
    toMs: number,
    sids: readonly number[],
  ): IterableIterator<Row & { sid: number; bucket_ms: number }> {
    return this.sql
      .prepare(
        `SELECT * FROM ${tableName(kind, tier)} WHERE bucket_ms >= ? AND bucket_ms < ? AND sid IN (${sids.map(() => '?').join(', ') || 'NULL'})`,
      )
      .iterate(fromMs, toMs, ...sids) as IterableIterator<Row & { sid: number; bucket_ms: number }>;
  }
}

function aggregateValues(kind: SeriesKind, a: Aggregate): (number | Buffer | null)[] {
  return [
    ...kind.sums.map((c) => a.sums[c]!),
    ...kind.maxes.map((c) => a.maxes[c]!),
    ...kind.hists.map((c) => encodeHistogram(a.hists[c])),
  ];
}
