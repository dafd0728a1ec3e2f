// The PostgreSQL schema, as ordered migrations, applied by one collector at a time under
// an advisory lock: replicas starting together wait for the first. The
// metric series' tables (series.ts, one per kind and tier) are partitioned by time
// (pg-partitions.ts), so retention drops whole partitions instead of deleting rows.
import type pg from 'pg';
import {
  columnDefinition,
  columnDefinitions,
  columns,
  SERIES,
  type SeriesColumnTypes,
  tableName,
} from '../series.js';
import type { Tier } from '../tiers.js';
import { LOCK, LOCK_CLASS } from './pg-locks.js';

/** Counters and peaks as float8 (as exact as the numbers they come from), histograms as bytea. */
const COLUMN_TYPES: SeriesColumnTypes = { number: 'DOUBLE PRECISION', histogram: 'BYTEA' };

function seriesTables(tiers: readonly Tier[]): string {
  const statements: string[] = [];
  for (const kind of SERIES) {
    const cols = columnDefinitions(kind, COLUMN_TYPES);
    for (const tier of tiers) {
      const table = tableName(kind, tier.name);
      // Raw rows are only inserted (one per report); rollup rows are merged into by key.
      statements.push(
        tier.name === 'raw'
          ? `CREATE TABLE ${table} (bucket_ms BIGINT NOT NULL, sid BIGINT NOT NULL, ${cols})
               PARTITION BY RANGE (bucket_ms);
             CREATE INDEX ${table}_bucket ON ${table} (bucket_ms, sid);`
          : `CREATE TABLE ${table} (bucket_ms BIGINT NOT NULL, sid BIGINT NOT NULL, ${cols},
               PRIMARY KEY (bucket_ms, sid)) PARTITION BY RANGE (bucket_ms);`,
      );
    }
  }
  return statements.join('\n');
}

/** The SQLite store's schema version that PostgreSQL's first migration stands for. */
const FIRST_AS_SQLITE = 10;

/**
 * One step per later SQLite schema version (11, 12, ...): the series columns that version
 * added, on every tier. The first migration makes the series tables with the columns of
 * the collector that runs it, so a database made by an older collector lacked the ones
 * added since (a write then failed on the missing column), and one made by a newer
 * collector has them already: IF NOT EXISTS adds what is missing either way. A version
 * that added no series column is a step that does nothing, to keep the numbering.
 */
function laterColumns(tiers: readonly Tier[]): string[] {
  const last = Math.max(
    FIRST_AS_SQLITE,
    ...SERIES.flatMap((kind) => Object.values(kind.since ?? {})),
  );
  const steps: string[] = [];
  for (let version = FIRST_AS_SQLITE + 1; version <= last; version++) {
    const statements = SERIES.flatMap((kind) =>
      columns(kind)
        .filter((c) => kind.since?.[c] === version)
        .flatMap((c) =>
          tiers.map(
            (tier) =>
              `ALTER TABLE ${tableName(kind, tier.name)} ADD COLUMN IF NOT EXISTS ${columnDefinition(kind, c, COLUMN_TYPES)};`,
          ),
        ),
    );
    steps.push(statements.length > 0 ? statements.join('\n') : 'SELECT 1;');
  }
  return steps;
}

export function pgMigrations(tiers: readonly Tier[]): readonly string[] {
  return [
    // 1: what the SQLite store's migrations came to at its version 10 (schema.ts), in
    // PostgreSQL's types: identities, batches, joins, names, mesh signs, sessions, the series.
    `CREATE TABLE agents (
       id BIGSERIAL PRIMARY KEY,
       agent_id TEXT NOT NULL UNIQUE,
       node TEXT NOT NULL,
       boot_id TEXT NOT NULL,
       version TEXT NOT NULL,
       node_info TEXT NOT NULL,
       cost TEXT,
       first_seen_ms BIGINT NOT NULL,
       last_seen_ms BIGINT NOT NULL);
     CREATE TABLE batches (
       agent_id TEXT NOT NULL,
       boot_id TEXT NOT NULL,
       sequence BIGINT NOT NULL,
       stored_ms BIGINT NOT NULL,
       interval_end_ms BIGINT NOT NULL,
       records INTEGER NOT NULL,
       PRIMARY KEY (agent_id, boot_id, sequence));
     CREATE INDEX batches_stored ON batches (stored_ms);
     -- What each agent has delivered, for the sessions' wait (pg-session-cluster.ts).
     CREATE INDEX batches_agent_end ON batches (agent_id, interval_end_ms);
     CREATE TABLE processes (
       id BIGSERIAL PRIMARY KEY,
       key TEXT NOT NULL UNIQUE,
       node TEXT NOT NULL,
       pid BIGINT NOT NULL,
       start_ticks BIGINT NOT NULL,
       identity TEXT NOT NULL,
       first_seen_ms BIGINT NOT NULL,
       last_seen_ms BIGINT NOT NULL);
     CREATE TABLE ends (
       id BIGSERIAL PRIMARY KEY,
       process BIGINT NOT NULL REFERENCES processes (id),
       side SMALLINT NOT NULL,
       local_addr TEXT NOT NULL,
       remote_addr TEXT NOT NULL,
       port INTEGER NOT NULL,
       socket_pod TEXT NOT NULL DEFAULT '',
       last_seen_ms BIGINT NOT NULL,
       UNIQUE (process, side, local_addr, remote_addr, port, socket_pod));
     CREATE TABLE hop_series (
       id BIGSERIAL PRIMARY KEY,
       process BIGINT NOT NULL REFERENCES processes (id),
       direction SMALLINT NOT NULL,
       socket_pod TEXT NOT NULL DEFAULT '',
       UNIQUE (process, direction, socket_pod));
     CREATE TABLE resource_last (
       process BIGINT PRIMARY KEY,
       cpu_ns DOUBLE PRECISION NOT NULL,
       sample_ms BIGINT NOT NULL);
     CREATE TABLE agent_last (
       agent BIGINT PRIMARY KEY,
       boot_id TEXT NOT NULL,
       agent_cpu_ns DOUBLE PRECISION NOT NULL,
       runner_cpu_ns DOUBLE PRECISION NOT NULL);
     CREATE TABLE tuples (
       scope TEXT NOT NULL,
       address TEXT NOT NULL,
       port INTEGER NOT NULL,
       client_isn BIGINT NOT NULL,
       side SMALLINT NOT NULL,
       end_id BIGINT NOT NULL,
       seen_ms BIGINT NOT NULL,
       PRIMARY KEY (scope, address, port, client_isn, side));
     CREATE INDEX tuples_seen ON tuples (seen_ms);
     CREATE TABLE links (
       client_end BIGINT NOT NULL,
       server_end BIGINT NOT NULL,
       first_seen_ms BIGINT NOT NULL,
       last_seen_ms BIGINT NOT NULL,
       PRIMARY KEY (client_end, server_end));
     CREATE TABLE rollups (tier TEXT PRIMARY KEY, rolled_to_ms BIGINT NOT NULL);
     CREATE TABLE peer_names (
       address TEXT PRIMARY KEY,
       kind TEXT NOT NULL,
       namespace TEXT NOT NULL,
       name TEXT NOT NULL,
       seen_ms BIGINT NOT NULL);
     CREATE TABLE pod_signs (
       pod TEXT PRIMARY KEY,
       namespace_labels TEXT NOT NULL,
       labels TEXT NOT NULL,
       owner_kind TEXT NOT NULL,
       owner_name TEXT NOT NULL,
       sidecar_containers TEXT NOT NULL,
       seen_ms BIGINT NOT NULL);
     CREATE TABLE sessions (
       id TEXT PRIMARY KEY,
       name TEXT NOT NULL,
       state TEXT NOT NULL,
       created_ms BIGINT NOT NULL,
       start_ms BIGINT NOT NULL,
       end_ms BIGINT,
       planned_end_ms BIGINT,
       spec TEXT NOT NULL,
       result BYTEA,
       error TEXT);
     CREATE TABLE session_loads (
       session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
       agent_id TEXT NOT NULL,
       boot_id TEXT NOT NULL,
       sequence BIGINT NOT NULL,
       report BYTEA NOT NULL,
       PRIMARY KEY (session_id, agent_id, boot_id, sequence));
     -- Sessions' coordination among collectors (pg-session-cluster.ts): which agents
     -- each collector holds now, the load orders waiting for the collector that holds
     -- their agent, and one sequence of trace-target generations for all.
     CREATE TABLE collector_agents (
       collector TEXT NOT NULL,
       agent_id TEXT NOT NULL,
       seen_ms BIGINT NOT NULL,
       PRIMARY KEY (collector, agent_id));
     CREATE TABLE load_orders (
       session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
       agent_id TEXT NOT NULL,
       body BYTEA NOT NULL,
       sent_by TEXT,
       PRIMARY KEY (session_id, agent_id));
     CREATE SEQUENCE session_target_generation;
     ${seriesTables(tiers)}`,
    // 2 on: the series columns of SQLite's versions after 10, one step per version. Their
    // numbers follow SQLite's: a step of PostgreSQL's own would need a place that a
    // later SQLite version cannot move (not after these).
    ...laterColumns(tiers),
  ];
}

/**
 * Brings the database's schema to the latest version, one collector at a time; refuses
 * a schema newer than this collector's. Returns the version it found.
 */
export async function migratePg(pool: pg.Pool, tiers: readonly Tier[]): Promise<number> {
  const steps = pgMigrations(tiers);
  const client = await pool.connect();
  try {
    await client.query(`SELECT pg_advisory_lock(${LOCK_CLASS}, ${LOCK.schema})`);
    try {
      await client.query('CREATE TABLE IF NOT EXISTS tollgate_schema (version INTEGER NOT NULL)');
      const found =
        (await client.query<{ version: number }>('SELECT version FROM tollgate_schema')).rows[0]
          ?.version ?? 0;
      if (found > steps.length)
        throw new Error(
          `the store's schema is version ${found}, newer than this collector's ${steps.length}: upgrade Tollgate`,
        );
      for (let v = found; v < steps.length; v++) {
        await client.query('BEGIN');
        try {
          await client.query(steps[v]!);
          await client.query('DELETE FROM tollgate_schema');
          await client.query('INSERT INTO tollgate_schema (version) VALUES ($1)', [v + 1]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        }
      }
      return found;
    } finally {
      await client.query(`SELECT pg_advisory_unlock(${LOCK_CLASS}, ${LOCK.schema})`);
    }
  } finally {
    client.release();
  }
}

/** The schema version a database holds (0 when none): a reader checks it, never migrates. */
export async function pgSchemaVersion(pool: pg.Pool): Promise<number> {
  const exists = await pool.query<{ t: string | null }>(
    "SELECT to_regclass('tollgate_schema')::text AS t",
  );
  if (!exists.rows[0]?.t) return 0;
  return (
    (await pool.query<{ version: number }>('SELECT version FROM tollgate_schema')).rows[0]
      ?.version ?? 0
  );
}
