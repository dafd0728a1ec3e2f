// The read worker: its own read-only connection to the store, answering the HTTP side's
// reads one at a time (reader.ts), so that ingest never waits for them.
import { parentPort, workerData } from 'node:worker_threads';
import { Queries } from '../queries.js';
import { openReaderStore } from '../store/open-store.js';
import type { StoreOptions } from '../store/store.js';
import { answer, type ReadReply, type ReadRequest } from './reader.js';

const options = workerData as {
  database: string;
  store?: StoreOptions;
  maxRowsPerRequest?: number;
};
// A store that cannot be opened fails the worker, as it always did: the reader restarts
// it a few times, then says reads failed for good. Requests wait in the port meanwhile.
const store = await openReaderStore(options.database, options.store);
const queries = new Queries(store, options.maxRowsPerRequest);

async function reply(request: ReadRequest): Promise<ReadReply> {
  try {
    await store.refreshRollups();
    return { id: request.id, result: await answer(queries, request) };
  } catch (error) {
    const e = error as Error & { statusCode?: number };
    return {
      id: request.id,
      error: { name: e.name, message: e.message, statusCode: e.statusCode },
    };
  }
}

// One request at a time, in the order they came: each waits for the one before.
let last: Promise<void> = Promise.resolve();
parentPort?.on('message', (request: ReadRequest) => {
  last = last
    .then(async () => parentPort?.postMessage(await reply(request)))
    .catch((error: unknown) => {
      // A reply that cannot be sent fails the worker, as it always did (reader.ts restarts it).
      queueMicrotask(() => {
        throw error;
      });
    });
});
