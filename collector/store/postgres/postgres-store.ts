// PLACEHOLDER, being written by the lead: the PostgreSQL engine of CollectorStore.
import type { CollectorStore } from '../collector-store.js';
import type { StoreOptions } from '../store.js';

export class PostgresStore {
  static async connect(
    _url: string,
    _options: StoreOptions,
    _role: { reader?: boolean } = {},
  ): Promise<CollectorStore> {
    throw new Error('the PostgreSQL store is not built yet');
  }
}
