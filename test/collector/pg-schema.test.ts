// A PostgreSQL store made by an older collector, before the series columns of the SQLite
// schema's versions after 10 (the hop counters' hand-offs and neighbours' wait, HTTP/2's
// requests, the requests a proxy forwarded): its first migration made the series tables
// with the columns its collector knew, so a newer collector's writes named columns the
// tables lacked. Brought up to date, it stores and reads them. Real PostgreSQL (a
// throwaway cluster).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { pgMigrations } from '../../collector/store/postgres/pg-schema.js';
import { PostgresStore } from '../../collector/store/postgres/postgres-store.js';
import { columns, SERIES, tableName } from '../../collector/store/series.js';
import { tiers } from '../../collector/store/tiers.js';
import { startPostgres } from '../../lab/postgres-server.js';
import { Batch as BatchCodec } from '../../proto/gen/tollgate/v1.js';
import { meshBatch, PER_INTERVAL } from './mesh-batches.js';

const T0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
const FORWARDED = 16 * PER_INTERVAL.exchanges;

test("a PostgreSQL store of an older collector's gains the later series columns, and stores and reads them", async () => {
  const server = await startPostgres();
  try {
    const location = await server.createDatabase('older');
    const pool = new pg.Pool({ connectionString: location, max: 1 });
    try {
      await olderBroughtUp(location, pool);
    } finally {
      await pool.end();
    }
  } finally {
    await server.stop();
  }
});

async function olderBroughtUp(location: string, pool: pg.Pool): Promise<void> {
  const made = await PostgresStore.connect(location, {});
  await made.close();
  // Back to what a collector of SQLite's version 10 made: every later column dropped, the
  // schema at PostgreSQL's version 1.
  const later = SERIES.flatMap((kind) =>
    columns(kind)
      .filter((c) => (kind.since?.[c] ?? 0) > 10)
      .flatMap((c) => tiers().map((tier) => ({ table: tableName(kind, tier.name), column: c }))),
  );
  assert.ok(later.some((l) => l.column === 'forwarded_requests'));
  assert.ok(later.some((l) => l.column === 'http2_requests'));
  for (const { table, column } of later)
    await pool.query(`ALTER TABLE ${table} DROP COLUMN ${column}`);
  await pool.query('UPDATE tollgate_schema SET version = 1');

  const store = await PostgresStore.connect(location, {});
  try {
    const version = (await pool.query<{ version: number }>('SELECT version FROM tollgate_schema'))
      .rows[0]?.version;
    assert.equal(version, pgMigrations(tiers()).length);
    const present = new Set(
      (
        await pool.query<{ t: string; c: string }>(
          "SELECT table_name AS t, column_name AS c FROM information_schema.columns WHERE table_name LIKE 'm\\_%'",
        )
      ).rows.map((r) => `${r.t}.${r.c}`),
    );
    for (const { table, column } of later)
      assert.ok(present.has(`${table}.${column}`), `${table}.${column} added`);

    // A batch with the new counters: stored, and read back summed.
    const batch = BatchCodec.decode(
      BatchCodec.encode({ agentId: 'a', bootId: 'b', sequence: 1, ...meshBatch(1, T0) }),
    );
    const upstream = batch.edges.find((e) => e.side === 'CONNECTION_SIDE_CLIENT');
    assert.ok(upstream);
    upstream.forwardedExchanges = PER_INTERVAL.exchanges;
    upstream.forwardedRequests = FORWARDED;
    assert.deepEqual(await store.commit([batch], T0 + 5000), ['stored']);
    const ends = await store.read('end', T0, T0 + 60_000, T0 + 5000);
    const sums = [...ends.values()].map((a) => a.sums);
    assert.equal(
      sums.reduce((n, s) => n + (s.forwarded_requests ?? 0), 0),
      FORWARDED,
    );
    assert.equal(
      sums.reduce((n, s) => n + (s.forwarded_exchanges ?? 0), 0),
      PER_INTERVAL.exchanges,
    );
  } finally {
    await store.close();
  }
}
