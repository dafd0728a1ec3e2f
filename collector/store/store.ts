// The collector's SQLite store. Writes come in groups of batches, each group one
// transaction, so a batch is either wholly visible or not at all, whatever kills the
// process. Reads merge time-bucketed rows over any range (see tiers.ts, aggregate.ts).
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { WIRE_COUNTERS } from '../../proto/edge-metrics.js';
import type {
  AgentCost,
  Batch,
  EdgeReport,
  HopReport,
  ProcessIdentity,
  ResourceSample,
} from '../../proto/gen/tollgate/v1.js';
import { HOP_REPORT_COUNTERS } from '../../proto/hop-metrics.js';
import { clockStepBack } from '../model/batch-interval.js';
import { processId, tupleScope } from '../model/ids.js';
import type { PeerNameRecord } from '../model/topology.js';
import { type Aggregate, addAggregate, addRow, emptyAggregate, type Row } from './aggregate.js';
import { addEncoded, encodeHistogram } from './histogram-blob.js';
import { migrate } from './schema.js';
import { columns, METHOD_CODE, SERIES, type SeriesKind, seriesKind, tableName } from './series.js';
import { SessionRows } from './session-rows.js';
import { bucketStart, planRange, type RetentionOptions, type Tier, tiers } from './tiers.js';

export interface StoreOptions {
  retention?: RetentionOptions;
  /** How long after a bucket ends before it is rolled up (late batches still land). */
  rollupGraceMs?: number;
  /**
   * Rollup time one `maintain` may spend before it leaves the rest to the next call (ms;
   * each tier still rolls at least one chunk of ROLLUP_CHUNK_BUCKETS buckets).
   */
  rollupBudgetMs?: number;
  /** How long a batch's identity is remembered to drop its replays. */
  dedupeMs?: number;
  /** SQLite's synchronous setting: FULL (default) survives power loss; NORMAL is faster. */
  synchronous?: 'FULL' | 'NORMAL';
}

export type CommitStatus = 'stored' | 'duplicate';

/** Rows one request may read, counted down as they are; see RangeTooLarge. */
export interface ReadBudget {
  rows: number;
  /** What the budget was, for the refusal's message. */
  limit?: number;
}

/** A request would read more rows than its budget: it is refused, not served slowly. */
export class RangeTooLarge extends Error {
  readonly statusCode = 422;
  constructor(limit: number) {
    super(
      `this range needs more than ${limit} stored rows at its resolution; ask for a shorter range or a coarser step`,
    );
    this.name = 'RangeTooLarge';
  }
}

function spend(budget: ReadBudget | undefined, rows = 1): void {
  if (budget === undefined) return;
  budget.rows -= rows;
  if (budget.rows < 0) throw new RangeTooLarge(budget.limit ?? 0);
}

/** The write-ahead log's size after a checkpoint. */
export const WAL_LIMIT_BYTES = 2 ** 20;

/** Buckets of the target tier one rollup pass folds (their aggregates are held in memory). */
export const ROLLUP_CHUNK_BUCKETS = 10;

/** Rows deleted per transaction by retention. */
const PRUNE_CHUNK = 2000;

export const SIDE_CODE = { CONNECTION_SIDE_CLIENT: 1, CONNECTION_SIDE_SERVER: 2 } as const;
export const DIRECTION_CODE = { DIRECTION_INBOUND: 1, DIRECTION_OUTBOUND: 2 } as const;

export interface EndInfo {
  id: number;
  process: number;
  side: 'client' | 'server';
  localAddress: string;
  remoteAddress: string;
  port: number;
}

export interface ProcessInfo {
  id: number;
  key: string;
  node: string;
  identity: ProcessIdentity;
  firstSeenMs: number;
  lastSeenMs: number;
}

export interface AgentInfo {
  id: number;
  agentId: string;
  node: string;
  bootId: string;
  version: string;
  nodeInfo: unknown;
  /** The agent's latest AgentCost, as it sent it. */
  cost: AgentCost | null;
  firstSeenMs: number;
  lastSeenMs: number;
}

/** How far apart the two ends' sightings of one connection may be and still join. */
const TUPLE_WINDOW_MS = 60_000;

export class Store {
  readonly tiers: readonly Tier[];
  /** Profiling sessions and their agents' load reports. */
  readonly sessions: SessionRows;
  private readonly db: Database.Database;
  private readonly graceMs: number;
  private readonly rollupBudgetMs: number;
  private readonly dedupeMs: number;
  private readonly statements: ReturnType<Store['prepare']>;
  private readonly insertRaw = new Map<string, Database.Statement>();
  private readonly rolledTo = new Map<Tier['name'], number>();
  /** Statements whose text is built at run time (per table, per list length), prepared once. */
  private readonly prepared = new Map<string, Database.Statement>();

  private constructor(db: Database.Database, options: StoreOptions) {
    this.db = db;
    this.tiers = tiers(options.retention);
    this.graceMs = options.rollupGraceMs ?? 10_000;
    this.rollupBudgetMs = options.rollupBudgetMs ?? 250;
    this.dedupeMs = options.dedupeMs ?? 24 * 3_600_000;
    migrate(db, this.tiers);
    this.statements = this.prepare();
    this.sessions = new SessionRows(db);
    for (const kind of SERIES) {
      const cols = ['bucket_ms', 'sid', ...columns(kind)];
      this.insertRaw.set(
        kind.name,
        db.prepare(
          `INSERT INTO ${tableName(kind, 'raw')} (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`,
        ),
      );
    }
    this.refreshRollups();
  }

  /**
   * Opens a store, and when the file is not a database or is damaged where opening reads
   * (header, schema), moves it and its log aside, untouched, and starts an empty one: a
   * collector that will not start loses every agent's data from then on, one that starts
   * empty loses only what the damaged file held. `setAside` says where it went.
   */
  static openOrSetAside(
    path: string,
    options: StoreOptions = {},
    nowMs = Date.now(),
  ): { store: Store; setAside?: { path: string; reason: string } } {
    try {
      return { store: Store.open(path, options) };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (path === ':memory:' || !(code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT'))
        throw error;
      const aside = `${path}.corrupt-${new Date(nowMs).toISOString().replace(/[:.]/g, '-')}`;
      for (const suffix of ['', '-wal', '-shm'])
        if (existsSync(path + suffix)) renameSync(path + suffix, aside + suffix);
      return {
        store: Store.open(path, options),
        setAside: { path: aside, reason: (error as Error).message },
      };
    }
  }

  /**
   * A second, read-only connection to a store another connection writes: for reading off
   * the ingest thread. WAL lets it read while the writer writes; it never blocks it.
   */
  static openReader(path: string, options: StoreOptions = {}): Store {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      return new Store(db, options);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** Reads again how far each tier is rolled up (a reader's view of the writer's work). */
  refreshRollups(): void {
    this.rolledTo.clear();
    for (const row of this.sql('SELECT tier, rolled_to_ms FROM rollups').all() as {
      tier: Tier['name'];
      rolled_to_ms: number;
    }[])
      this.rolledTo.set(row.tier, row.rolled_to_ms);
  }

  /** Opens (creating if needed) a store at `path`, or in memory for ':memory:'. */
  static open(path: string, options: StoreOptions = {}): Store {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
      return Store.configure(db, options);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  private static configure(db: Database.Database, options: StoreOptions): Store {
    // WAL: readers (the API) never block the writer (ingest). FULL: each commit's log is
    // synced before the commit returns, so a batch acknowledged survives a power cut
    // (NORMAL would sync only at checkpoints and could lose the last commits). The cost is
    // one fsync per group commit, not per batch (README, "Reliability and security").
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    // A small log, checkpointed at 1 MiB and cut back to it after a big transaction: on a
    // full disk a checkpoint may have to grow the database by what the log holds, and the
    // ballast (disk-guard.ts) must cover that.
    db.pragma('wal_autocheckpoint = 256');
    db.pragma(`journal_size_limit = ${WAL_LIMIT_BYTES}`);
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    return new Store(db, options);
  }

  close(): void {
    this.db.close();
  }

  private prepare() {
    const db = this.db;
    return {
      isStored: db.prepare(
        'SELECT 1 FROM batches WHERE agent_id = ? AND boot_id = ? AND sequence = ?',
      ),
      insertBatch: db.prepare(
        'INSERT INTO batches (agent_id, boot_id, sequence, stored_ms, interval_end_ms, records) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      upsertAgent: db.prepare(
        `INSERT INTO agents (agent_id, node, boot_id, version, node_info, cost, first_seen_ms, last_seen_ms)
         VALUES (@agentId, @node, @bootId, @version, @nodeInfo, @cost, @now, @now)
         ON CONFLICT (agent_id) DO UPDATE SET node = @node, boot_id = @bootId,
           version = CASE WHEN @version = '' THEN version ELSE @version END,
           node_info = CASE WHEN @nodeInfo = '{}' THEN node_info ELSE @nodeInfo END,
           cost = COALESCE(@cost, cost), last_seen_ms = @now
         RETURNING id`,
      ),
      upsertProcess: db.prepare(
        `INSERT INTO processes (key, node, pid, start_ticks, identity, first_seen_ms, last_seen_ms)
         VALUES (@key, @node, @pid, @start, @identity, @seen, @seen)
         ON CONFLICT (key) DO UPDATE SET identity = @identity,
           last_seen_ms = MAX(last_seen_ms, @seen), first_seen_ms = MIN(first_seen_ms, @seen)
         RETURNING id`,
      ),
      upsertEnd: db.prepare(
        `INSERT INTO ends (process, side, local_addr, remote_addr, port, last_seen_ms)
         VALUES (@process, @side, @local, @remote, @port, @seen)
         ON CONFLICT (process, side, local_addr, remote_addr, port)
           DO UPDATE SET last_seen_ms = MAX(last_seen_ms, @seen)
         RETURNING id`,
      ),
      upsertHopSeries: db.prepare(
        `INSERT INTO hop_series (process, direction) VALUES (?, ?)
         ON CONFLICT (process, direction) DO UPDATE SET direction = direction RETURNING id`,
      ),
      resourceLast: db.prepare('SELECT cpu_ns, sample_ms FROM resource_last WHERE process = ?'),
      setResourceLast: db.prepare(
        `INSERT INTO resource_last (process, cpu_ns, sample_ms) VALUES (?, ?, ?)
         ON CONFLICT (process) DO UPDATE SET cpu_ns = excluded.cpu_ns, sample_ms = excluded.sample_ms`,
      ),
      agentLast: db.prepare(
        'SELECT boot_id, agent_cpu_ns, runner_cpu_ns FROM agent_last WHERE agent = ?',
      ),
      setAgentLast: db.prepare(
        `INSERT INTO agent_last (agent, boot_id, agent_cpu_ns, runner_cpu_ns) VALUES (?, ?, ?, ?)
         ON CONFLICT (agent) DO UPDATE SET boot_id = excluded.boot_id,
           agent_cpu_ns = excluded.agent_cpu_ns, runner_cpu_ns = excluded.runner_cpu_ns`,
      ),
      upsertTuple: db.prepare(
        `INSERT INTO tuples (scope, address, port, client_isn, side, end_id, seen_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (scope, address, port, client_isn, side) DO UPDATE SET
           end_id = excluded.end_id, seen_ms = excluded.seen_ms`,
      ),
      findTuple: db.prepare(
        `SELECT end_id, seen_ms FROM tuples
         WHERE scope = ? AND address = ? AND port = ? AND client_isn = ? AND side = ?`,
      ),
      upsertLink: db.prepare(
        `INSERT INTO links (client_end, server_end, first_seen_ms, last_seen_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (client_end, server_end) DO UPDATE SET
           last_seen_ms = MAX(last_seen_ms, excluded.last_seen_ms)`,
      ),
      setRolledTo: db.prepare(
        `INSERT INTO rollups (tier, rolled_to_ms) VALUES (?, ?)
         ON CONFLICT (tier) DO UPDATE SET rolled_to_ms = excluded.rolled_to_ms`,
      ),
    };
  }

  private sql(text: string): Database.Statement {
    let statement = this.prepared.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.prepared.set(text, statement);
    }
    return statement;
  }

  /** Was this batch stored before? */
  isStored(batch: Pick<Batch, 'agentId' | 'bootId' | 'sequence'>): boolean {
    return this.statements.isStored.get(batch.agentId, batch.bootId, batch.sequence) !== undefined;
  }

  /**
   * Stores a group of validated batches in one transaction and says, for each, whether
   * it was stored now or before. Nothing of the group is visible until all of it is.
   */
  commit(batches: readonly Batch[], nowMs = Date.now()): CommitStatus[] {
    return this.db.transaction(() =>
      batches.map((batch): CommitStatus => {
        if (this.isStored(batch)) return 'duplicate';
        this.writeBatch(batch, nowMs);
        return 'stored';
      }),
    )();
  }

  private writeBatch(batch: Batch, nowMs: number): void {
    const s = this.statements;
    this.sessions.addLoadReports(batch);
    const seen = batch.intervalEndUnixMs || nowMs;
    // Rows are keyed by the interval's start; one that ends before it starts (the agent's
    // clock stepped back) is kept at its end, on the clock its next intervals follow.
    const start = clockStepBack(batch) ? seen : batch.intervalStartUnixMs || seen;
    const bucket = bucketStart(start, 1000);
    const cost = batch.agentCost;
    const agent = (
      s.upsertAgent.get({
        agentId: batch.agentId,
        node: batch.node,
        bootId: batch.bootId,
        version: '',
        nodeInfo: '{}',
        cost: cost ? JSON.stringify(cost) : null,
        now: nowMs,
      }) as { id: number }
    ).id;

    const processes = new Map<string, { id: number; identity: ProcessIdentity }>();
    for (const identity of batch.processes) {
      const key = processId(batch.node, identity.ref);
      const row = s.upsertProcess.get({
        key,
        node: batch.node,
        pid: identity.ref?.pid ?? 0,
        start: identity.ref?.startTimeTicks ?? 0,
        identity: JSON.stringify(identity),
        seen,
      }) as { id: number };
      processes.set(key, { id: row.id, identity });
    }
    const processOf = (ref: ProcessIdentity['ref']) => {
      const found = processes.get(processId(batch.node, ref));
      if (!found) throw new Error(`batch refers to process ${ref?.pid} it does not describe`);
      return found;
    };

    for (const peer of batch.peers)
      this.sql(
        // Every batch repeats its peers (batches are self-contained); only a changed name
        // is written, and seen_ms says since when the address has had it.
        `INSERT INTO peer_names (address, kind, namespace, name, seen_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (address) DO UPDATE SET kind = excluded.kind, namespace = excluded.namespace,
           name = excluded.name, seen_ms = excluded.seen_ms
         WHERE (kind, namespace, name) IS NOT (excluded.kind, excluded.namespace, excluded.name)`,
      ).run(
        peer.address,
        peer.kind === 'PEER_KIND_SERVICE' ? 'service' : 'pod',
        peer.namespace,
        peer.name,
        seen,
      );
    for (const edge of batch.edges)
      this.writeEdge(batch, edge, processOf(edge.process), bucket, seen);
    for (const hop of batch.hops) this.writeHop(hop, processOf(hop.process).id, bucket);
    for (const sample of batch.resources)
      this.writeResource(sample, processOf(sample.process).id, bucket, seen);
    if (cost) {
      const last = s.agentLast.get(agent) as
        | { boot_id: string; agent_cpu_ns: number; runner_cpu_ns: number }
        | undefined;
      const sameBoot = last?.boot_id === batch.bootId;
      this.writeSeries('agent', agent, bucket, {
        agent_cpu_ns: Math.max(
          0,
          cost.agentCpuNs - (sameBoot ? last.agent_cpu_ns : cost.agentCpuNs),
        ),
        runner_cpu_ns: Math.max(
          0,
          cost.runnerCpuNs - (sameBoot ? last.runner_cpu_ns : cost.runnerCpuNs),
        ),
        agent_rss_bytes_sum: cost.agentRssBytes,
        runner_rss_bytes_sum: cost.runnerRssBytes,
        samples: 1,
        agent_rss_bytes_max: cost.agentRssBytes,
        runner_rss_bytes_max: cost.runnerRssBytes,
      });
      s.setAgentLast.run(agent, batch.bootId, cost.agentCpuNs, cost.runnerCpuNs);
    }
    s.insertBatch.run(
      batch.agentId,
      batch.bootId,
      batch.sequence,
      nowMs,
      seen,
      batch.edges.length + batch.hops.length + batch.resources.length,
    );
  }

  private writeEdge(
    batch: Batch,
    edge: EdgeReport,
    process: { id: number; identity: ProcessIdentity },
    bucket: number,
    seen: number,
  ): void {
    const s = this.statements;
    const side = SIDE_CODE[edge.side as keyof typeof SIDE_CODE];
    const client = side === SIDE_CODE.CONNECTION_SIDE_CLIENT;
    const endId = (
      s.upsertEnd.get({
        process: process.id,
        side,
        local: edge.local?.address ?? '',
        remote: edge.remote?.address ?? '',
        // The service port: what the client dialed, or what the server listens on.
        port: client ? (edge.remote?.port ?? 0) : (edge.local?.port ?? 0),
        seen,
      }) as { id: number }
    ).id;
    const row: Row = {
      ...Object.fromEntries(WIRE_COUNTERS.map((m) => [m.name, edge[m.ts]])),
      connect_latency: encodeHistogram(edge.connectLatency),
      exchange_latency: encodeHistogram(edge.exchangeLatency),
      srtt: encodeHistogram(edge.srtt),
    };
    this.writeSeries('end', endId, bucket, row);

    // Join the two ends of each sampled connection on the client's (address, port) and
    // initial sequence number: one ephemeral port can serve two destinations at once.
    const other = client ? SIDE_CODE.CONNECTION_SIDE_SERVER : SIDE_CODE.CONNECTION_SIDE_CLIENT;
    for (const tuple of edge.connections) {
      const address = tuple.client?.address ?? '';
      const port = tuple.client?.port ?? 0;
      if (!address || !port) continue;
      const scope = tupleScope(address, batch.node, process.identity.netnsInode);
      const isn = tuple.clientIsn;
      s.upsertTuple.run(scope, address, port, isn, side, endId, seen);
      const match = s.findTuple.get(scope, address, port, isn, other) as
        | { end_id: number; seen_ms: number }
        | undefined;
      if (!match || Math.abs(match.seen_ms - seen) > TUPLE_WINDOW_MS) continue;
      const [clientEnd, serverEnd] = client ? [endId, match.end_id] : [match.end_id, endId];
      s.upsertLink.run(clientEnd, serverEnd, seen, seen);
    }
  }

  private writeHop(hop: HopReport, process: number, bucket: number): void {
    const direction = DIRECTION_CODE[hop.direction as keyof typeof DIRECTION_CODE];
    const sid = (this.statements.upsertHopSeries.get(process, direction) as { id: number }).id;
    this.writeSeries('hop', sid, bucket, {
      ...Object.fromEntries(HOP_REPORT_COUNTERS.map((c) => [c.name, hop[c.ts]])),
      method: METHOD_CODE[hop.method],
      request_hop: encodeHistogram(hop.requestHop),
      response_hop: encodeHistogram(hop.responseHop),
      added: encodeHistogram(hop.added),
    });
  }

  private writeResource(sample: ResourceSample, process: number, bucket: number, seen: number) {
    const s = this.statements;
    const cpu = sample.cpuUserNs + sample.cpuSystemNs;
    const last = s.resourceLast.get(process) as { cpu_ns: number; sample_ms: number } | undefined;
    // Samples are cumulative: the interval's share is the difference from the previous
    // one. A replayed older sample adds nothing and does not move the baseline back.
    const replayed = last !== undefined && seen <= last.sample_ms;
    this.writeSeries('resource', process, bucket, {
      cpu_ns: last && !replayed ? Math.max(0, cpu - last.cpu_ns) : 0,
      rss_bytes_sum: sample.rssBytes,
      samples: 1,
      rss_bytes_max: sample.rssBytes,
    });
    if (!replayed) s.setResourceLast.run(process, cpu, seen);
  }

  /** A raw row, and for a late batch also the rollups its bucket was already rolled into. */
  private writeSeries(name: SeriesKind['name'], sid: number, bucket: number, row: Row): void {
    const kind = seriesKind(name);
    this.insertRaw.get(name)!.run({ bucket_ms: bucket, sid, ...row });
    for (const tier of this.tiers.slice(1)) {
      if (bucket >= (this.rolledTo.get(tier.name) ?? 0)) continue;
      const aggregate = emptyAggregate(kind);
      addRow(kind, aggregate, row);
      this.mergeInto(kind, tier, bucketStart(bucket, tier.bucketMs), sid, aggregate);
    }
  }

  private mergeInto(kind: SeriesKind, tier: Tier, bucket: number, sid: number, add: Aggregate) {
    const table = tableName(kind, tier.name);
    const existing = this.sql(`SELECT * FROM ${table} WHERE bucket_ms = ? AND sid = ?`).get(
      bucket,
      sid,
    ) as Row | undefined;
    const merged = emptyAggregate(kind);
    if (existing) addRow(kind, merged, existing);
    addAggregate(kind, merged, add);
    const cols = columns(kind);
    this.sql(
      `INSERT OR REPLACE INTO ${table} (bucket_ms, sid, ${cols.join(', ')}) VALUES (?, ?, ${cols.map(() => '?').join(', ')})`,
    ).run(bucket, sid, ...aggregateValues(kind, merged));
  }

  /**
   * Rolls finished buckets up into the coarser tiers, then deletes what is past retention.
   * Two transactions: when the rollup cannot be written (a full disk), what is past
   * retention is still deleted, which is what makes room again. Cheap to call often.
   */
  maintain(nowMs = Date.now()): void {
    let failure: unknown;
    try {
      this.db.transaction(() => {
        const started = performance.now();
        for (let i = 1; i < this.tiers.length; i++)
          this.rollup(this.tiers[i - 1]!, this.tiers[i]!, nowMs, started);
      })();
    } catch (error) {
      // The rolled-up marks moved with the transaction that failed: take them back.
      this.refreshRollups();
      failure = error;
    }
    this.prune(nowMs);
    if (failure !== undefined) throw failure;
  }

  /** Bytes of free pages inside the database file: room for rows without growing it. */
  freeBytes(): number {
    const pages = this.db.pragma('freelist_count', { simple: true }) as number;
    const size = this.db.pragma('page_size', { simple: true }) as number;
    return pages * size;
  }

  /**
   * Deletes what is past retention. The bulk (series rows, remembered batches) goes in
   * transactions of at most PRUNE_CHUNK rows: each writes a bounded log, so deleting works
   * on a nearly full disk, and no one transaction holds the writer for long.
   */
  private prune(nowMs: number): void {
    this.tiers.forEach((tier, i) => {
      // Never rows the next tier has not rolled up yet (it may be catching up): they
      // would be gone from every tier.
      const next = this.tiers[i + 1];
      const rolled = next ? (this.rolledTo.get(next.name) ?? Number.NEGATIVE_INFINITY) : Infinity;
      const before = Math.min(nowMs - tier.retentionMs, rolled);
      for (const kind of SERIES)
        this.deleteInChunks(tableName(kind, tier.name), 'bucket_ms, sid', 'bucket_ms < ?', [
          before,
        ]);
    });
    this.deleteInChunks('batches', 'agent_id, boot_id, sequence', 'stored_ms < ?', [
      nowMs - this.dedupeMs,
    ]);
    const oldest = nowMs - this.tiers[this.tiers.length - 1]!.retentionMs;
    this.db.transaction(() => {
      this.sql('DELETE FROM tuples WHERE seen_ms < ?').run(nowMs - 10 * TUPLE_WINDOW_MS);
      this.sql('DELETE FROM links WHERE last_seen_ms < ?').run(oldest);
      // What describes rows that are all past retention goes with them: connection ends,
      // processes (their identity, command line included) with their hop series and last
      // CPU sample, and names of addresses not seen since. Nothing kept forever.
      this.sql('DELETE FROM ends WHERE last_seen_ms < ?').run(oldest);
      const gone = 'SELECT id FROM processes WHERE last_seen_ms < ?';
      this.sql(`DELETE FROM hop_series WHERE process IN (${gone})`).run(oldest);
      this.sql(`DELETE FROM resource_last WHERE process IN (${gone})`).run(oldest);
      this.sql(
        'DELETE FROM processes WHERE last_seen_ms < ? AND id NOT IN (SELECT process FROM ends)',
      ).run(oldest);
      this.sql('DELETE FROM peer_names WHERE seen_ms < ?').run(oldest);
    })();
  }

  private deleteInChunks(table: string, key: string, where: string, params: unknown[]): void {
    const statement = this.sql(
      `DELETE FROM ${table} WHERE (${key}) IN (SELECT ${key} FROM ${table} WHERE ${where} LIMIT ${PRUNE_CHUNK})`,
    );
    for (;;) {
      const { changes } = this.db.transaction(() => statement.run(...params))();
      if (changes < PRUNE_CHUNK) return;
    }
  }

  /** Moves the write-ahead log into the database and empties it, giving its space back. */
  truncateLog(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  private rollup(source: Tier, target: Tier, nowMs: number, started: number): void {
    // A tier never rolls past what its source holds whole: raw rows up to the grace, a
    // rollup up to where it was itself rolled (it may be catching up, below).
    const boundary = bucketStart(
      Math.min(
        nowMs - this.graceMs,
        source.name === 'raw' ? Number.POSITIVE_INFINITY : (this.rolledTo.get(source.name) ?? 0),
      ),
      target.bucketMs,
    );
    let from = this.rolledTo.get(target.name);
    if (from === undefined) {
      // First rollup: start at the oldest data there is.
      let oldest = boundary;
      for (const kind of SERIES) {
        const row = this.sql(
          `SELECT MIN(bucket_ms) AS b FROM ${tableName(kind, source.name)}`,
        ).get() as { b: number | null };
        if (row.b !== null) oldest = Math.min(oldest, bucketStart(row.b, target.bucketMs));
      }
      from = oldest;
    }
    if (boundary <= from) {
      this.setRolledTo(target, from);
      return;
    }
    // A few buckets at a time, and on to the next tier once this call's time is spent:
    // a tier far behind (a store from before it existed, whose first rollup starts at
    // its source's oldest row, days back; a collector that was down) catches up over
    // calls, holding a few buckets of aggregates in memory and the writer for a bounded
    // time, rather than all of it at once.
    for (let chunk = from; chunk < boundary; ) {
      const end = Math.min(boundary, chunk + ROLLUP_CHUNK_BUCKETS * target.bucketMs);
      for (const kind of SERIES) {
        const groups = new Map<string, { bucket: number; sid: number; aggregate: Aggregate }>();
        this.fold(kind, source.name, chunk, end, target.bucketMs, (bucket, sid) => {
          const key = `${bucket}/${sid}`;
          let group = groups.get(key);
          if (!group) {
            group = { bucket, sid, aggregate: emptyAggregate(kind) };
            groups.set(key, group);
          }
          return group.aggregate;
        });
        for (const g of groups.values()) this.mergeInto(kind, target, g.bucket, g.sid, g.aggregate);
      }
      this.setRolledTo(target, end);
      chunk = end;
      if (performance.now() - started > this.rollupBudgetMs) break;
    }
  }

  private setRolledTo(tier: Tier, ms: number): void {
    this.rolledTo.set(tier.name, ms);
    this.statements.setRolledTo.run(tier.name, ms);
  }

  /**
   * Every series of a kind merged over [fromMs, toMs), by series id. The merge is the
   * same whichever tiers answer (planRange), so the coarsest answers every whole bucket
   * of its inside the range: a day is 23 or 24 hour rows per series and its ragged ends,
   * not 1,440 minute rows (and with 1 s reports, an hour was 3,600 rows per series: over
   * the read budget at a few thousand series).
   */
  read(
    name: SeriesKind['name'],
    fromMs: number,
    toMs: number,
    nowMs = Date.now(),
    budget?: ReadBudget,
  ) {
    const kind = seriesKind(name);
    const out = new Map<number, Aggregate>();
    const spans = planRange(fromMs, toMs, nowMs, this.tiers, this.rolledTo, toMs - fromMs);
    const seriesOf = (_bucket: number, sid: number) => {
      let aggregate = out.get(sid);
      if (!aggregate) {
        aggregate = emptyAggregate(kind);
        out.set(sid, aggregate);
      }
      return aggregate;
    };
    for (const span of spans)
      this.fold(kind, span.tier.name, span.fromMs, span.toMs, null, seriesOf, budget);
    return out;
  }

  /**
   * Folds one tier's rows in [fromMs, toMs) into the aggregate `into` gives for each
   * series, or for each series and bucket of `groupMs` (a rollup). SQLite sums the
   * counters and takes the peaks per group, and only the histograms' bytes come out row
   * by row, as arrays: a row made into an object of every column was most of the cost
   * of a long window's read and of a rollup.
   */
  private fold(
    kind: SeriesKind,
    tier: Tier['name'],
    fromMs: number,
    toMs: number,
    groupMs: number | null,
    into: (bucket: number, sid: number) => Aggregate,
    budget?: ReadBudget,
  ): void {
    const table = tableName(kind, tier);
    const bucket = groupMs === null ? '0' : `(bucket_ms / ${groupMs}) * ${groupMs}`;
    const totals = this.sql(
      `SELECT ${bucket} AS b, sid, COUNT(*), ${[
        ...kind.sums.map((c) => `TOTAL(${c})`),
        ...kind.maxes.map((c) => `IFNULL(MAX(${c}), 0)`),
      ].join(', ')} FROM ${table} WHERE bucket_ms >= ? AND bucket_ms < ? GROUP BY b, sid`,
    )
      .raw(true)
      .all(fromMs, toMs) as number[][];
    for (const row of totals) {
      spend(budget, row[2]!);
      const aggregate = into(row[0]!, row[1]!);
      let i = 3;
      for (const c of kind.sums) aggregate.sums[c]! += row[i++]!;
      for (const c of kind.maxes) aggregate.maxes[c] = Math.max(aggregate.maxes[c]!, row[i++]!);
    }
    if (kind.hists.length === 0) return;
    const blobs = this.sql(
      `SELECT ${bucket}, sid, ${kind.hists.join(', ')} FROM ${table}
       WHERE bucket_ms >= ? AND bucket_ms < ?
       AND (${kind.hists.map((c) => `${c} IS NOT NULL`).join(' OR ')})`,
    )
      .raw(true)
      .iterate(fromMs, toMs) as IterableIterator<(number | Uint8Array | null)[]>;
    for (const row of blobs) {
      const aggregate = into(row[0] as number, row[1] as number);
      for (let k = 0; k < kind.hists.length; k++) {
        const blob = row[k + 2];
        if (blob instanceof Uint8Array) {
          const c = kind.hists[k]!;
          aggregate.hists[c] = addEncoded(aggregate.hists[c]!, blob);
        }
      }
    }
  }

  /** One series over time: one aggregate per step of `stepMs`, oldest first. */
  readSeries(
    name: SeriesKind['name'],
    sids: readonly number[],
    fromMs: number,
    toMs: number,
    stepMs: number,
    nowMs = Date.now(),
    budget?: ReadBudget,
  ): { startMs: number; aggregate: Aggregate }[] {
    const kind = seriesKind(name);
    const steps = new Map<number, Aggregate>();
    const wanted = new Set(sids);
    for (const span of planRange(fromMs, toMs, nowMs, this.tiers, this.rolledTo, stepMs)) {
      const rows = this.sql(
        `SELECT * FROM ${tableName(kind, span.tier.name)} WHERE bucket_ms >= ? AND bucket_ms < ? AND sid IN (${sids.map(() => '?').join(', ') || 'NULL'})`,
      ).iterate(span.fromMs, span.toMs, ...sids) as IterableIterator<
        Row & { sid: number; bucket_ms: number }
      >;
      for (const row of rows) {
        spend(budget);
        if (!wanted.has(row.sid)) continue;
        const start = bucketStart(row.bucket_ms, stepMs);
        let aggregate = steps.get(start);
        if (!aggregate) {
          aggregate = emptyAggregate(kind);
          steps.set(start, aggregate);
        }
        addRow(kind, aggregate, row);
      }
    }
    return [...steps.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([startMs, aggregate]) => ({ startMs, aggregate }));
  }

  ends(ids?: readonly number[]): EndInfo[] {
    const rows = (
      ids
        ? this.selectIn('SELECT * FROM ends WHERE id IN', ids)
        : this.sql('SELECT * FROM ends').all()
    ) as {
      id: number;
      process: number;
      side: number;
      local_addr: string;
      remote_addr: string;
      port: number;
    }[];
    return rows.map((r) => ({
      id: r.id,
      process: r.process,
      side: r.side === SIDE_CODE.CONNECTION_SIDE_CLIENT ? 'client' : 'server',
      localAddress: r.local_addr,
      remoteAddress: r.remote_addr,
      port: r.port,
    }));
  }

  hopSeries(
    ids?: readonly number[],
  ): { id: number; process: number; direction: 'inbound' | 'outbound' }[] {
    const rows = (
      ids
        ? this.selectIn('SELECT * FROM hop_series WHERE id IN', ids)
        : this.sql('SELECT * FROM hop_series').all()
    ) as { id: number; process: number; direction: number }[];
    return rows.map((r) => ({
      id: r.id,
      process: r.process,
      direction: r.direction === DIRECTION_CODE.DIRECTION_INBOUND ? 'inbound' : 'outbound',
    }));
  }

  processes(ids?: readonly number[]): ProcessInfo[] {
    const rows = (
      ids
        ? this.selectIn('SELECT * FROM processes WHERE id IN', ids)
        : this.sql('SELECT * FROM processes').all()
    ) as {
      id: number;
      key: string;
      node: string;
      identity: string;
      first_seen_ms: number;
      last_seen_ms: number;
    }[];
    return rows.map((r) => ({
      id: r.id,
      key: r.key,
      node: r.node,
      identity: JSON.parse(r.identity) as ProcessIdentity,
      firstSeenMs: r.first_seen_ms,
      lastSeenMs: r.last_seen_ms,
    }));
  }

  /** Joined ends: each client end with the server ends its sampled connections reached. */
  links(endIds: readonly number[]): { clientEnd: number; serverEnd: number }[] {
    if (endIds.length === 0) return [];
    const rows = this.selectIn(
      'SELECT client_end, server_end FROM links WHERE client_end IN',
      endIds,
    ) as { client_end: number; server_end: number }[];
    return rows.map((r) => ({ clientEnd: r.client_end, serverEnd: r.server_end }));
  }

  /** What the agents named these remote addresses after, most recently. */
  peerNames(addresses: readonly string[]): Map<string, PeerNameRecord> {
    const rows = this.selectIn(
      'SELECT address, kind, namespace, name FROM peer_names WHERE address IN',
      [...new Set(addresses)],
    ) as { address: string; kind: 'pod' | 'service'; namespace: string; name: string }[];
    return new Map(
      rows.map((r) => [r.address, { kind: r.kind, namespace: r.namespace, name: r.name }]),
    );
  }

  agents(): AgentInfo[] {
    const rows = this.sql('SELECT * FROM agents ORDER BY agent_id').all() as {
      id: number;
      agent_id: string;
      node: string;
      boot_id: string;
      version: string;
      node_info: string;
      cost: string | null;
      first_seen_ms: number;
      last_seen_ms: number;
    }[];
    return rows.map((r) => ({
      id: r.id,
      agentId: r.agent_id,
      node: r.node,
      bootId: r.boot_id,
      version: r.version,
      nodeInfo: JSON.parse(r.node_info),
      cost: r.cost ? JSON.parse(r.cost) : null,
      firstSeenMs: r.first_seen_ms,
      lastSeenMs: r.last_seen_ms,
    }));
  }

  /** Records an agent's hello: its version and node facts. */
  hello(agentId: string, node: string, bootId: string, version: string, nodeInfo: unknown): void {
    this.statements.upsertAgent.get({
      agentId,
      node,
      bootId,
      version,
      nodeInfo: JSON.stringify(nodeInfo ?? {}),
      cost: null,
      now: Date.now(),
    });
  }

  /** How many batches are stored (for tests and the metrics). */
  batchCount(): number {
    return (this.sql('SELECT COUNT(*) AS n FROM batches').get() as { n: number }).n;
  }

  private selectIn(prefix: string, ids: readonly (number | string)[]): unknown[] {
    const out: unknown[] = [];
    // SQLite caps bound parameters; chunk long lists.
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      out.push(...this.sql(`${prefix} (${chunk.map(() => '?').join(', ')})`).all(...chunk));
    }
    return out;
  }
}

function aggregateValues(kind: SeriesKind, a: Aggregate): (number | Buffer | null)[] {
  return [
    ...kind.sums.map((c) => a.sums[c]!),
    ...kind.maxes.map((c) => a.maxes[c]!),
    ...kind.hists.map((c) => encodeHistogram(a.hists[c])),
  ];
}
