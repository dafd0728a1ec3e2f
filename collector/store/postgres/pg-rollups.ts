// Rollups in PostgreSQL: the same tiers and rules as the SQLite store's (rollup.ts), run
// by one collector at a time. A pass holds the series rows still (pg-locks.ts,
// rollupData exclusively) while it folds a few buckets and moves the tier's mark, so a
// commit's raw row is either folded or sees the new mark and is merged in as late.
import type pg from 'pg';
import { BucketGroups } from '../aggregate-groups.js';
import { ROLLUP_CHUNK_BUCKETS } from '../rollup.js';
import { SERIES } from '../series.js';
import { bucketStart, type Tier } from '../tiers.js';
import { readRolledTo } from './pg-group-writer.js';
import { LOCK, xactLock } from './pg-locks.js';
import { inTransaction } from './pg-pool.js';
import { fold, mergeInto, oldestBucket } from './pg-series.js';

/**
 * Rolls finished buckets up into each coarser tier, none past `toMs`, a chunk of
 * ROLLUP_CHUNK_BUCKETS buckets per transaction, until `budgetMs` is spent (each tier
 * still rolls at least one chunk). Returns the marks as they stand after.
 */
export async function rollUpPg(
  pool: pg.Pool,
  tiers: readonly Tier[],
  toMs: number,
  budgetMs: number,
): Promise<Map<Tier['name'], number>> {
  const started = performance.now();
  let rolledTo = await readRolledTo(pool);
  for (let i = 1; i < tiers.length; i++) {
    const source = tiers[i - 1]!;
    const target = tiers[i]!;
    for (let first = true; ; first = false) {
      if (!first && performance.now() - started > budgetMs) break;
      const moved = await inTransaction(pool, async (client) => {
        await client.query(xactLock(LOCK.rollupData));
        rolledTo = await readRolledTo(client);
        return rollChunk(client, source, target, toMs, rolledTo);
      });
      if (!moved) break;
    }
  }
  return rolledTo;
}

/** Rolls the next chunk of `source` into `target`; says whether there was one. */
async function rollChunk(
  client: pg.ClientBase,
  source: Tier,
  target: Tier,
  toMs: number,
  rolledTo: Map<Tier['name'], number>,
): Promise<boolean> {
  // Never past what the source holds whole: raw rows up to `toMs`, a rollup up to its mark.
  const boundary = bucketStart(
    Math.min(
      toMs,
      source.name === 'raw' ? Number.POSITIVE_INFINITY : (rolledTo.get(source.name) ?? 0),
    ),
    target.bucketMs,
  );
  let from = rolledTo.get(target.name);
  if (from === undefined) {
    // The first rollup starts at the oldest data there is.
    let oldest = boundary;
    for (const kind of SERIES) {
      const b = await oldestBucket(client, kind, source.name);
      if (b !== null) oldest = Math.min(oldest, bucketStart(b, target.bucketMs));
    }
    from = oldest;
  }
  if (boundary <= from) {
    if (rolledTo.get(target.name) === undefined) await setRolledTo(client, target, from, rolledTo);
    return false;
  }
  const end = Math.min(boundary, from + ROLLUP_CHUNK_BUCKETS * target.bucketMs);
  for (const kind of SERIES) {
    const groups = new BucketGroups(kind);
    await fold(client, kind, source.name, from, end, target.bucketMs, groups.into);
    await mergeInto(client, kind, target, groups.list());
  }
  await setRolledTo(client, target, end, rolledTo);
  return true;
}

async function setRolledTo(
  client: pg.ClientBase,
  tier: Tier,
  ms: number,
  rolledTo: Map<Tier['name'], number>,
): Promise<void> {
  await client.query(
    `INSERT INTO rollups (tier, rolled_to_ms) VALUES ($1, $2)
     ON CONFLICT (tier) DO UPDATE SET rolled_to_ms = excluded.rolled_to_ms`,
    [tier.name, ms],
  );
  rolledTo.set(tier.name, ms);
}
