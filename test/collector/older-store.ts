// Takes a store file back to an older schema, for the tests that open one: drops the
// series columns the later versions added (as described in collector/store/series.ts) and
// the tiers' tables version 7 added, and sets the version. Other tables the later
// versions changed are the caller's to restore.
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
  db.pragma(`user_version = ${version}`);
}
