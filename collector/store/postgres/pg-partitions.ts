// The series tables' partitions: by time, so that retention drops a whole partition
// rather than deleting its rows one by one, and a table's old rows cost nothing to keep
// apart from new ones. Partitions are made on demand, before a commit that needs them,
// by one collector at a time; each collector remembers those it knows exist.
import type pg from 'pg';
import { SERIES, tableName } from '../series.js';
import { bucketStart, DAY_MS, HOUR_MS, type Tier } from '../tiers.js';
import { LOCK, xactLock } from './pg-locks.js';
import { inTransaction } from './pg-pool.js';

/**
 * How much time one partition of a tier holds: about a sixth of the tier's default
 * retention, so retention drops a partition every few hours and keeps seven or so.
 * Each is a whole number of the tier's buckets, so a rollup row lands in the partition
 * of the raw rows it was rolled from.
 */
export function partitionMs(tier: Tier['name']): number {
  switch (tier) {
    case 'raw':
    case 'tensec':
      return HOUR_MS;
    case 'minute':
    case 'tenmin':
      return DAY_MS;
    case 'hour':
      return 7 * DAY_MS;
  }
}

export function partitionName(table: string, startMs: number): string {
  return `${table}_p${startMs}`;
}

/** The start of the partition a partition's name says, or null for a name not of ours. */
export function partitionStart(table: string, name: string): number | null {
  const match = new RegExp(`^${table}_p(\\d+)$`).exec(name);
  return match ? Number(match[1]) : null;
}

export class Partitions {
  /** Partitions this collector knows exist (table and start); forgotten when any may be dropped. */
  private readonly known = new Set<string>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly tiers: readonly Tier[],
  ) {}

  /** Makes the partitions that hold these raw buckets, in every series table of every tier. */
  async ensure(buckets: Iterable<number>): Promise<void> {
    const missing: { table: string; start: number; end: number }[] = [];
    const starts = new Map<number, Set<number>>();
    for (const bucket of buckets)
      for (const tier of this.tiers) {
        const width = partitionMs(tier.name);
        let set = starts.get(width);
        if (!set) {
          set = new Set();
          starts.set(width, set);
        }
        set.add(bucketStart(bucket, width));
      }
    for (const tier of this.tiers) {
      const width = partitionMs(tier.name);
      for (const start of starts.get(width) ?? [])
        for (const kind of SERIES) {
          const table = tableName(kind, tier.name);
          if (!this.known.has(partitionName(table, start)))
            missing.push({ table, start, end: start + width });
        }
    }
    if (missing.length === 0) return;
    await inTransaction(this.pool, async (client) => {
      await client.query(xactLock(LOCK.partitions));
      for (const { table, start, end } of missing)
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${partitionName(table, start)} PARTITION OF ${table}
             FOR VALUES FROM (${start}) TO (${end})`,
        );
    });
    for (const { table, start } of missing) this.known.add(partitionName(table, start));
  }

  /** Forgets which partitions exist: retention (this collector's or another's) may have dropped some. */
  forget(): void {
    this.known.clear();
  }

  /**
   * Drops a table's partitions that end at or before `beforeMs`, under the partitions
   * lock; says how many. What is older than `beforeMs` in the partition that straddles
   * it is for the caller to delete.
   */
  async dropBefore(table: string, tier: Tier['name'], beforeMs: number): Promise<number> {
    const width = partitionMs(tier);
    const names = await this.pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = $1::regclass`,
      [table],
    );
    const old = names.rows
      .map((r) => ({ name: r.name, start: partitionStart(table, r.name) }))
      .filter((p): p is { name: string; start: number } => p.start !== null)
      .filter((p) => p.start + width <= beforeMs);
    if (old.length === 0) return 0;
    this.forget();
    await inTransaction(this.pool, async (client) => {
      await client.query(xactLock(LOCK.partitions));
      for (const p of old) await client.query(`DROP TABLE IF EXISTS ${p.name}`);
    });
    return old.length;
  }
}
