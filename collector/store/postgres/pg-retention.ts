// Deletes what is past retention in PostgreSQL, as retention.ts does in SQLite: series
// rows (whole partitions dropped, the rest of the one that straddles the cut deleted),
// remembered batches, connection tuples, and what describes rows that are all gone.
import type pg from 'pg';
import { TUPLE_KEPT_MS } from '../connection-join.js';
import { SERIES, tableName } from '../series.js';
import type { Tier } from '../tiers.js';
import type { Partitions } from './pg-partitions.js';
import { inTransaction } from './pg-pool.js';

export async function prunePg(
  pool: pg.Pool,
  partitions: Partitions,
  tiers: readonly Tier[],
  rolledTo: ReadonlyMap<Tier['name'], number>,
  /** How long a batch's identity is remembered to drop its replays. */
  dedupeMs: number,
  nowMs: number,
): Promise<void> {
  for (const [i, tier] of tiers.entries()) {
    // Never rows the next tier has not rolled up yet (it may be catching up): they
    // would be gone from every tier.
    const next = tiers[i + 1];
    const rolled = next ? (rolledTo.get(next.name) ?? Number.NEGATIVE_INFINITY) : Infinity;
    const before = Math.min(nowMs - tier.retentionMs, rolled);
    if (!Number.isFinite(before)) continue;
    for (const kind of SERIES) {
      const table = tableName(kind, tier.name);
      await partitions.dropBefore(table, tier.name, before);
      await pool.query(`DELETE FROM ${table} WHERE bucket_ms < $1`, [before]);
    }
  }
  await pool.query('DELETE FROM batches WHERE stored_ms < $1', [nowMs - dedupeMs]);
  const oldest = nowMs - tiers[tiers.length - 1]!.retentionMs;
  await inTransaction(pool, async (client) => {
    await client.query('DELETE FROM tuples WHERE seen_ms < $1', [nowMs - TUPLE_KEPT_MS]);
    await client.query('DELETE FROM links WHERE last_seen_ms < $1', [oldest]);
    // What describes rows that are all past retention goes with them: connection ends,
    // processes (their identity, command line included) with their hop series and last
    // CPU sample, names of addresses and pods' mesh signs not seen since.
    await client.query('DELETE FROM ends WHERE last_seen_ms < $1', [oldest]);
    const gone = 'SELECT id FROM processes WHERE last_seen_ms < $1';
    await client.query(`DELETE FROM hop_series WHERE process IN (${gone})`, [oldest]);
    await client.query(`DELETE FROM resource_last WHERE process IN (${gone})`, [oldest]);
    await client.query(
      `DELETE FROM processes p WHERE p.last_seen_ms < $1
       AND NOT EXISTS (SELECT 1 FROM ends e WHERE e.process = p.id)
       AND NOT EXISTS (SELECT 1 FROM hop_series h WHERE h.process = p.id)`,
      [oldest],
    );
    await client.query('DELETE FROM peer_names WHERE seen_ms < $1', [oldest]);
    // Collectors that went away without a word (a new id each start) leave their agents' rows.
    await client.query(
      'DELETE FROM collector_agents WHERE seen_ms < (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $1',
      [3_600_000],
    );
    await client.query('DELETE FROM pod_signs WHERE seen_ms < $1', [oldest]);
  });
}
