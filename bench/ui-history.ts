// The day of history `bench ui` opens: the store a collector holds after a day of the
// bench's mesh, so that the viewer's 6 h and 24 h windows read as many rows as they would
// in a real one. Written in three parts, because a day of 1 s reports from a few thousand
// series through the store's own path would take the better part of an hour:
//   1. the oldest hour through the store itself, one report per series a minute, rolled
//      up by the store into its minute and hour tiers (the real rollup code);
//   2. that hour's rollup rows copied in SQL, shifted hour by hour, up to the last whole
//      hour before the recent part; the rollups' bookkeeping set to match;
//   3. the rest through the store again: a report a minute up to `recentS` before now,
//      then one a second, as the agents send them, and the store's rollup once more.
// The minute, 10 min and hour tiers then hold a row per series per bucket, as a day's
// store does. The raw and 10 s tiers are as thick as a real store's only in the recent
// part (a real one keeps 6 h of 1 s rows, 60 per series a minute; here older raw rows are
// one a minute, and so are older 10 s rows, where a real store has 6). A window's read
// takes raw and 10 s rows only at its ends: after the last rolled-up bucket (the store
// reads whole buckets from the coarsest tier), which the recent part covers when it is
// longer than a minute and the rollup's grace, and, for the 6 h window, at most five
// 10 s rows per series at its start, thinner here than in a real store.
import Database from 'better-sqlite3';
import { SERIES, tableName } from '../collector/store/series.js';
import { Store } from '../collector/store/store.js';
import { HOUR_MS, type Tier, tiers } from '../collector/store/tiers.js';
import { Batch, type Init } from '../proto/gen/tollgate/v1.js';

export interface HistoryOptions {
  /** How far back the history reaches, whole hours before the current one. */
  hours: number;
  /** The last seconds at one report a second. */
  recentS: number;
}

export interface HistoryReport {
  hours: number;
  recent_1s_s: number;
  /** Rows per tier of the store after seeding, every series kind together. */
  rows: Record<Tier['name'], number>;
  seed_s: number;
}

/**
 * Seeds `path` with history of the batches `at(ms)` returns for a report ending at `ms`
 * (each call the same series). Ends at `nowMs`; the store must be new.
 */
export function seedHistory(
  path: string,
  at: (ms: number) => Init<Batch>[],
  options: HistoryOptions,
  nowMs = Date.now(),
): HistoryReport {
  const started = performance.now();
  const first = Math.floor(nowMs / HOUR_MS) * HOUR_MS - options.hours * HOUR_MS;
  // The copied hours end at the whole hour before the recent part; the store writes on.
  const copiedTo = Math.floor((nowMs - options.recentS * 1000) / HOUR_MS) * HOUR_MS;
  if (copiedTo <= first) throw new RangeError('history: hours must reach past the recent part');
  let sequence = 0;
  const write = (store: Store, ms: number) =>
    store.commit(
      at(ms).map((b) =>
        Batch.decode(
          Batch.encode({
            ...b,
            agentId: `history-${b.node}`,
            bootId: 'seed',
            sequence: ++sequence,
          }),
        ),
      ),
      nowMs,
    );

  // 1. The oldest hour, rolled up by the store.
  // Each rollup to the end in one call: the store's own catch-up spreads it over calls.
  const storeOptions = { synchronous: 'NORMAL', rollupBudgetMs: Number.POSITIVE_INFINITY } as const;
  let store = Store.open(path, storeOptions);
  for (let ms = first + 60_000; ms <= first + HOUR_MS; ms += 60_000) write(store, ms);
  store.maintain(first + 2 * HOUR_MS);
  store.close();

  // 2. Its rollup rows, hour after hour.
  const db = new Database(path);
  const tables = SERIES.flatMap((kind) =>
    tiers()
      .filter((tier) => tier.name !== 'raw')
      .map((tier) => tableName(kind, tier.name)),
  );
  db.transaction(() => {
    for (const table of tables) {
      const columns = (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map(
        (c) => c.name,
      );
      const shifted = columns.map((c) => (c === 'bucket_ms' ? 'bucket_ms + ?' : c)).join(', ');
      const copy = db.prepare(
        `INSERT INTO ${table} (${columns.join(', ')}) SELECT ${shifted} FROM ${table}
         WHERE bucket_ms >= ? AND bucket_ms < ?`,
      );
      for (let hour = first + HOUR_MS; hour < copiedTo; hour += HOUR_MS)
        copy.run(hour - first, first, first + HOUR_MS);
    }
    db.prepare("UPDATE rollups SET rolled_to_ms = ? WHERE tier != 'raw'").run(copiedTo);
    // What the rows describe was seen until the copies end, as retention expects.
    db.prepare('UPDATE processes SET last_seen_ms = MAX(last_seen_ms, ?)').run(copiedTo);
    db.prepare('UPDATE ends SET last_seen_ms = MAX(last_seen_ms, ?)').run(copiedTo);
    db.prepare('UPDATE links SET last_seen_ms = MAX(last_seen_ms, ?)').run(copiedTo);
  })();
  db.close();

  // 3. Up to now: a report a minute, then one a second.
  store = Store.open(path, storeOptions);
  const recentFrom = nowMs - options.recentS * 1000;
  for (let ms = copiedTo + 60_000; ms < recentFrom; ms += 60_000) write(store, ms);
  for (let ms = recentFrom; ms <= nowMs; ms += 1000) write(store, ms);
  store.maintain(nowMs);
  store.close();

  const count = new Database(path, { readonly: true });
  const rows: Record<Tier['name'], number> = { raw: 0, tensec: 0, minute: 0, tenmin: 0, hour: 0 };
  // Raw rows are packed, a batch's reports of a kind in one (packed-rows.ts): their reports.
  for (const tier of tiers())
    for (const kind of SERIES)
      rows[tier.name] += (
        count
          .prepare(
            `SELECT ${tier.name === 'raw' ? 'TOTAL(reports)' : 'COUNT(*)'} AS n FROM ${tableName(kind, tier.name)}`,
          )
          .get() as {
          n: number;
        }
      ).n;
  count.close();
  return {
    hours: options.hours,
    recent_1s_s: options.recentS,
    rows,
    seed_s: Math.round((performance.now() - started) / 100) / 10,
  };
}
