// One collector: the store, gRPC ingest with group commits, periodic rollups, and the
// HTTP API. `tollgate collector` and `tollgate up` both start one of these.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Batch } from '../proto/gen/tollgate/v1.js';
import { collectProcessMetrics } from '../proto/process-metrics.js';
import type { Credentials } from './auth.js';
import { buildHttpApp } from './http/app.js';
import { CommitQueue, type CommitQueueOptions } from './ingest/commit-queue.js';
import { IngestServer, type TlsFiles } from './ingest/grpc-server.js';
import { CumulativeMetrics } from './metrics/cumulative.js';
import { clockStepBack } from './model/batch-interval.js';
import { Queries } from './queries.js';
import { InlineReader, type Reader, WorkerReader } from './read/reader.js';
import { type LoadPolicy, LoadTargets } from './sessions/load-policy.js';
import { SessionManager } from './sessions/session-manager.js';
import type { CollectorStore } from './store/collector-store.js';
import { DEFAULT_BALLAST_BYTES, DiskGuard } from './store/disk-guard.js';
import { openStore } from './store/open-store.js';
import { SqliteCollectorStore } from './store/sqlite-collector-store.js';
import { type StoreOptions, WAL_LIMIT_BYTES } from './store/store.js';

export const DEFAULT_DATA_DIR = join(homedir(), '.tollgate');

/** The built web viewer, from source (collector/) and from the build (dist/collector/). */
export const DEFAULT_WEB_ROOT = fileURLToPath(
  new URL(import.meta.url.includes('/dist/') ? '../../web/dist' : '../web/dist', import.meta.url),
);

export interface CollectorOptions {
  /**
   * Where the store lives: a SQLite file (':memory:' for a throwaway one), or a
   * PostgreSQL URL (postgres://...) for a store shared by several collectors.
   */
  database: string;
  grpc: { host: string; port: number };
  http: { host: string; port: number };
  /** One token per power (auth.ts): ingest for agents, read, and admin for sessions. */
  credentials?: Credentials;
  tls?: TlsFiles;
  /** Where and how much load sessions may order (sessions/load-policy.ts). */
  loadPolicy?: LoadPolicy;
  store?: StoreOptions;
  maxMessageBytes?: number;
  /** Each batch once it is stored, as the agent sent it (embedders, and tests that read what agents ship). */
  onStored?: (batch: Batch) => void;
  /**
   * Host names the HTTP side answers to besides IP addresses and localhost (a Service or
   * ingress name); '*' for any. Requests from other sites' pages are refused whatever.
   */
  allowedHosts?: string[];
  /** Bytes of ballast beside the database, released when the disk fills (disk-guard.ts). */
  ballastBytes?: number;
  /** The commit queue's bounds (by batches and by bytes) before agents are paused. */
  queue?: CommitQueueOptions;
  webRoot?: string;
  maintainEveryMs?: number;
  liveIntervalMs?: number;
  liveWindowMs?: number;
  /** How long a session's stop waits for the agents' last data (default 15 s). */
  sessionFinishTimeoutMs?: number;
}

export class Collector {
  private constructor(
    readonly store: CollectorStore,
    readonly queue: CommitQueue,
    readonly ingest: IngestServer,
    readonly http: FastifyInstance,
    readonly httpUrl: string,
    readonly queries: Queries,
    readonly sessions: SessionManager,
    private readonly stopMaintenance: () => Promise<void>,
    private readonly reader: Reader,
    private readonly stopProcessMetrics: () => void,
  ) {}

  get grpcAddress(): string {
    return `127.0.0.1:${this.ingest.port}`;
  }

  static async start(options: CollectorOptions): Promise<Collector> {
    // A malformed allow-list fails here, before anything is opened or listening.
    new LoadTargets(options.loadPolicy?.targets);
    // The log is kept to a quarter of the ballast, which must cover a checkpoint on a
    // full disk (sqlite-file.ts): a smaller log may be asked for, never a larger one.
    const walBytes = Math.min(
      options.store?.walBytes ?? WAL_LIMIT_BYTES,
      Math.floor((options.ballastBytes ?? DEFAULT_BALLAST_BYTES) / 4),
    );
    const { store, setAside } = await openStore(options.database, {
      ...options.store,
      walBytes,
    });
    // The disk guard and the log's truncation are a SQLite file's: not a store in memory's,
    // nor PostgreSQL's (its server minds its own disk).
    const file =
      store instanceof SqliteCollectorStore && options.database !== ':memory:'
        ? store.file
        : undefined;
    if (setAside)
      console.error(
        `tollgate collector: ERROR: the store ${options.database} is damaged (${setAside.reason}); ` +
          `moved aside, untouched, to ${setAside.path}, and started with an empty store`,
      );
    const queue = new CommitQueue(store, options.queue);
    const metrics = new CumulativeMetrics();
    const registry = new Registry();
    const stopProcessMetrics = collectProcessMetrics(registry, 'tollgate_collector_');
    const batches = new Counter({
      name: 'tollgate_collector_batches_total',
      help: 'Batches received from agents, by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    });
    const clockSteps = new Counter({
      name: 'tollgate_collector_clock_step_batches_total',
      help: "Batches whose interval ended before it started (an agent's clock stepped back), stored at their end",
      registers: [registry],
    });
    const queries = new Queries(store);
    const guard =
      file === undefined
        ? undefined
        : new DiskGuard({
            path: `${options.database}.ballast`,
            bytes: options.ballastBytes,
            freeInDatabase: () => file.freeBytes(),
            onChange: (full, why) =>
              console.error(`tollgate collector: ${full ? 'ERROR: ' : ''}${why}`),
          });
    new Gauge({
      name: 'tollgate_collector_store_set_aside',
      help: 'Whether the store file was found damaged at start and moved aside (1), its data not served',
      registers: [registry],
      collect() {
        this.set(setAside ? 1 : 0);
      },
    });
    new Gauge({
      name: 'tollgate_collector_disk_full',
      help: "1 while the collector's disk is full and batches are refused (they wait in the agents' spools)",
      registers: [registry],
      collect() {
        this.set(guard?.isFull ? 1 : 0);
      },
    });
    // A count that only grows is a counter: advanced at each scrape by the episodes since.
    let episodesCounted = 0;
    new Counter({
      name: 'tollgate_collector_disk_full_episodes_total',
      help: 'Times the disk was found full since the collector started',
      registers: [registry],
      collect() {
        const episodes = guard?.episodes ?? 0;
        if (episodes > episodesCounted) this.inc(episodes - episodesCounted);
        episodesCounted = episodes;
      },
    });
    let ingest: IngestServer | undefined;
    let sessions: SessionManager | undefined;
    new Gauge({
      name: 'tollgate_collector_agents_connected',
      help: 'Agent streams open now',
      registers: [registry],
      collect() {
        this.set(ingest?.connected ?? 0);
      },
    });
    new Gauge({
      name: 'tollgate_collector_commit_queue_depth',
      help: 'Batches waiting for their transaction',
      registers: [registry],
      collect() {
        this.set(queue.depth);
      },
    });
    new Gauge({
      name: 'tollgate_collector_commit_queue_bytes',
      help: 'Bytes of the batches waiting for their transaction, as they came',
      registers: [registry],
      collect() {
        this.set(queue.depthBytes);
      },
    });
    // A count that only grows is a counter: advanced at each scrape by what came since.
    let evictedCounted = 0;
    new Counter({
      name: 'tollgate_collector_join_tuples_evicted_total',
      help: "Connection tuples dropped from the join's memory (its bound) while their other end could still come: those ends are joined by address",
      registers: [registry],
      collect() {
        const evicted = store.tuplesEvicted;
        if (evicted > evictedCounted) this.inc(evicted - evictedCounted);
        evictedCounted = evicted;
      },
    });
    let reader: Reader | undefined;
    let http: FastifyInstance | undefined;
    let httpUrl: string;
    try {
      ingest = await IngestServer.start({
        host: options.grpc.host,
        port: options.grpc.port,
        store,
        queue,
        token: options.credentials?.ingest,
        tls: options.tls,
        maxMessageBytes: options.maxMessageBytes,
        admit: () => guard?.refusal(),
        onStoreError: (error) => guard?.noteFailure(error),
        onBatch: (outcome, _error, batch) => {
          batches.inc({ outcome });
          if (outcome === 'stored' && batch && clockStepBack(batch)) clockSteps.inc();
          if (outcome === 'stored' && batch) {
            metrics.add(batch);
            options.onStored?.(batch);
          }
          if (outcome !== 'rejected' && batch)
            sessions?.noteDelivered(batch.agentId, batch.intervalEndUnixMs);
        },
      });
      sessions = await SessionManager.open({
        store,
        queries,
        agents: ingest,
        finishTimeoutMs: options.sessionFinishTimeoutMs,
        loadPolicy: options.loadPolicy,
      });
      const reads: Reader =
        options.database === ':memory:'
          ? new InlineReader(queries)
          : new WorkerReader({ database: options.database, store: options.store });
      reader = reads;
      http = await buildHttpApp({
        reader: reads,
        // Reads that fail for good (the read worker crashing in a row) make it unhealthy.
        healthy: () => reads.failure === undefined,
        sessions,
        metrics,
        registry,
        credentials: options.credentials,
        webRoot: options.webRoot ?? DEFAULT_WEB_ROOT,
        liveIntervalMs: options.liveIntervalMs,
        liveWindowMs: options.liveWindowMs,
        allowedHosts: options.allowedHosts,
      });
      httpUrl = await http.listen({ host: options.http.host, port: options.http.port });
    } catch (error) {
      // A port taken, the store unreachable for the sessions: undo what was started, then
      // say why (a process left with its ingest up and no API would look alive).
      stopProcessMetrics();
      await sessions?.close();
      await ingest?.stop();
      await http?.close();
      await reader?.close();
      await store.close();
      throw error;
    }
    const maintain = async () => {
      try {
        await store.maintain();
      } catch (error) {
        guard?.noteFailure(error);
        console.error(`tollgate collector: maintenance failed: ${(error as Error).message}`);
      }
      try {
        // On a full disk the log's own space is worth having back once retention ran.
        if (guard?.isFull) file?.truncateLog();
        guard?.check();
      } catch (error) {
        console.error(`tollgate collector: disk check failed: ${(error as Error).message}`);
      }
    };
    // One pass at a time: a tick that comes while a pass runs (a long rollup, a slow
    // server) is skipped, not queued behind it.
    let pass: Promise<void> | undefined;
    const timer = setInterval(() => {
      pass ??= maintain().finally(() => {
        pass = undefined;
      });
    }, options.maintainEveryMs ?? 10_000);
    timer.unref();
    const stopMaintenance = async () => {
      clearInterval(timer);
      await pass;
    };
    return new Collector(
      store,
      queue,
      ingest,
      http,
      httpUrl,
      queries,
      sessions,
      stopMaintenance,
      reader,
      stopProcessMetrics,
    );
  }

  async stop(): Promise<void> {
    const maintained = this.stopMaintenance();
    this.stopProcessMetrics();
    await this.sessions.close();
    await this.ingest.stop();
    // The batches already taken are committed (and acknowledged) before the store closes,
    // and so is the maintenance pass under way.
    await this.queue.flush();
    await this.http.close();
    await this.reader.close();
    await maintained;
    await this.store.close();
  }
}
