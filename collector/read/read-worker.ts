// The read worker: its own read-only connection to the store, answering the HTTP side's
// reads one at a time (reader.ts), so that ingest never waits for them.
import { parentPort, workerData } from 'node:worker_threads';
import { Queries } from '../queries.js';
import { Store, type StoreOptions } from '../store/store.js';
import { answer, type ReadReply, type ReadRequest } from './reader.js';

const options = workerData as {
  database: string;
  store?: StoreOptions;
  maxRowsPerRequest?: number;
};
const store = Store.openReader(options.database, options.store);
const queries = new Queries(store, options.maxRowsPerRequest);

parentPort?.on('message', (request: ReadRequest) => {
  let reply: ReadReply;
  try {
    store.refreshRollups();
    reply = { id: request.id, result: answer(queries, request) };
  } catch (error) {
    const e = error as Error & { statusCode?: number };
    reply = {
      id: request.id,
      error: { name: e.name, message: e.message, statusCode: e.statusCode },
    };
  }
  parentPort?.postMessage(reply);
});
