// Deletes what is past retention: each tier's series rows, remembered batches, the log of
// connection tuples, and what describes rows that are all gone. Apart from the rollups (rollup.ts)
// because it must run even when they cannot be written: it is what makes room again.
import { TUPLE_KEPT_MS } from './connection-join.js';
import { SERIES, tableName } from './series.js';
import type { Sql } from './statements.js';
import type { Tier } from './tiers.js';

/** Rows deleted per transaction by retention. */
const PRUNE_CHUNK = 2000;

/**
 * Deletes what is past retention. The bulk (series rows, remembered batches) goes in
 * transactions of at most PRUNE_CHUNK rows: each writes a bounded log, so deleting works
 * on a nearly full disk, and no one transaction holds the writer for long.
 */
export function prune(
  sql: Sql,
  tiers: readonly Tier[],
  rolledTo: ReadonlyMap<Tier['name'], number>,
  /** How long a batch's identity is remembered to drop its replays. */
  dedupeMs: number,
  nowMs: number,
): void {
  tiers.forEach((tier, i) => {
    // Never rows the next tier has not rolled up yet (it may be catching up): they
    // would be gone from every tier.
    const next = tiers[i + 1];
    const rolled = next ? (rolledTo.get(next.name) ?? Number.NEGATIVE_INFINITY) : Infinity;
    const before = Math.min(nowMs - tier.retentionMs, rolled);
    for (const kind of SERIES)
      if (tier.name === 'raw')
        // A packed raw row holds a batch's reports of a kind (packed-rows.ts): fewer per chunk.
        deleteInChunks(sql, tableName(kind, tier.name), 'rowid', 'bucket_ms < ?', [before], 125);
      else
        deleteInChunks(sql, tableName(kind, tier.name), 'bucket_ms, sid', 'bucket_ms < ?', [
          before,
        ]);
  });
  deleteInChunks(sql, 'batches', 'agent_id, boot_id, sequence', 'stored_ms < ?', [
    nowMs - dedupeMs,
  ]);
  const oldest = nowMs - tiers[tiers.length - 1]!.retentionMs;
  sql.db.transaction(() => {
    sql.prepare('DELETE FROM tuple_log WHERE seen_ms < ?').run(nowMs - TUPLE_KEPT_MS);
    sql.prepare('DELETE FROM links WHERE last_seen_ms < ?').run(oldest);
    // What describes rows that are all past retention goes with them: connection ends,
    // processes (their identity, command line included) with their hop series and last
    // CPU sample, names of addresses and pods' mesh signs not seen since. Nothing kept forever.
    sql.prepare('DELETE FROM ends WHERE last_seen_ms < ?').run(oldest);
    const gone = 'SELECT id FROM processes WHERE last_seen_ms < ?';
    sql.prepare(`DELETE FROM hop_series WHERE process IN (${gone})`).run(oldest);
    sql.prepare(`DELETE FROM resource_last WHERE process IN (${gone})`).run(oldest);
    sql
      .prepare(
        'DELETE FROM processes WHERE last_seen_ms < ? AND id NOT IN (SELECT process FROM ends)',
      )
      .run(oldest);
    sql.prepare('DELETE FROM peer_names WHERE seen_ms < ?').run(oldest);
    sql.prepare('DELETE FROM pod_signs WHERE seen_ms < ?').run(oldest);
  })();
}

function deleteInChunks(
  sql: Sql,
  table: string,
  key: string,
  where: string,
  params: unknown[],
  chunk = PRUNE_CHUNK,
): void {
  const statement = sql.prepare(
    `DELETE FROM ${table} WHERE (${key}) IN (SELECT ${key} FROM ${table} WHERE ${where} LIMIT ${chunk})`,
  );
  for (;;) {
    const { changes } = sql.db.transaction(() => statement.run(...params))();
    if (changes < chunk) return;
  }
}
