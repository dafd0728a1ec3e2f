// What is particular to keeping the store in one SQLite file: the writer's connection
// settings (durability, the log's size) and moving a damaged file aside with its log.
import { existsSync, renameSync } from 'node:fs';
import type Database from 'better-sqlite3';

/** The write-ahead log's size after a checkpoint. */
export const WAL_LIMIT_BYTES = 2 ** 20;

export function configureWriter(db: Database.Database, synchronous: 'FULL' | 'NORMAL'): void {
  // WAL: readers (the API) never block the writer (ingest). FULL: each commit's log is
  // synced before the commit returns, so a batch acknowledged survives a power cut
  // (NORMAL would sync only at checkpoints and could lose the last commits). The cost is
  // one fsync per group commit, not per batch (README, "Reliability and security").
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  // A small log, checkpointed at 1 MiB and cut back to it after a big transaction: on a
  // full disk a checkpoint may have to grow the database by what the log holds, and the
  // ballast (disk-guard.ts) must cover that.
  db.pragma('wal_autocheckpoint = 256');
  db.pragma(`journal_size_limit = ${WAL_LIMIT_BYTES}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
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
