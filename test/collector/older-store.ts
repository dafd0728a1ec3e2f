// Takes a store file back to an older schema, for the tests that open one: drops the
// series columns the later versions added (as described in collector/store/series.ts) and
// sets the version. Other tables the later versions changed are the caller's to restore.
import type Database from 'better-sqlite3';
import { columns, SERIES, tableName } from '../../collector/store/series.js';
import { tiers } from '../../collector/store/tiers.js';

export function backToSchema(db: Database.Database, version: number): void {
  for (const kind of SERIES)
    for (const column of columns(kind).filter((c) => (kind.since?.[c] ?? 1) > version))
      for (const tier of tiers())
        db.exec(`ALTER TABLE ${tableName(kind, tier.name)} DROP COLUMN ${column}`);
  db.pragma(`user_version = ${version}`);
}
