// The SQL of the metric series' tables (one per kind and tier, series.ts): a batch's raw
// rows of a kind, packed into one (packed-rows.ts), a merge into a rollup's row, and the
// folds and scans that reads and rollups are made of. Which rows to fold, and when, is
// for rollup.ts and range-reads.ts to say.

import type Database from 'better-sqlite3';
import { type Aggregate, addAggregate, addRow, emptyAggregate, type Row } from './aggregate.js';
import { addHistogramRow, addTotalsRow } from './fold-rows.js';
import { encodeHistogram } from './histogram-blob.js';
import { foldPacked, type RawPacker, unpackRows } from './packed-rows.js';
import type { ReadBudget } from './read-budget.js';
import { columns, SERIES, type SeriesKind, tableName } from './series.js';
import type { Sql } from './statements.js';
import { bucketStart, type Tier } from './tiers.js';

export class SeriesTables {
  /** Per kind, the insert of a packed raw row (packed-rows.ts). */
  private readonly insertRaw = new Map<SeriesKind['name'], Database.Statement>();

  constructor(private readonly sql: Sql) {
    for (const kind of SERIES)
      this.insertRaw.set(
        kind.name,
        sql.db.prepare(
          `INSERT INTO ${tableName(kind, 'raw')} (bucket_ms, node, reports, body) VALUES (?, ?, ?, ?)`,
        ),
      );
  }

  /**
   * The reports a packer holds, all of one bucket and node (a batch's of its kind), as one
   * raw row.
   */
  insert(bucket: number, node: string, packer: RawPacker): void {
    if (packer.reports === 0) return;
    this.insertRaw.get(packer.kind.name)!.run(bucket, node, packer.reports, packer.take());
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
   * series, or for each series and bucket of `groupMs` (a rollup). For the rollups'
   * tiers SQLite sums the counters and takes the peaks per group, and only the
   * histograms' bytes come out row by row, as arrays: a row made into an object of every
   * column was most of the cost of a long window's read and of a rollup. Raw rows are
   * packed: each is unpacked and added report by report (foldPacked), no row object made.
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
    if (tier === 'raw') {
      const bodies = this.sql
        .prepare(`SELECT bucket_ms, body FROM ${table} WHERE bucket_ms >= ? AND bucket_ms < ?`)
        .raw(true)
        .iterate(fromMs, toMs) as IterableIterator<[number, Uint8Array]>;
      for (const [b, body] of bodies)
        foldPacked(kind, body, groupMs === null ? 0 : bucketStart(b, groupMs), into, budget);
      return;
    }
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
    if (tier === 'raw') return this.rawRows(kind, fromMs, toMs, new Set(sids));
    return this.sql
      .prepare(
        `SELECT * FROM ${tableName(kind, tier)} WHERE bucket_ms >= ? AND bucket_ms < ? AND sid IN (${sids.map(() => '?').join(', ') || 'NULL'})`,
      )
      .iterate(fromMs, toMs, ...sids) as IterableIterator<Row & { sid: number; bucket_ms: number }>;
  }

  /**
   * Raw rows of some series: a series' reports all come from its node's agent, so only
   * the packed rows of the series' nodes are unpacked (an edge's ends over minutes at 1 s
   * steps, in a cluster of hundreds of nodes, would otherwise unpack every report of the
   * cluster in the range).
   */
  private *rawRows(
    kind: SeriesKind,
    fromMs: number,
    toMs: number,
    sids: ReadonlySet<number>,
  ): Generator<Row & { sid: number; bucket_ms: number }> {
    if (sids.size === 0) return;
    const nodes = this.sql
      .prepare(
        `SELECT DISTINCT node FROM (${seriesNodes(kind.name)})
         WHERE sid IN (${[...sids].map(() => '?').join(', ')})`,
      )
      .pluck()
      .all(...sids) as string[];
    if (nodes.length === 0) return;
    const bodies = this.sql
      .prepare(
        `SELECT bucket_ms, body FROM ${tableName(kind, 'raw')}
         WHERE node IN (${nodes.map(() => '?').join(', ')}) AND bucket_ms >= ? AND bucket_ms < ?`,
      )
      .raw(true)
      .iterate(...nodes, fromMs, toMs) as IterableIterator<[number, Uint8Array]>;
    for (const [bucket, body] of bodies)
      for (const { sid, row } of unpackRows(kind, body, sids))
        yield { ...row, sid, bucket_ms: bucket };
  }
}

/**
 * Each series of a kind with the node its reports come from, as rows (sid, node): the
 * node whose agent sent them, which its packed raw rows are kept under.
 */
export function seriesNodes(kind: SeriesKind['name']): string {
  switch (kind) {
    case 'end':
      return 'SELECT e.id AS sid, p.node AS node FROM ends e JOIN processes p ON p.id = e.process';
    case 'hop':
      return 'SELECT h.id AS sid, p.node AS node FROM hop_series h JOIN processes p ON p.id = h.process';
    case 'resource':
      return 'SELECT id AS sid, node FROM processes';
    case 'agent':
      return 'SELECT id AS sid, node FROM agents';
  }
}

function aggregateValues(kind: SeriesKind, a: Aggregate): (number | Buffer | null)[] {
  return [
    ...kind.sums.map((c) => a.sums[c]!),
    ...kind.maxes.map((c) => a.maxes[c]!),
    ...kind.hists.map((c) => encodeHistogram(a.hists[c])),
  ];
}
