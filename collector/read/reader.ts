// The HTTP side's reads, off the thread that acknowledges agents' batches. A long range
// read synchronously (SQLite's) would hold every agent's acknowledgement for as long as it
// takes; here a worker thread with its own read-only connection answers (WAL lets it read
// while ingest writes; a PostgreSQL store gets a reader's connection of its own), one
// request at a time, at most MAX_QUEUED waiting. A store in memory cannot be shared
// between threads: it is read inline, as tests use it.
import { Worker } from 'node:worker_threads';
import type { AgentView, EdgeDetail, PodCost, PodDetail, Topology } from '../../proto/api.js';
import type { Queries, TimeRange } from '../queries.js';
import type { StoreOptions } from '../store/store.js';

export interface TopologyView {
  topology: Topology;
  costs: PodCost[];
}

export interface Reader {
  /** Why reads fail for good, once they do (the collector's /healthz says so). */
  readonly failure?: Error;
  view(range: TimeRange): Promise<TopologyView>;
  edge(id: string, range: TimeRange, stepMs: number): Promise<EdgeDetail | undefined>;
  pod(namespace: string, name: string, range: TimeRange): Promise<PodDetail | undefined>;
  agents(range: TimeRange): Promise<AgentView[]>;
  close(): Promise<void>;
}

export type ReadRequest =
  | { id: number; method: 'view'; range: TimeRange }
  | { id: number; method: 'edge'; edgeId: string; range: TimeRange; stepMs: number }
  | { id: number; method: 'pod'; namespace: string; name: string; range: TimeRange }
  | { id: number; method: 'agents'; range: TimeRange };

export type ReadReply =
  | { id: number; result: unknown }
  | { id: number; error: { name: string; message: string; statusCode?: number } };

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

const MAX_RESTARTS = 5;

/** Requests waiting for the worker at most; past that the API answers 503. */
export const MAX_QUEUED = 64;

/** Answers a request with `queries` (in the worker, or inline). */
export async function answer(queries: Queries, request: ReadRequest): Promise<unknown> {
  switch (request.method) {
    case 'view': {
      const v = await queries.view(request.range);
      return { topology: v.topology, costs: v.costs } satisfies TopologyView;
    }
    case 'edge':
      return queries.edge(request.edgeId, request.range, request.stepMs);
    case 'pod':
      return queries.pod(request.namespace, request.name, request.range);
    case 'agents':
      return queries.agents(request.range);
  }
}

class Busy extends Error {
  readonly statusCode = 503;
  constructor() {
    super(`${MAX_QUEUED} reads are waiting already; try again shortly`);
    this.name = 'Busy';
  }
}

export class InlineReader implements Reader {
  constructor(private readonly queries: Queries) {}
  async view(range: TimeRange) {
    return (await answer(this.queries, { id: 0, method: 'view', range })) as TopologyView;
  }
  async edge(edgeId: string, range: TimeRange, stepMs: number) {
    return (await answer(this.queries, { id: 0, method: 'edge', edgeId, range, stepMs })) as
      | EdgeDetail
      | undefined;
  }
  async pod(namespace: string, name: string, range: TimeRange) {
    return (await answer(this.queries, { id: 0, method: 'pod', namespace, name, range })) as
      | PodDetail
      | undefined;
  }
  async agents(range: TimeRange) {
    return (await answer(this.queries, { id: 0, method: 'agents', range })) as AgentView[];
  }
  async close() {}
}

/** The worker's module, from source (.ts, loaded through tsx) and from the build (.js). */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './read-worker.ts' : './read-worker.js', import.meta.url);

export class WorkerReader implements Reader {
  private worker: Worker;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private nextId = 1;
  private closing = false;
  /** Workers started after a crash with no answer since: past MAX_RESTARTS, down for good. */
  private restarts = 0;
  /** Why the worker is gone for good: later requests fail at once with it. */
  private gone: Error | undefined;

  get failure(): Error | undefined {
    return this.gone;
  }

  constructor(
    private readonly options: {
      database: string;
      store?: StoreOptions;
      maxRowsPerRequest?: number;
    },
  ) {
    this.worker = this.start();
  }

  private start(): Worker {
    // From source, the worker registers the TypeScript loader itself before loading its
    // module: a worker does not get the loader the CLI or the tests run under.
    const worker = FROM_SOURCE
      ? new Worker(
          `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`,
          { eval: true, workerData: this.options },
        )
      : new Worker(WORKER_URL, { workerData: this.options });
    // It holds nothing that must finish: it never keeps the process alive by itself.
    worker.unref();
    worker.on('message', (reply: ReadReply) => {
      // A worker that answers is a working one: only crashes in a row count to the limit.
      this.restarts = 0;
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if ('error' in reply)
        p.reject(
          Object.assign(new Error(reply.error.message), {
            name: reply.error.name,
            statusCode: reply.error.statusCode,
          }),
        );
      else p.resolve(reply.result);
    });
    let failure: Error | undefined;
    worker.on('error', (error) => {
      failure = error;
    });
    // A worker that dies fails what it held, and another takes its place (a few times).
    worker.on('exit', () => {
      const why = failure ?? new Error('the read worker exited');
      this.failAll(why);
      if (this.closing) return;
      if (++this.restarts > MAX_RESTARTS) {
        this.gone = why;
        console.error(`tollgate collector: the read worker failed for good: ${why.message}`);
        return;
      }
      console.error(`tollgate collector: the read worker failed (${why.message}); restarting it`);
      this.worker = this.start();
    });
    return worker;
  }

  private failAll(error: Error): void {
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  private ask<T>(request: WithoutId<ReadRequest>): Promise<T> {
    if (this.gone) return Promise.reject(this.gone);
    if (this.pending.size >= MAX_QUEUED) return Promise.reject(new Busy());
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...request, id });
    });
  }

  view(range: TimeRange) {
    return this.ask<TopologyView>({ method: 'view', range });
  }
  edge(edgeId: string, range: TimeRange, stepMs: number) {
    return this.ask<EdgeDetail | undefined>({ method: 'edge', edgeId, range, stepMs });
  }
  pod(namespace: string, name: string, range: TimeRange) {
    return this.ask<PodDetail | undefined>({ method: 'pod', namespace, name, range });
  }
  agents(range: TimeRange) {
    return this.ask<AgentView[]>({ method: 'agents', range });
  }
  async close() {
    this.closing = true;
    await this.worker.terminate();
  }
}
