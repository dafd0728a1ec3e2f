// The SQL of the metric series' tables in PostgreSQL (series.ts: one per kind and tier):
// raw rows inserted many at a time, rollup rows merged into by key, and the folds and
// scans that reads and rollups are made of. Rows are fetched through a cursor, a few
// thousand at a time, so a long range's histograms never sit in memory all at once.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { type Aggregate, addAggregate, addRow, type Row } from '../aggregate.js';
import { BucketGroups } from '../aggregate-groups.js';
import { addHistogramRow, addTotalsRow } from '../fold-rows.js';
import { encodeHistogram } from '../histogram-blob.js';
import type { ReadBudget } from '../read-budget.js';
import { columns, type SeriesKind, tableName } from '../series.js';
import type { Tier } from '../tiers.js';

/** Rows fetched per round trip of a cursor. */
const FETCH_ROWS = 5000;

/** A series row to write: its bucket, series id and every column of its kind. */
export interface SeriesRow {
  bucket: number;
  sid: number;
  row: Row;
}

/** The SQL type of a column, for the arrays a multi-row statement binds. */
function arrayType(kind: SeriesKind, column: string): string {
  return kind.hists.includes(column) ? 'bytea[]' : 'float8[]';
}

/** Binds rows column by column: one array per column, unnested into rows by the server. */
function columnArrays(kind: SeriesKind, rows: readonly SeriesRow[]): unknown[] {
  const cols = columns(kind);
  const arrays: unknown[][] = [rows.map((r) => r.bucket), rows.map((r) => r.sid)];
  for (const c of cols)
    arrays.push(
      rows.map((r) => {
        const value = r.row[c];
        if (value === undefined) throw new Error(`a ${kind.name} row lacks its column ${c}`);
        return value instanceof Uint8Array
          ? Buffer.from(value.buffer, value.byteOffset, value.byteLength)
          : value;
      }),
    );
  return arrays;
}

function unnestOf(kind: SeriesKind): string {
  const types = ['bigint[]', 'bigint[]', ...columns(kind).map((c) => arrayType(kind, c))];
  return `unnest(${types.map((t, i) => `$${i + 1}::${t}`).join(', ')})`;
}

/** COPY's binary format: its signature, flags and header extension length; its trailer. */
const COPY_HEADER = Buffer.from([
  ...Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'),
  ...[0, 0, 0, 0],
  ...[0, 0, 0, 0],
]);
const COPY_TRAILER = Buffer.from([0xff, 0xff]);

/** A non-negative integer below 2^53 as a big-endian int8, without a BigInt. */
function writeInt8(out: Buffer, at: number, value: number): void {
  out.writeUInt32BE(Math.floor(value / 2 ** 32), at);
  out.writeUInt32BE(value >>> 0, at + 4);
}

/**
 * Rows of one kind in COPY's binary format: bucket and series as int8, counters and
 * peaks as float8, histograms as bytea, each field its length first (-1 for NULL).
 */
export function copyRows(kind: SeriesKind, rows: readonly SeriesRow[]): Buffer {
  const cols = columns(kind);
  const hists = new Set(kind.hists);
  let size = COPY_HEADER.length + COPY_TRAILER.length;
  for (const r of rows) {
    size += 2 + 2 * 12;
    for (const c of cols) {
      const value = r.row[c];
      if (value === undefined) throw new Error(`a ${kind.name} row lacks its column ${c}`);
      size += 4 + (hists.has(c) ? (value instanceof Uint8Array ? value.byteLength : 0) : 8);
    }
  }
  const out = Buffer.allocUnsafe(size);
  let at = COPY_HEADER.copy(out, 0);
  for (const r of rows) {
    out.writeInt16BE(cols.length + 2, at);
    at += 2;
    for (const id of [r.bucket, r.sid]) {
      if (!Number.isSafeInteger(id) || id < 0)
        throw new Error(`a ${kind.name} row's key ${id} is no count`);
      out.writeInt32BE(8, at);
      writeInt8(out, at + 4, id);
      at += 12;
    }
    for (const c of cols) {
      const value = r.row[c]!;
      if (!hists.has(c)) {
        out.writeInt32BE(8, at);
        out.writeDoubleBE(Number(value), at + 4);
        at += 12;
      } else if (value instanceof Uint8Array) {
        out.writeInt32BE(value.byteLength, at);
        out.set(value, at + 4);
        at += 4 + value.byteLength;
      } else {
        out.writeInt32BE(-1, at);
        at += 4;
      }
    }
  }
  COPY_TRAILER.copy(out, at);
  return out;
}

/**
 * Inserts raw rows of one kind with COPY in its binary format: no statement to parse and
 * no text to build. (Bound as arrays, every histogram was written out as hex inside an
 * array literal, most of the collector's garbage; bound a value per parameter, the
 * server's parse of statements of thousands of them cost more than it saved.)
 */
export async function insertRaw(
  client: pg.ClientBase,
  kind: SeriesKind,
  rows: readonly SeriesRow[],
): Promise<void> {
  if (rows.length === 0) return;
  const cols = columns(kind);
  const stream = client.query(
    copyFrom(
      `COPY ${tableName(kind, 'raw')} (bucket_ms, sid, ${cols.join(', ')}) FROM STDIN (FORMAT binary)`,
    ),
  );
  await pipeline(Readable.from([copyRows(kind, rows)]), stream);
}

/**
 * Adds aggregates into a rollup tier's rows, making those there are none of. The rows
 * there are read and merged here (histograms merge bucket by bucket, which SQL cannot),
 * then written whole: the caller holds the lock that keeps others from merging into the
 * same rows meanwhile (pg-locks.ts).
 */
export async function mergeInto(
  client: pg.ClientBase,
  kind: SeriesKind,
  tier: Tier,
  adds: readonly { bucket: number; sid: number; aggregate: Aggregate }[],
): Promise<void> {
  if (adds.length === 0) return;
  const table = tableName(kind, tier.name);
  const merged = new BucketGroups(kind);
  for (const a of adds) addAggregate(kind, merged.into(a.bucket, a.sid), a.aggregate);
  const list = merged.list();
  const existing = await client.query<Row & { bucket_ms: number; sid: number }>(
    `SELECT t.* FROM ${table} t JOIN unnest($1::bigint[], $2::bigint[]) AS k (b, s)
       ON t.bucket_ms = k.b AND t.sid = k.s`,
    [list.map((m) => m.bucket), list.map((m) => m.sid)],
  );
  for (const row of existing.rows) {
    const aggregate = merged.get(row.bucket_ms, row.sid);
    if (aggregate) addRow(kind, aggregate, row);
  }
  const cols = columns(kind);
  const rows: SeriesRow[] = list.map((m) => ({
    bucket: m.bucket,
    sid: m.sid,
    row: aggregateRow(kind, m.aggregate),
  }));
  await client.query(
    `INSERT INTO ${table} (bucket_ms, sid, ${cols.join(', ')}) SELECT * FROM ${unnestOf(kind)}
     ON CONFLICT (bucket_ms, sid) DO UPDATE SET ${cols.map((c) => `${c} = excluded.${c}`).join(', ')}`,
    columnArrays(kind, rows),
  );
}

function aggregateRow(kind: SeriesKind, a: Aggregate): Row {
  const row: Row = {};
  for (const c of kind.sums) row[c] = a.sums[c]!;
  for (const c of kind.maxes) row[c] = a.maxes[c]!;
  for (const c of kind.hists) row[c] = encodeHistogram(a.hists[c]);
  return row;
}

/** The bucket of a tier's oldest row of a kind, or null when it has none. */
export async function oldestBucket(
  db: pg.Pool | pg.ClientBase,
  kind: SeriesKind,
  tier: Tier['name'],
): Promise<number | null> {
  const result = await db.query<{ b: number | null }>(
    `SELECT MIN(bucket_ms) AS b FROM ${tableName(kind, tier)}`,
  );
  return result.rows[0]?.b ?? null;
}

/**
 * Runs a query through a cursor, handing its rows (as arrays) over a few thousand at a
 * time. A cursor lives in a transaction: call inside one (reads run in a read-only one,
 * rollups in theirs).
 */
async function eachRow(
  client: pg.ClientBase,
  text: string,
  values: unknown[],
  each: (row: unknown[]) => void,
): Promise<void> {
  await client.query(`DECLARE tollgate_rows NO SCROLL CURSOR FOR ${text}`, values);
  for (;;) {
    const batch = await client.query({
      text: `FETCH ${FETCH_ROWS} FROM tollgate_rows`,
      rowMode: 'array',
    });
    for (const row of batch.rows as unknown[][]) each(row);
    if (batch.rows.length < FETCH_ROWS) break;
  }
  await client.query('CLOSE tollgate_rows');
}

/**
 * Folds one tier's rows in [fromMs, toMs) into the aggregate `into` gives for each
 * series, or for each series and bucket of `groupMs` (a rollup). The server sums the
 * counters and takes the peaks per group; only the histograms come out row by row.
 */
export async function fold(
  client: pg.ClientBase,
  kind: SeriesKind,
  tier: Tier['name'],
  fromMs: number,
  toMs: number,
  groupMs: number | null,
  into: (bucket: number, sid: number) => Aggregate,
  budget?: ReadBudget,
): Promise<void> {
  const table = tableName(kind, tier);
  const bucket = groupMs === null ? '0::bigint' : `(bucket_ms / ${groupMs}) * ${groupMs}`;
  const totals = await client.query({
    text: `SELECT ${bucket} AS b, sid, COUNT(*), ${[
      ...kind.sums.map((c) => `COALESCE(SUM(${c}), 0)`),
      ...kind.maxes.map((c) => `COALESCE(MAX(${c}), 0)`),
    ].join(', ')} FROM ${table} WHERE bucket_ms >= $1 AND bucket_ms < $2 GROUP BY 1, 2`,
    values: [fromMs, toMs],
    rowMode: 'array',
  });
  for (const row of totals.rows as number[][]) addTotalsRow(kind, row, into, budget);
  if (kind.hists.length === 0) return;
  await eachRow(
    client,
    `SELECT ${bucket}, sid, ${kind.hists.join(', ')} FROM ${table}
     WHERE bucket_ms >= $1 AND bucket_ms < $2
     AND (${kind.hists.map((c) => `${c} IS NOT NULL`).join(' OR ')})`,
    [fromMs, toMs],
    (row) => addHistogramRow(kind, row, into),
  );
}

/** A tier's rows in [fromMs, toMs) of the series `sids`, whole, one at a time. */
export async function eachSeriesRow(
  client: pg.ClientBase,
  kind: SeriesKind,
  tier: Tier['name'],
  fromMs: number,
  toMs: number,
  sids: readonly number[],
  each: (row: Row & { sid: number; bucket_ms: number }) => void,
): Promise<void> {
  const cols = ['bucket_ms', 'sid', ...columns(kind)];
  await eachRow(
    client,
    `SELECT ${cols.join(', ')} FROM ${tableName(kind, tier)}
     WHERE bucket_ms >= $1 AND bucket_ms < $2 AND sid = ANY($3::bigint[])`,
    [fromMs, toMs, sids],
    (values) => {
      const row: Row = {};
      cols.forEach((c, i) => {
        row[c] = values[i] as number | Uint8Array | null;
      });
      each(row as Row & { sid: number; bucket_ms: number });
    },
  );
}
