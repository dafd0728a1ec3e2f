// The collector's store in PostgreSQL, shared by any number of collector replicas: the
// same series, tiers, rollups and reads as the SQLite store (one shared test suite holds
// both to the same behaviour), with what sharing needs. A batch is stored once whichever
// replica gets it (its identity claimed first, pg-group-writer.ts); the two ends of a
// connection join whichever replicas their agents ship to (the tuples are shared); one
// replica at a time rolls up and prunes (pg-locks.ts), and the others read its marks.
import type pg from 'pg';
import type { Batch } from '../../../proto/gen/tollgate/v1.js';
import type { Aggregate } from '../aggregate.js';
import { addToStep, aggregateAt, stepsInOrder } from '../aggregate-groups.js';
import type {
  CollectorStore,
  CommitStatus,
  LocalAgents,
  SessionCluster,
} from '../collector-store.js';
import { LateRows } from '../late-rows.js';
import { type ReadBudget, spend } from '../read-budget.js';
import { RollupPacing } from '../rollup-pacing.js';
import { type SeriesKind, seriesKind } from '../series.js';
import type { StoreOptions } from '../store.js';
import { HOUR_MS, planRange, type Tier, tiers } from '../tiers.js';
import { batchTimes, readRolledTo, writeGroup } from './pg-group-writer.js';
import * as identities from './pg-identities.js';
import { LOCK, LOCK_CLASS } from './pg-locks.js';
import { Partitions } from './pg-partitions.js';
import { describeServer, inTransaction, openPool } from './pg-pool.js';
import { prunePg } from './pg-retention.js';
import { rollUpPg } from './pg-rollups.js';
import { migratePg, pgMigrations, pgSchemaVersion } from './pg-schema.js';
import { eachSeriesRow, fold } from './pg-series.js';
import { PgSessionCluster } from './pg-session-cluster.js';
import { PgSessions } from './pg-sessions.js';

export class PostgresStore implements CollectorStore {
  readonly engine = 'postgres';
  readonly tiers: readonly Tier[];
  readonly sessions: PgSessions;
  private rolledTo = new Map<Tier['name'], number>();
  private locks: pg.Pool | undefined;
  private readonly late: LateRows;
  private readonly partitions: Partitions;
  private readonly pacing: RollupPacing;
  private readonly dedupeMs: number;
  private readonly graceMs: number;
  private readonly budgetMs: number;

  private constructor(
    private readonly pool: pg.Pool,
    /** Where it is: the sessions' coordination opens a connection of its own there. */
    private readonly url: string,
    options: StoreOptions,
  ) {
    this.tiers = tiers(options.retention);
    this.sessions = new PgSessions(pool);
    this.late = new LateRows(this.tiers);
    this.partitions = new Partitions(pool, this.tiers);
    this.dedupeMs = options.dedupeMs ?? 24 * 3_600_000;
    this.graceMs = options.rollupGraceMs ?? 10_000;
    this.budgetMs = options.rollupBudgetMs ?? 250;
    this.pacing = new RollupPacing({
      graceMs: this.graceMs,
      maxHoldBackMs: options.rollupMaxHoldBackMs ?? 3_600_000,
    });
  }

  /**
   * Connects to the database at `url`. A writer brings its schema up to date (one
   * replica at a time); a reader (`reader: true`, the read worker) only checks it is.
   */
  static async connect(
    url: string,
    options: StoreOptions = {},
    role: { reader?: boolean } = {},
  ): Promise<PostgresStore> {
    const pool = openPool(url, {
      max: role.reader ? 2 : 10,
      applicationName: role.reader ? 'tollgate collector reads' : 'tollgate collector',
    });
    try {
      const store = new PostgresStore(pool, url, options);
      if (role.reader) {
        const found = await pgSchemaVersion(pool);
        const wanted = pgMigrations(store.tiers).length;
        if (found !== wanted)
          throw new Error(
            `the store's schema is version ${found}, this collector reads version ${wanted}`,
          );
      } else await migratePg(pool, store.tiers);
      await store.refreshRollups();
      return store;
    } catch (error) {
      await pool.end();
      const e = error as Error;
      throw new Error(`PostgreSQL store at ${describeServer(url)}: ${e.message}`, { cause: e });
    }
  }

  get lateRows(): number {
    return this.late.count;
  }

  /** The join is in the database: nothing is held in memory to evict. */
  get tuplesEvicted(): number {
    return 0;
  }

  async commit(batches: readonly Batch[], nowMs = Date.now()): Promise<CommitStatus[]> {
    let statuses: CommitStatus[];
    try {
      await this.partitions.ensure(new Set(batches.map((b) => batchTimes(b, nowMs).bucket)));
      statuses = await inTransaction(this.pool, (client) =>
        writeGroup(client, batches, nowMs, this.late),
      );
    } catch (error) {
      // Late rows gathered went with the transaction; partitions this collector knew of
      // may have been dropped by another's retention.
      this.late.clear();
      this.partitions.forget();
      throw error;
    }
    this.pacing.noteGroup(batches, statuses, nowMs);
    return statuses;
  }

  async isStored(batch: Pick<Batch, 'agentId' | 'bootId' | 'sequence'>): Promise<boolean> {
    const rows = await this.pool.query(
      'SELECT 1 FROM batches WHERE agent_id = $1 AND boot_id = $2 AND sequence = $3',
      [batch.agentId, batch.bootId, batch.sequence],
    );
    return rows.rowCount === 1;
  }

  /**
   * Rolls up and prunes, when no other collector on the database is doing so now (it
   * then skips: the other's pass does the same work). Rollups first, then retention,
   * which runs even when the rollups fail.
   */
  async maintain(nowMs = Date.now()): Promise<void> {
    const holder = await this.lockPool().connect();
    let failure: unknown;
    try {
      const got = await holder.query<{ ok: boolean }>(
        `SELECT pg_try_advisory_lock(${LOCK_CLASS}, ${LOCK.maintenance}) AS ok`,
      );
      if (!got.rows[0]?.ok) {
        // Another collector rolls up: its marks are what this one's reads plan on.
        await this.refreshRollups();
        return;
      }
      // This hour's and the next hour's partitions, made here rather than by the first
      // commit that needs them: making one locks its table, and commits wait for it.
      await this.partitions.ensure([nowMs, nowMs + HOUR_MS]);
      try {
        const toMs = Math.min(this.pacing.rollUpTo(nowMs), nowMs - this.graceMs);
        this.rolledTo = await rollUpPg(this.pool, this.tiers, toMs, this.budgetMs);
      } catch (error) {
        failure = error;
        await this.refreshRollups().catch(() => {});
      }
      try {
        await prunePg(this.pool, this.partitions, this.tiers, this.rolledTo, this.dedupeMs, nowMs);
      } finally {
        await holder.query(`SELECT pg_advisory_unlock(${LOCK_CLASS}, ${LOCK.maintenance})`);
      }
    } finally {
      holder.release();
    }
    if (failure !== undefined) throw failure;
  }

  async refreshRollups(): Promise<void> {
    this.rolledTo = await readRolledTo(this.pool);
  }

  /** Runs a read in one read-only snapshot: the parts of one answer agree with each other. */
  private async reading<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        return await work(client);
      } finally {
        await client.query('COMMIT');
      }
    } finally {
      client.release();
    }
  }

  async read(
    name: SeriesKind['name'],
    fromMs: number,
    toMs: number,
    nowMs = Date.now(),
    budget?: ReadBudget,
  ): Promise<Map<number, Aggregate>> {
    const kind = seriesKind(name);
    const out = new Map<number, Aggregate>();
    const seriesOf = (_bucket: number, sid: number) => aggregateAt(out, kind, sid);
    const spans = planRange(fromMs, toMs, nowMs, this.tiers, this.rolledTo, toMs - fromMs);
    await this.reading(async (client) => {
      for (const span of spans)
        await fold(client, kind, span.tier.name, span.fromMs, span.toMs, null, seriesOf, budget);
    });
    return out;
  }

  async readSeries(
    name: SeriesKind['name'],
    sids: readonly number[],
    fromMs: number,
    toMs: number,
    stepMs: number,
    nowMs = Date.now(),
    budget?: ReadBudget,
  ): Promise<{ startMs: number; aggregate: Aggregate }[]> {
    const kind = seriesKind(name);
    const steps = new Map<number, Aggregate>();
    const spans = planRange(fromMs, toMs, nowMs, this.tiers, this.rolledTo, stepMs);
    await this.reading(async (client) => {
      for (const span of spans)
        await eachSeriesRow(client, kind, span.tier.name, span.fromMs, span.toMs, sids, (row) => {
          spend(budget);
          addToStep(kind, steps, stepMs, row);
        });
    });
    return stepsInOrder(steps);
  }

  ends(ids?: readonly number[]) {
    return identities.ends(this.pool, ids);
  }
  hopSeries(ids?: readonly number[]) {
    return identities.hopSeries(this.pool, ids);
  }
  processes(ids?: readonly number[]) {
    return identities.processes(this.pool, ids);
  }
  links(endIds: readonly number[]) {
    return identities.links(this.pool, endIds);
  }
  peerNames(addresses: readonly string[]) {
    return identities.peerNames(this.pool, addresses);
  }
  podSigns(pods: readonly string[]) {
    return identities.podSigns(this.pool, pods);
  }
  agents() {
    return identities.agents(this.pool);
  }
  hello(agentId: string, node: string, bootId: string, version: string, nodeInfo: unknown) {
    return identities.hello(this.pool, { agentId, node, bootId, version, nodeInfo }, Date.now());
  }

  async batchCount(): Promise<number> {
    const rows = await this.pool.query<{ n: number }>('SELECT COUNT(*) AS n FROM batches');
    return rows.rows[0]?.n ?? 0;
  }

  sessionCluster(agents: LocalAgents): Promise<SessionCluster> {
    return PgSessionCluster.start(this.pool, this.lockPool(), this.url, agents);
  }

  /**
   * Connections that hold a session-level lock (maintenance, a change of the sessions,
   * a session being finished) while the work it guards runs on the pool's: apart, so
   * that holders waiting for the pool can never leave their own work nowhere to run.
   * Opened when first needed (a reader needs none).
   */
  private lockPool(): pg.Pool {
    this.locks ??= openPool(this.url, { max: 24, applicationName: 'tollgate collector locks' });
    return this.locks;
  }

  async close(): Promise<void> {
    await this.locks?.end();
    await this.pool.end();
  }
}
