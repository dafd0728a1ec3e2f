// Takes a store file back to an older schema, for the tests that open one: drops the
// series columns the later versions added (as described in collector/store/series.ts) and
// the tiers' tables version 7 added, the socket pod version 9 added to ends and hop
// series and the pods' mesh signs version 10 added, and sets the version. Other tables the later versions changed are the caller's
// to restore.
import type Database from 'better-sqlite3';
import { migrations } from '../../collector/store/schema.js';
import { columns, SERIES, tableName } from '../../collector/store/series.js';
import { tiers } from '../../collector/store/tiers.js';

/** The tiers version 7 added. */
const ADDED_IN_7 = ['tensec', 'tenmin'];

/** The schema version this collector writes. */
export const LATEST_SCHEMA = migrations(tiers()).length;

export function backToSchema(db: Database.Database, version: number): void {
  const added = (name: string) => version < 7 && ADDED_IN_7.includes(name);
  for (const kind of SERIES) {
    for (const column of columns(kind).filter((c) => (kind.since?.[c] ?? 1) > version))
      for (const tier of tiers().filter((t) => !added(t.name)))
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
