// What is particular to keeping the store in one SQLite file: the writer's connection
// settings (durability, the log's size) and moving a damaged file aside with its log.
import { existsSync, renameSync } from 'node:fs';
import type Database from 'better-sqlite3';

/**
 * The write-ahead log's size, by default: checkpointed when it holds this much, and cut
 * back to it after a big transaction. 8 MiB: each checkpoint writes the pages the log
 * holds into the database and syncs it, and the same hot pages (the indexes) are written
 * once per checkpoint, so at 1 MiB checkpoints were a large part of a commit's time under
 * load (and its acknowledgement's, README, Benchmarks). On a full disk a checkpoint may
 * have to grow the database by what the log holds, so the ballast (disk-guard.ts) must be
 * larger: the collector keeps the log to a quarter of its ballast.
 */
export const WAL_LIMIT_BYTES = 8 * 2 ** 20;

/** The writer's page cache, KiB: an upper bound, filled only as pages are used. */
const WRITER_CACHE_KIB = 64 * 1024;

export function configureWriter(
  db: Database.Database,
  synchronous: 'FULL' | 'NORMAL',
  walBytes = WAL_LIMIT_BYTES,
): void {
  // WAL: readers (the API) never block the writer (ingest). FULL: each commit's log is
  // synced before the commit returns, so a batch acknowledged survives a power cut
  // (NORMAL would sync only at checkpoints and could lose the last commits). The cost is
  // one fsync per group commit, not per batch (README, "Reliability and security").
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  const pageBytes = db.pragma('page_size', { simple: true }) as number;
  db.pragma(`wal_autocheckpoint = ${Math.max(1, Math.floor(walBytes / pageBytes))}`);
  db.pragma(`journal_size_limit = ${walBytes}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  // 64 MiB of page cache, not SQLite's 2 MiB: ingest writes into a dozen B-trees at once
  // (ends, batches, raw rows, rollups), and pages evicted between commits were read again.
  db.pragma(`cache_size = -${WRITER_CACHE_KIB}`);
}

/** Did opening fail because the file is not a database or is damaged where opening reads? */
export function isDamaged(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT';
}

/** Moves the file at `path` and its log aside, untouched; returns where it went. */
export function moveAside(path: string, nowMs: number): string {
  const aside = `${path}.corrupt-${new Date(nowMs).toISOString().replace(/[:.]/g, '-')}`;
  for (const suffix of ['', '-wal', '-shm'])
    if (existsSync(path + suffix)) renameSync(path + suffix, aside + suffix);
  return aside;
}
