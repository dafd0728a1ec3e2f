// Takes a store file back to an older schema, for the tests that open one: drops the
// series columns the later versions added (as described in collector/store/series.ts) and
// the tiers' tables version 7 added, the socket pod version 9 added to ends and hop
// series and the pods' mesh signs version 10 added, unpacks the raw rows version 11
// packed, puts back the tuples table version 12 replaced, and sets the version. Other
// tables the later versions changed are the caller's to restore.
import type Database from 'better-sqlite3';
import { unpackRows } from '../../collector/store/packed-rows.js';
import { migrations, PACKED_RAW_VERSION } from '../../collector/store/schema.js';
import { columns, SERIES, tableName } from '../../collector/store/series.js';
import { tiers } from '../../collector/store/tiers.js';

/** The tiers version 7 added. */
const ADDED_IN_7 = ['tensec', 'tenmin'];

/** The schema version this collector writes. */
export const LATEST_SCHEMA = migrations(tiers()).length;

export function backToSchema(db: Database.Database, version: number): void {
  // Versions 4 to 11 kept the tuples in a table of their own; the log's are not carried back.
  if (version < 12)
    db.exec(`DROP TABLE tuple_log;
             CREATE TABLE tuples (
               scope TEXT NOT NULL,
               address TEXT NOT NULL,
               port INTEGER NOT NULL,
               client_isn INTEGER NOT NULL,
               side INTEGER NOT NULL,
               end_id INTEGER NOT NULL,
               seen_ms INTEGER NOT NULL,
               PRIMARY KEY (scope, address, port, client_isn, side)) WITHOUT ROWID;
             CREATE INDEX tuples_seen ON tuples (seen_ms);`);
  if (version < PACKED_RAW_VERSION) unpackRawRows(db);
  const added = (name: string) => version < 7 && ADDED_IN_7.includes(name);
  for (const kind of SERIES) {
    // Packed raw rows name their columns (from version 11): they have none to drop.
    for (const column of columns(kind).filter((c) => (kind.since?.[c] ?? 1) > version))
      for (const tier of tiers().filter((t) => !added(t.name)))
        if (tier.name !== 'raw' || version < PACKED_RAW_VERSION)
          db.exec(`ALTER TABLE ${tableName(kind, tier.name)} DROP COLUMN ${column}`);
    for (const tier of tiers().filter((t) => added(t.name)))
      db.exec(`DROP TABLE ${tableName(kind, tier.name)}`);
  }
  if (version < 7) db.exec(`DELETE FROM rollups WHERE tier IN ('tensec', 'tenmin')`);
  if (version < 9)
    db.exec(`CREATE TABLE ends_v8 (
               id INTEGER PRIMARY KEY,
               process INTEGER NOT NULL REFERENCES processes(id),
               side INTEGER NOT NULL,
               local_addr TEXT NOT NULL,
               remote_addr TEXT NOT NULL,
               port INTEGER NOT NULL,
               last_seen_ms INTEGER NOT NULL,
               UNIQUE (process, side, local_addr, remote_addr, port));
             INSERT INTO ends_v8 SELECT id, process, side, local_addr, remote_addr, port, last_seen_ms FROM ends;
             DROP TABLE ends;
             ALTER TABLE ends_v8 RENAME TO ends;
             CREATE TABLE hop_series_v8 (
               id INTEGER PRIMARY KEY,
               process INTEGER NOT NULL REFERENCES processes(id),
               direction INTEGER NOT NULL,
               UNIQUE (process, direction));
             INSERT INTO hop_series_v8 SELECT id, process, direction FROM hop_series;
             DROP TABLE hop_series;
             ALTER TABLE hop_series_v8 RENAME TO hop_series;`);
  if (version < 10) db.exec('DROP TABLE pod_signs');
  db.pragma(`user_version = ${version}`);
}

/** Raw rows back as versions before 11 kept them: a row per report, every column of today. */
function unpackRawRows(db: Database.Database): void {
  for (const kind of SERIES) {
    const table = tableName(kind, 'raw');
    const cols = columns(kind);
    db.exec(`CREATE TABLE ${table}_rows (bucket_ms INTEGER NOT NULL, sid INTEGER NOT NULL,
               ${cols.map((c) => (kind.hists.includes(c) ? `${c} BLOB` : `${c} INTEGER NOT NULL DEFAULT 0`)).join(', ')})`);
    const insert = db.prepare(
      `INSERT INTO ${table}_rows (bucket_ms, sid, ${cols.join(', ')}) VALUES (?, ?, ${cols.map(() => '?').join(', ')})`,
    );
    const bodies = db.prepare(`SELECT bucket_ms, body FROM ${table}`).all() as {
      bucket_ms: number;
      body: Uint8Array;
    }[];
    for (const { bucket_ms, body } of bodies)
      for (const { sid, row } of unpackRows(kind, body))
        insert.run(bucket_ms, sid, ...cols.map((c) => row[c] ?? null));
    db.exec(`DROP TABLE ${table};
             ALTER TABLE ${table}_rows RENAME TO ${table};
             CREATE INDEX ${table}_bucket ON ${table} (bucket_ms, sid);`);
  }
}
