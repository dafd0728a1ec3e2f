// Opens the collector's store from where it lives: a PostgreSQL URL (postgres://...)
// for a store shared by several collectors, else a SQLite file (':memory:' for a
// throwaway one). PostgreSQL's client is loaded only when asked for.
import type { CollectorStore } from './collector-store.js';
import { SqliteCollectorStore } from './sqlite-collector-store.js';
import { Store, type StoreOptions } from './store.js';

/** Does this store location name a PostgreSQL database rather than a SQLite file? */
export function isPostgresLocation(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

export interface OpenedStore {
  store: CollectorStore;
  /** A damaged SQLite file moved aside at start (Store.openOrSetAside): where, and why. */
  setAside?: { path: string; reason: string };
}

/**
 * The writer's store: it migrates the schema and runs maintenance. A SQLite file found
 * damaged is moved aside and an empty one started (Store.openOrSetAside says why).
 */
export async function openStore(
  location: string,
  options: StoreOptions = {},
): Promise<OpenedStore> {
  if (isPostgresLocation(location)) {
    const { PostgresStore } = await import('./postgres/postgres-store.js');
    return { store: await PostgresStore.connect(location, options) };
  }
  const { store, setAside } = Store.openOrSetAside(location, options);
  return { store: new SqliteCollectorStore(store), setAside };
}

/** A reader's store, beside a writer's (the read worker): it never migrates or writes. */
export async function openReaderStore(
  location: string,
  options: StoreOptions = {},
): Promise<CollectorStore> {
  if (isPostgresLocation(location)) {
    const { PostgresStore } = await import('./postgres/postgres-store.js');
    return PostgresStore.connect(location, options, { reader: true });
  }
  return new SqliteCollectorStore(Store.openReader(location, options));
}
