// The collector's SQLite store. Writes come in groups of batches, each group one
// transaction, so a batch is either wholly visible or not at all, whatever kills the
// process. Reads merge time-bucketed rows over any range (see tiers.ts, aggregate.ts).
// This is the facade its callers use; the work is in the modules beside it: one batch's
// writes (batch-writer.ts), rollups (rollup.ts), retention (retention.ts), range reads
// (range-reads.ts), the identity rows the API reads (identity-rows.ts) and what is
// particular to a SQLite file (sqlite-file.ts).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { MeshSigns } from '../../proto/api.js';
import type { Batch } from '../../proto/gen/tollgate/v1.js';
import type { PeerNameRecord } from '../model/topology.js';
import type { Aggregate } from './aggregate.js';
import { BatchWriter } from './batch-writer.js';
import type { CommitStatus } from './collector-store.js';
import type { AgentInfo, EndInfo, HopSeriesInfo, ProcessInfo } from './identity-rows.js';
import * as identities from './identity-rows.js';
import { RangeReader } from './range-reads.js';
import type { ReadBudget } from './read-budget.js';
import { prune } from './retention.js';
import { Rollups } from './rollup.js';
import { RollupPacing } from './rollup-pacing.js';
import { migrate } from './schema.js';
import type { SeriesKind } from './series.js';
import { SeriesTables } from './series-tables.js';
import { SessionRows } from './session-rows.js';
import { configureWriter, isDamaged, moveAside } from './sqlite-file.js';
import { prepareStatements, Sql, type Statements } from './statements.js';
import { type RetentionOptions, type Tier, tiers } from './tiers.js';

export type { CommitStatus } from './collector-store.js';
export {
  type AgentInfo,
  DIRECTION_CODE,
  type EndInfo,
  type HopSeriesInfo,
  type ProcessInfo,
  SIDE_CODE,
} from './identity-rows.js';
export { RangeTooLarge, type ReadBudget } from './read-budget.js';
export { ROLLUP_CHUNK_BUCKETS } from './rollup.js';
export { WAL_LIMIT_BYTES } from './sqlite-file.js';

export interface StoreOptions {
  retention?: RetentionOptions;
  /** How long after a bucket ends before it is rolled up (late batches still land). */
  rollupGraceMs?: number;
  /**
   * Rollup time one `maintain` may spend before it leaves the rest to the next call (ms;
   * each tier still rolls at least one chunk of ROLLUP_CHUNK_BUCKETS buckets).
   */
  rollupBudgetMs?: number;
  /**
   * The most the rollups hold back for batches still arriving, behind (rollup-pacing.ts;
   * default an hour).
   */
  rollupMaxHoldBackMs?: number;
  /** How long a batch's identity is remembered to drop its replays. */
  dedupeMs?: number;
  /** SQLite's synchronous setting: FULL (default) survives power loss; NORMAL is faster. */
  synchronous?: 'FULL' | 'NORMAL';
  /** The write-ahead log's size (default WAL_LIMIT_BYTES): checkpointed at it, cut back to it. */
  walBytes?: number;
  /** Connections the join holds in memory (default RECENT_TUPLES_LIMIT, connection-join.ts). */
  joinTuples?: number;
}

export class Store {
  readonly tiers: readonly Tier[];
  /** Profiling sessions and their agents' load reports. */
  readonly sessions: SessionRows;
  private readonly db: Database.Database;
  private readonly dedupeMs: number;
  private readonly sql: Sql;
  private readonly statements: Statements;
  private readonly rollups: Rollups;
  private readonly pacing: RollupPacing;
  private readonly writer: BatchWriter;
  private readonly reader: RangeReader;

  private constructor(db: Database.Database, options: StoreOptions) {
    this.db = db;
    this.tiers = tiers(options.retention);
    this.dedupeMs = options.dedupeMs ?? 24 * 3_600_000;
    migrate(db, this.tiers);
    this.sql = new Sql(db);
    this.statements = prepareStatements(db);
    this.sessions = new SessionRows(db);
    const series = new SeriesTables(this.sql);
    const graceMs = options.rollupGraceMs ?? 10_000;
    this.rollups = new Rollups(this.statements, series, this.tiers, {
      graceMs,
      budgetMs: options.rollupBudgetMs ?? 250,
    });
    this.pacing = new RollupPacing({
      graceMs,
      maxHoldBackMs: options.rollupMaxHoldBackMs ?? 3_600_000,
    });
    this.writer = new BatchWriter(
      this.statements,
      series,
      this.rollups,
      this.sessions,
      options.joinTuples,
    );
    this.reader = new RangeReader(series, this.tiers, this.rollups.rolledTo);
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
      if (path === ':memory:' || !isDamaged(error)) throw error;
      const aside = moveAside(path, nowMs);
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
    this.rollups.refresh();
  }

  /** Opens (creating if needed) a store at `path`, or in memory for ':memory:'. */
  static open(path: string, options: StoreOptions = {}): Store {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
      configureWriter(db, options.synchronous ?? 'FULL', options.walBytes);
      return new Store(db, options);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  close(): void {
    this.db.close();
  }

  /** Raw rows that came after a rollup of their bucket was made (Rollups.lateRows). */
  get lateRows(): number {
    return this.rollups.lateRows;
  }

  /** Tuples the join's memory dropped inside their window (ConnectionJoin.evicted). */
  get tuplesEvicted(): number {
    return this.writer.tuplesEvicted;
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
    try {
      const statuses = this.db.transaction(() => {
        const statuses = batches.map((batch): CommitStatus => {
          if (this.isStored(batch)) return 'duplicate';
          this.writer.write(batch, nowMs);
          return 'stored';
        });
        this.rollups.flushLate();
        return statuses;
      })();
      this.pacing.noteGroup(batches, statuses, nowMs);
      return statuses;
    } catch (error) {
      // What the writer remembered of the rows this transaction made went with it.
      this.writer.rolledBack();
      this.rollups.dropLate();
      throw error;
    }
  }

  /**
   * Rolls finished buckets up into the coarser tiers, then deletes what is past retention.
   * Two transactions: when the rollup cannot be written (a full disk), what is past
   * retention is still deleted, which is what makes room again. Cheap to call often.
   */
  maintain(nowMs = Date.now()): void {
    let failure: unknown;
    try {
      const toMs = this.pacing.rollUpTo(nowMs);
      this.db.transaction(() => this.rollups.rollUp(nowMs, toMs))();
    } catch (error) {
      // The rolled-up marks moved with the transaction that failed: take them back.
      this.rollups.refresh();
      failure = error;
    }
    try {
      prune(this.sql, this.tiers, this.rollups.rolledTo, this.dedupeMs, nowMs);
    } finally {
      // Rows the writer remembers may be gone, whatever part of the pruning was done.
      this.writer.forget(nowMs);
    }
    if (failure !== undefined) throw failure;
  }

  /** Bytes of free pages inside the database file: room for rows without growing it. */
  freeBytes(): number {
    const pages = this.db.pragma('freelist_count', { simple: true }) as number;
    const size = this.db.pragma('page_size', { simple: true }) as number;
    return pages * size;
  }

  /** Moves the write-ahead log into the database and empties it, giving its space back. */
  truncateLog(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** Every series of a kind merged over [fromMs, toMs), by series id (RangeReader.read). */
  read(
    name: SeriesKind['name'],
    fromMs: number,
    toMs: number,
    nowMs = Date.now(),
    budget?: ReadBudget,
  ): Map<number, Aggregate> {
    return this.reader.read(name, fromMs, toMs, nowMs, budget);
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
    return this.reader.readSeries(name, sids, fromMs, toMs, stepMs, nowMs, budget);
  }

  ends(ids?: readonly number[]): EndInfo[] {
    return identities.ends(this.sql, ids);
  }

  hopSeries(ids?: readonly number[]): HopSeriesInfo[] {
    return identities.hopSeries(this.sql, ids);
  }

  processes(ids?: readonly number[]): ProcessInfo[] {
    return identities.processes(this.sql, ids);
  }

  /** Joined ends: each client end with the server ends its sampled connections reached. */
  links(endIds: readonly number[]): { clientEnd: number; serverEnd: number }[] {
    return identities.links(this.sql, endIds);
  }

  /** What the agents named these remote addresses after, most recently. */
  peerNames(addresses: readonly string[]): Map<string, PeerNameRecord> {
    return identities.peerNames(this.sql, addresses);
  }

  /** The mesh signs their agents last shipped for these pods (by pod id). */
  podSigns(pods: readonly string[]): Map<string, MeshSigns> {
    return identities.podSigns(this.sql, pods);
  }

  agents(): AgentInfo[] {
    return identities.agents(this.sql);
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
    return (this.sql.prepare('SELECT COUNT(*) AS n FROM batches').get() as { n: number }).n;
  }
}
