// The SQLite schema as an ordered list of migrations. A store opened by an older
// version is brought forward in one transaction per step; one opened by a newer version
// is refused rather than guessed at.
import type Database from 'better-sqlite3';
import type { Row } from './aggregate.js';
import type { LoggedTuple } from './connection-join.js';
import { packRows } from './packed-rows.js';
import {
  columnDefinition,
  columnDefinitions,
  columns,
  SERIES,
  type SeriesColumnTypes,
  type SeriesKind,
  tableName,
} from './series.js';
import { seriesNodes } from './series-tables.js';
import type { Tier } from './tiers.js';

const COLUMN_TYPES: SeriesColumnTypes = { number: 'INTEGER', histogram: 'BLOB' };

/** The series tables as the first version made them: without the columns added later. */
function seriesTables(tiers: readonly Tier[]): string {
  const statements: string[] = [];
  for (const kind of SERIES) {
    const cols = columnDefinitions(kind, COLUMN_TYPES, (c) => kind.since?.[c] === undefined);
    for (const tier of tiers) {
      const table = tableName(kind, tier.name);
      // Raw rows are only ever inserted (one per report); rollups are merged into by key.
      statements.push(
        tier.name === 'raw'
          ? `CREATE TABLE ${table} (bucket_ms INTEGER NOT NULL, sid INTEGER NOT NULL, ${cols});
             CREATE INDEX ${table}_bucket ON ${table} (bucket_ms, sid);`
          : `CREATE TABLE ${table} (bucket_ms INTEGER NOT NULL, sid INTEGER NOT NULL, ${cols},
               PRIMARY KEY (bucket_ms, sid)) WITHOUT ROWID;`,
      );
    }
  }
  return statements.join('\n');
}

/** The tiers version 7 added; the versions before it made and changed the others only. */
const ADDED_IN_7: readonly Tier['name'][] = ['tensec', 'tenmin'];

/** The series tables of tiers added by schema `version`, with the columns it had. */
function addedTiers(
  tiers: readonly Tier[],
  names: readonly Tier['name'][],
  version: number,
): string {
  const statements: string[] = [];
  for (const kind of SERIES) {
    const cols = columnDefinitions(kind, COLUMN_TYPES, (c) => (kind.since?.[c] ?? 0) <= version);
    for (const tier of tiers.filter((t) => names.includes(t.name)))
      statements.push(
        `CREATE TABLE ${tableName(kind, tier.name)} (bucket_ms INTEGER NOT NULL,
           sid INTEGER NOT NULL, ${cols}, PRIMARY KEY (bucket_ms, sid)) WITHOUT ROWID;`,
      );
  }
  return statements.join('\n');
}

/**
 * The schema version from which raw rows are packed, one row per batch and kind
 * (packed-rows.ts): a body names its columns, so columns added after it go into the
 * rollups' tables only.
 */
export const PACKED_RAW_VERSION = 11;

/** The series columns that schema `version` adds, in every tier's table. */
function addedColumns(tiers: readonly Tier[], version: number): string {
  const statements: string[] = [];
  for (const kind of SERIES)
    for (const column of columns(kind).filter((c) => kind.since?.[c] === version))
      for (const tier of tiers)
        if (tier.name !== 'raw' || version < PACKED_RAW_VERSION)
          statements.push(
            `ALTER TABLE ${tableName(kind, tier.name)} ADD COLUMN ${columnDefinition(kind, column, COLUMN_TYPES)};`,
          );
  return statements.join('\n');
}

/** A step of the schema: SQL, or code where the rows must be rewritten. */
type Step = string | ((db: Database.Database) => void);

export function migrations(tiers: readonly Tier[]): readonly Step[] {
  const first = tiers.filter((t) => !ADDED_IN_7.includes(t.name));
  return [
    // 1: identities, batches, joins and the metric series.
    `CREATE TABLE agents (
       id INTEGER PRIMARY KEY,
       agent_id TEXT NOT NULL UNIQUE,
       node TEXT NOT NULL,
       boot_id TEXT NOT NULL,
       version TEXT NOT NULL,
       node_info TEXT NOT NULL,
       cost TEXT,
       first_seen_ms INTEGER NOT NULL,
       last_seen_ms INTEGER NOT NULL);
     CREATE TABLE batches (
       agent_id TEXT NOT NULL,
       boot_id TEXT NOT NULL,
       sequence INTEGER NOT NULL,
       stored_ms INTEGER NOT NULL,
       interval_end_ms INTEGER NOT NULL,
       records INTEGER NOT NULL,
       PRIMARY KEY (agent_id, boot_id, sequence)) WITHOUT ROWID;
     CREATE INDEX batches_stored ON batches (stored_ms);
     CREATE TABLE processes (
       id INTEGER PRIMARY KEY,
       key TEXT NOT NULL UNIQUE,
       node TEXT NOT NULL,
       pid INTEGER NOT NULL,
       start_ticks INTEGER NOT NULL,
       identity TEXT NOT NULL,
       first_seen_ms INTEGER NOT NULL,
       last_seen_ms INTEGER NOT NULL);
     CREATE TABLE ends (
       id INTEGER PRIMARY KEY,
       process INTEGER NOT NULL REFERENCES processes(id),
       side INTEGER NOT NULL,
       local_addr TEXT NOT NULL,
       remote_addr TEXT NOT NULL,
       port INTEGER NOT NULL,
       last_seen_ms INTEGER NOT NULL,
       UNIQUE (process, side, local_addr, remote_addr, port));
     CREATE TABLE hop_series (
       id INTEGER PRIMARY KEY,
       process INTEGER NOT NULL REFERENCES processes(id),
       direction INTEGER NOT NULL,
       UNIQUE (process, direction));
     CREATE TABLE resource_last (
       process INTEGER PRIMARY KEY,
       cpu_ns INTEGER NOT NULL,
       sample_ms INTEGER NOT NULL);
     CREATE TABLE agent_last (
       agent INTEGER PRIMARY KEY,
       boot_id TEXT NOT NULL,
       agent_cpu_ns INTEGER NOT NULL,
       runner_cpu_ns INTEGER NOT NULL);
     CREATE TABLE tuples (
       scope TEXT NOT NULL,
       address TEXT NOT NULL,
       port INTEGER NOT NULL,
       side INTEGER NOT NULL,
       end_id INTEGER NOT NULL,
       seen_ms INTEGER NOT NULL,
       PRIMARY KEY (scope, address, port, side)) WITHOUT ROWID;
     CREATE INDEX tuples_seen ON tuples (seen_ms);
     CREATE TABLE links (
       client_end INTEGER NOT NULL,
       server_end INTEGER NOT NULL,
       first_seen_ms INTEGER NOT NULL,
       last_seen_ms INTEGER NOT NULL,
       PRIMARY KEY (client_end, server_end)) WITHOUT ROWID;
     CREATE TABLE rollups (tier TEXT PRIMARY KEY, rolled_to_ms INTEGER NOT NULL);
     ${seriesTables(first)}`,
    // 2: names of remote addresses (pods and Services) from the agents' Kubernetes watch.
    `CREATE TABLE peer_names (
       address TEXT PRIMARY KEY,
       kind TEXT NOT NULL,
       namespace TEXT NOT NULL,
       name TEXT NOT NULL,
       seen_ms INTEGER NOT NULL) WITHOUT ROWID;`,
    // 3: profiling sessions, their frozen results, and the load reports of their agents.
    `CREATE TABLE sessions (
       id TEXT PRIMARY KEY,
       name TEXT NOT NULL,
       state TEXT NOT NULL,
       created_ms INTEGER NOT NULL,
       start_ms INTEGER NOT NULL,
       end_ms INTEGER,
       planned_end_ms INTEGER,
       spec TEXT NOT NULL,
       result BLOB,
       error TEXT) WITHOUT ROWID;
     CREATE TABLE session_loads (
       session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
       agent_id TEXT NOT NULL,
       boot_id TEXT NOT NULL,
       sequence INTEGER NOT NULL,
       report BLOB NOT NULL,
       PRIMARY KEY (session_id, agent_id, boot_id, sequence)) WITHOUT ROWID;`,
    // 4: connection tuples keyed by the client's initial sequence number too, since one
    // ephemeral port serves connections to different destinations at once. Tuples live
    // minutes (they only wait for the other end's report), so the old ones are dropped.
    `DROP TABLE tuples;
     CREATE TABLE tuples (
       scope TEXT NOT NULL,
       address TEXT NOT NULL,
       port INTEGER NOT NULL,
       client_isn INTEGER NOT NULL,
       side INTEGER NOT NULL,
       end_id INTEGER NOT NULL,
       seen_ms INTEGER NOT NULL,
       PRIMARY KEY (scope, address, port, client_isn, side)) WITHOUT ROWID;
     CREATE INDEX tuples_seen ON tuples (seen_ms);`,
    // 5: hops timed from the bytes' arrival and joined per exchange: the joint added
    // latency, forwards without an arrival, hops without one, and the method. Rows from
    // before read as 0 and empty, which is what older agents sent.
    addedColumns(first, 5),
    // 6: exchanges on connections seen carrying several requests at once, kept apart from
    // the timed ones. Rows from before read as 0: older agents timed them all.
    addedColumns(first, 6),
    // 7: rollups to 10 s and to 10 minutes, so that a long range's ragged ends take a few
    // rows per series, not up to an hour of minutes. Filled by the next rollup from the
    // finer tier's oldest rows.
    addedTiers(tiers, ADDED_IN_7, 7),
    // 8 on: the columns of series counters added since (the counter tables give a new
    // counter the version that adds it), rows from before reading as 0; and the steps of
    // LATER_STEPS, at their versions.
    ...laterSteps(tiers, 8),
  ];
}

/** Steps from version 8 on that are not series columns, by version. */
const LATER_STEPS: Readonly<Record<number, Step>> = {
  // 9: ends and hop series keyed also by the pod whose network namespace holds their
  // sockets when it is not their process's (a node proxy's, per pod it serves; '' for
  // every other process, as all rows from before). SQLite changes a UNIQUE key only by
  // rebuilding the table; ids are kept, and nothing refers to these tables by key.
  9: `CREATE TABLE ends_v9 (
       id INTEGER PRIMARY KEY,
       process INTEGER NOT NULL REFERENCES processes(id),
       side INTEGER NOT NULL,
       local_addr TEXT NOT NULL,
       remote_addr TEXT NOT NULL,
       port INTEGER NOT NULL,
       socket_pod TEXT NOT NULL DEFAULT '',
       last_seen_ms INTEGER NOT NULL,
       UNIQUE (process, side, local_addr, remote_addr, port, socket_pod));
     INSERT INTO ends_v9 (id, process, side, local_addr, remote_addr, port, last_seen_ms)
       SELECT id, process, side, local_addr, remote_addr, port, last_seen_ms FROM ends;
     DROP TABLE ends;
     ALTER TABLE ends_v9 RENAME TO ends;
     CREATE TABLE hop_series_v9 (
       id INTEGER PRIMARY KEY,
       process INTEGER NOT NULL REFERENCES processes(id),
       direction INTEGER NOT NULL,
       socket_pod TEXT NOT NULL DEFAULT '',
       UNIQUE (process, direction, socket_pod));
     INSERT INTO hop_series_v9 (id, process, direction)
       SELECT id, process, direction FROM hop_series;
     DROP TABLE hop_series;
     ALTER TABLE hop_series_v9 RENAME TO hop_series;`,
  // 10: the cluster's signs of how each pod is meshed, as its agent last shipped them
  // (namespace and pod labels of the mesh as JSON objects, the pod's controlling owner,
  // its sidecar containers as a JSON array), by pod id. Pods of stores from before have
  // none until their agent ships them again.
  10: `CREATE TABLE pod_signs (
       pod TEXT PRIMARY KEY,
       namespace_labels TEXT NOT NULL,
       labels TEXT NOT NULL,
       owner_kind TEXT NOT NULL,
       owner_name TEXT NOT NULL,
       sidecar_containers TEXT NOT NULL,
       seen_ms INTEGER NOT NULL) WITHOUT ROWID;`,
  // 11: raw rows packed, one per batch and kind (packed-rows.ts): a row each was most of
  // ingest's cost. Rows from before are packed per bucket.
  [PACKED_RAW_VERSION]: packRawRows,
  // 12: connection tuples as a log, one row per batch (connection-join.ts): the join looks
  // them up in memory. The tuples kept before go in, a row per sighting time.
  12: (db) => {
    db.exec(`CREATE TABLE tuple_log (seen_ms INTEGER NOT NULL, tuples INTEGER NOT NULL,
               body TEXT NOT NULL);
             CREATE INDEX tuple_log_seen ON tuple_log (seen_ms);`);
    // All read first (retention kept them to minutes): a statement cannot run while
    // another's rows are being read on the same connection.
    const kept = db
      .prepare(
        `SELECT scope, address, port, client_isn, side, end_id, seen_ms FROM tuples
         ORDER BY seen_ms`,
      )
      .raw(true)
      .all() as [string, string, number, number, number, number, number][];
    const insert = db.prepare('INSERT INTO tuple_log (seen_ms, tuples, body) VALUES (?, ?, ?)');
    for (let i = 0; i < kept.length; ) {
      const seen = kept[i]![6];
      const group: LoggedTuple[] = [];
      for (; i < kept.length && kept[i]![6] === seen; i++)
        group.push(kept[i]!.slice(0, 6) as LoggedTuple);
      insert.run(seen, group.length, JSON.stringify(group));
    }
    db.exec('DROP TABLE tuples;');
  },
};

/** Reports packed into one row when rows from before version 11 are packed. */
const PACK_MIGRATED = 1000;

/**
 * Version 11: each kind's raw table rewritten as packed rows, with the node whose agent
 * sent them (a series' reports all come from one node, so a read of some series unpacks
 * only their nodes' rows); the rows from before packed per bucket and node.
 */
function packRawRows(db: Database.Database): void {
  for (const kind of SERIES) {
    const table = tableName(kind, 'raw');
    // The columns raw tables had then: columns added later go into the rollups only.
    const then = (c: string) => (kind.since?.[c] ?? 0) < PACKED_RAW_VERSION;
    const thenKind: SeriesKind = {
      ...kind,
      sums: kind.sums.filter(then),
      maxes: kind.maxes.filter(then),
      hists: kind.hists.filter(then),
    };
    const cols = columns(thenKind);
    db.exec(`CREATE TABLE ${table}_packed (bucket_ms INTEGER NOT NULL, node TEXT NOT NULL,
               reports INTEGER NOT NULL, body BLOB NOT NULL)`);
    const insert = db.prepare(
      `INSERT INTO ${table}_packed (bucket_ms, node, reports, body) VALUES (?, ?, ?, ?)`,
    );
    // What describes rows is kept while they are, so every row's series has its node; a
    // row that had none is kept under ''. The nodes read once; the rows a bucket at a
    // time (a statement cannot run while another's rows are being read).
    const nodeOf = new Map(
      db.prepare(seriesNodes(kind.name)).raw(true).all() as [number, string][],
    );
    const buckets = db
      .prepare(`SELECT DISTINCT bucket_ms FROM ${table} ORDER BY bucket_ms`)
      .pluck()
      .all() as number[];
    const rowsOf = db.prepare(`SELECT sid, ${cols.join(', ')} FROM ${table} WHERE bucket_ms = ?`);
    for (const bucket of buckets) {
      const byNode = new Map<string, { sids: number[]; rows: Row[] }>();
      const flush = (node: string, group: { sids: number[]; rows: Row[] }) =>
        insert.run(bucket, node, group.rows.length, packRows(thenKind, group.sids, group.rows));
      for (const row of rowsOf.all(bucket) as (Row & { sid: number })[]) {
        const node = nodeOf.get(row.sid) ?? '';
        let group = byNode.get(node);
        if (!group) {
          group = { sids: [], rows: [] };
          byNode.set(node, group);
        }
        group.sids.push(row.sid);
        group.rows.push(row);
        if (group.rows.length >= PACK_MIGRATED) {
          flush(node, group);
          byNode.delete(node);
        }
      }
      for (const [node, group] of byNode) flush(node, group);
    }
    db.exec(`DROP TABLE ${table};
             ALTER TABLE ${table}_packed RENAME TO ${table};
             CREATE INDEX ${table}_bucket ON ${table} (bucket_ms);
             CREATE INDEX ${table}_node ON ${table} (node, bucket_ms);`);
  }
}

/**
 * One step per schema version from `first`, up to the last that adds a series column or
 * has a step of LATER_STEPS: a version's added columns, its step, or both.
 */
function laterSteps(tiers: readonly Tier[], first: number): Step[] {
  const last = Math.max(
    first - 1,
    ...SERIES.flatMap((kind) => Object.values(kind.since ?? {})),
    ...Object.keys(LATER_STEPS).map(Number),
  );
  const steps: Step[] = [];
  for (let version = first; version <= last; version++) {
    const added = addedColumns(tiers, version);
    const later = LATER_STEPS[version];
    if (!added && !later)
      throw new Error(`schema version ${version} adds nothing: a gap in the versions`);
    if (typeof later === 'function') {
      if (added) throw new Error(`schema version ${version} both adds columns and rewrites rows`);
      steps.push(later);
    } else steps.push([added, later].filter(Boolean).join('\n'));
  }
  return steps;
}

/** Brings the schema to the latest version; returns the version it found. */
export function migrate(db: Database.Database, tiers: readonly Tier[]): number {
  const steps = migrations(tiers);
  const found = db.pragma('user_version', { simple: true }) as number;
  if (found > steps.length) {
    throw new Error(
      `the store's schema is version ${found}, newer than this collector's ${steps.length}: upgrade Tollgate`,
    );
  }
  for (let v = found; v < steps.length; v++) {
    db.transaction(() => {
      const step = steps[v]!;
      if (typeof step === 'string') db.exec(step);
      else step(db);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return found;
}
