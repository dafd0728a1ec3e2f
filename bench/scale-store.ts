// What `bench scale` reads of the collector's SQLite file, from outside it (a read-only
// connection beside the collector's writer): the batches it holds, and the bytes its
// tables take, by what they hold. The file's own size is on disk; the bytes in use are its
// pages less the free ones, as of the last commit whether or not it is checkpointed yet.
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { unpackRows } from '../collector/store/packed-rows.js';
import { SERIES, seriesKind, tableName } from '../collector/store/series.js';
import { tiers } from '../collector/store/tiers.js';

/** Bytes in use, by what the tables hold (their indexes with them). */
export interface StoreBytes {
  /** Series reports, packed one row per batch and kind. */
  raw: number;
  /** Series rows rolled up to 10 s, the minute, 10 minutes and the hour. */
  rollups: number;
  /** The log of connection tuples (kept 10 minutes). */
  tuples: number;
  /** Batch identities that drop replays (kept a day). */
  batches: number;
  /** Agents, processes, connection ends and links, names, sessions: what describes rows. */
  identities: number;
  total: number;
  /** The database file and its write-ahead log on disk. */
  fileBytes: number;
  /** Reports in the raw series tables, and rows of the rolled-up ones. */
  rawRows: number;
  rollupRows: number;
}

type Kind = keyof Omit<StoreBytes, 'total' | 'fileBytes' | 'rawRows' | 'rollupRows'>;

function seriesTables(): { raw: Set<string>; rollups: Set<string> } {
  const raw = new Set<string>();
  const rollups = new Set<string>();
  for (const kind of SERIES)
    for (const tier of tiers())
      (tier.name === 'raw' ? raw : rollups).add(tableName(kind, tier.name));
  return { raw, rollups };
}

/** Bytes sent summed over every report of the raw end series (its packed rows unpacked). */
function endBytesSent(db: Database.Database): number {
  const end = seriesKind('end');
  let sum = 0;
  for (const { body } of db
    .prepare(`SELECT body FROM ${tableName(end, 'raw')}`)
    .iterate() as IterableIterator<{ body: Uint8Array }>)
    for (const { row } of unpackRows(end, body)) sum += row.bytes_sent as number;
  return sum;
}

function kindOfTable(): (table: string) => Kind {
  const { raw, rollups } = seriesTables();
  return (table) =>
    raw.has(table)
      ? 'raw'
      : rollups.has(table)
        ? 'rollups'
        : table === 'tuple_log'
          ? 'tuples'
          : table === 'batches'
            ? table
            : 'identities';
}

const fileSize = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

export function storeBytes(dbPath: string): StoreBytes {
  const db = new Database(dbPath, { readonly: true });
  try {
    const kindOf = kindOfTable();
    const tableOf = new Map(
      (
        db.prepare('SELECT name, tbl_name FROM sqlite_schema').all() as {
          name: string;
          tbl_name: string;
        }[]
      ).map((r) => [r.name, r.tbl_name]),
    );
    const bytes: StoreBytes = {
      raw: 0,
      rollups: 0,
      tuples: 0,
      batches: 0,
      identities: 0,
      total: 0,
      fileBytes: fileSize(dbPath) + fileSize(`${dbPath}-wal`),
      rawRows: 0,
      rollupRows: 0,
    };
    const { raw, rollups } = seriesTables();
    const rows = (tables: Set<string>, count: string) =>
      [...tables].reduce(
        (n, t) => n + (db.prepare(`SELECT ${count} AS n FROM ${t}`).get() as { n: number }).n,
        0,
      );
    // A raw row packs a batch's reports of a kind (packed-rows.ts): counted by its reports.
    bytes.rawRows = rows(raw, 'TOTAL(reports)');
    bytes.rollupRows = rows(rollups, 'COUNT(*)');
    // dbstat: every page of every table and index, with its bytes in use (free pages are
    // in none).
    for (const row of db
      .prepare('SELECT name, SUM(pgsize) AS size FROM dbstat WHERE aggregate = TRUE GROUP BY name')
      .all() as { name: string; size: number }[]) {
      bytes[kindOf(tableOf.get(row.name) ?? row.name)] += row.size;
      bytes.total += row.size;
    }
    return bytes;
  } finally {
    db.close();
  }
}

export interface StoredBatches {
  batches: number;
  /** The records (edge reports, hop reports, resource samples) the batches held. */
  records: number;
  /** Batches of the agent with the fewest and of the one with the most. */
  perAgentMin: number;
  perAgentMax: number;
  agents: number;
  /** Bytes sent summed over every stored connection end's raw rows. */
  endBytesSent: number;
}

export function storedBatches(dbPath: string): StoredBatches {
  const db = new Database(dbPath, { readonly: true });
  try {
    const rows = db
      .prepare(
        'SELECT agent_id, COUNT(*) AS n, SUM(records) AS records FROM batches GROUP BY agent_id',
      )
      .all() as { agent_id: string; n: number; records: number }[];
    const counts = rows.map((r) => r.n);
    return {
      batches: counts.reduce((a, b) => a + b, 0),
      records: rows.reduce((a, r) => a + r.records, 0),
      perAgentMin: counts.length ? Math.min(...counts) : 0,
      perAgentMax: counts.length ? Math.max(...counts) : 0,
      agents: rows.length,
      endBytesSent: endBytesSent(db),
    };
  } finally {
    db.close();
  }
}
