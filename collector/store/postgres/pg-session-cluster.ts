// Profiling sessions across the collectors of one PostgreSQL store (SessionCluster). A
// change of a session's state takes a lock every collector takes for its changes; each
// collector writes which agents it holds every second, so any of them knows the agents
// of all; load orders wait in a table until the collector that holds their agent claims
// and sends them; trace-target generations come from one sequence, so an agent that
// moves to another collector keeps the target it had. Collectors hear of each other's
// changes at once through LISTEN/NOTIFY, and every second regardless.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { LoadOrder } from '../../../proto/gen/tollgate/v1.js';
import type { LocalAgents, SessionCluster } from '../collector-store.js';
import { LOCK, LOCK_CLASS } from './pg-locks.js';
import { SESSION_SETTINGS } from './pg-pool.js';

/** The channel collectors tell each other of session changes on. */
const CHANNEL = 'tollgate_sessions';

/** How often a collector says which agents it holds, and looks for work. */
const TICK_MS = 1000;

/**
 * The class of the locks of sessions being finished, one per session (by a hash of its
 * id): beside pg-locks.ts's class of roles.
 */
const FINISH_LOCK_CLASS = LOCK_CLASS + 1;

/** The server's clock in ms, in SQL. */
const SERVER_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

/** An agent a collector has not said it holds for this long is no longer connected there. */
const CONNECTED_WITHIN_MS = 5000;

export class PgSessionCluster implements SessionCluster {
  /** This collector, among those of the store. */
  private readonly self = randomUUID();
  private readonly deliveredHere = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  /** A tick was asked for while one ran. */
  private again = false;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    /** Connections that hold a lock while work runs on the pool's (PostgresStore.lockPool). */
    private readonly lockPool: pg.Pool,
    private readonly agents: LocalAgents,
    private readonly listener: pg.Client,
  ) {}

  /** Joins the store's collectors: listens for their changes and starts its tick. */
  static async start(
    pool: pg.Pool,
    lockPool: pg.Pool,
    url: string,
    agents: LocalAgents,
  ): Promise<PgSessionCluster> {
    // LISTEN needs a connection of its own for as long as it listens: not the pool's.
    const listener = new pg.Client({
      connectionString: url,
      application_name: 'tollgate collector sessions',
      keepAlive: true,
      options: SESSION_SETTINGS,
    });
    const cluster = new PgSessionCluster(pool, lockPool, agents, listener);
    listener.on('error', (error) =>
      console.error(`tollgate collector: sessions' PostgreSQL listener failed: ${error.message}`),
    );
    listener.on('notification', () => cluster.tickSoon());
    try {
      await listener.connect();
      await listener.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      await listener.end().catch(() => {});
      throw error;
    }
    cluster.timer = setInterval(() => cluster.tickSoon(), TICK_MS);
    cluster.timer.unref();
    return cluster;
  }

  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    const holder = await this.lockPool.connect();
    try {
      await holder.query(`SELECT pg_advisory_lock(${LOCK_CLASS}, ${LOCK.sessions})`);
      try {
        return await work();
      } finally {
        await holder.query(`SELECT pg_advisory_unlock(${LOCK_CLASS}, ${LOCK.sessions})`);
      }
    } finally {
      holder.release();
    }
  }

  async finishing(sessionId: string, work: () => Promise<void>): Promise<void> {
    // Held on a connection of its own for as long as the work runs: the server lets it go
    // if this collector goes away, and another can then take the session up.
    const holder = await this.lockPool.connect();
    const key = `${FINISH_LOCK_CLASS}, hashtext($1)`;
    try {
      const got = await holder.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${key}) AS ok`, [
        sessionId,
      ]);
      if (!got.rows[0]?.ok) return;
      try {
        await work();
      } finally {
        await holder.query(`SELECT pg_advisory_unlock(${key})`, [sessionId]);
      }
    } finally {
      holder.release();
    }
  }

  async connectedAgents(): Promise<string[]> {
    // By the server's clock, which wrote seen_ms: the collectors' clocks may differ.
    const rows = await this.pool.query<{ agent_id: string }>(
      `SELECT DISTINCT agent_id FROM collector_agents WHERE seen_ms >= ${SERVER_MS} - $1`,
      [CONNECTED_WITHIN_MS],
    );
    return [
      ...new Set([...rows.rows.map((r) => r.agent_id), ...this.agents.connectedAgents()]),
    ].sort();
  }

  noteDelivered(agentId: string, intervalEndMs: number): void {
    this.deliveredHere.set(agentId, Math.max(this.deliveredHere.get(agentId) ?? 0, intervalEndMs));
  }

  async delivered(agentIds: readonly string[]): Promise<Map<string, number>> {
    // One index lookup per agent (batches_agent_end), not a scan of its day of batches.
    const rows = await this.pool.query<{ agent_id: string; end_ms: number | null }>(
      `SELECT a AS agent_id,
         (SELECT MAX(interval_end_ms) FROM batches WHERE agent_id = a) AS end_ms
       FROM unnest($1::text[]) AS v (a)`,
      [agentIds],
    );
    const stored = new Map(rows.rows.map((r) => [r.agent_id, r.end_ms ?? 0]));
    return new Map(
      agentIds.map((a) => [a, Math.max(stored.get(a) ?? 0, this.deliveredHere.get(a) ?? 0)]),
    );
  }

  async orderLoad(sessionId: string, orders: readonly [string, LoadOrder][]): Promise<void> {
    if (orders.length === 0) return;
    await this.pool.query(
      `INSERT INTO load_orders (session_id, agent_id, body)
       SELECT $1, a, b FROM unnest($2::text[], $3::bytea[]) AS v (a, b)
       ON CONFLICT DO NOTHING`,
      [sessionId, orders.map(([a]) => a), orders.map(([, o]) => Buffer.from(LoadOrder.encode(o)))],
    );
    await this.pool.query(`SELECT pg_notify('${CHANNEL}', '')`);
    // Its own agents' at once: the lead time of a load is short.
    await this.sendOrders();
  }

  /**
   * The next generation: at least the server's clock in ms, as a collector on SQLite gives
   * them, so agents that followed one (or a database restored from an older copy) do
   * not take the new ones for old. Called under the sessions' lock, one at a time.
   */
  async nextGeneration(): Promise<number> {
    const rows = await this.pool.query<{ g: number }>(
      `SELECT setval('session_target_generation',
         GREATEST(nextval('session_target_generation'), ${SERVER_MS})) AS g,
         pg_notify('${CHANNEL}', '')`,
    );
    return rows.rows[0]!.g;
  }

  async currentGeneration(): Promise<number> {
    const rows = await this.pool.query<{ last_value: number; is_called: boolean }>(
      'SELECT last_value, is_called FROM session_target_generation',
    );
    const row = rows.rows[0]!;
    return row.is_called ? row.last_value : 0;
  }

  onChange(listener: () => void): void {
    this.listeners.add(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.ticking;
    await this.pool
      .query('DELETE FROM collector_agents WHERE collector = $1', [this.self])
      .catch(() => {});
    await this.listener.end().catch(() => {});
  }

  /**
   * A tick now; one asked for while another runs comes right after it (what woke it, an
   * order or a change, may have come after that tick looked).
   */
  private tickSoon(): void {
    if (this.closed) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = this.tick()
      .catch((error: Error) =>
        console.error(`tollgate collector: sessions' coordination: ${error.message}`),
      )
      .finally(() => {
        this.ticking = undefined;
        if (this.again) {
          this.again = false;
          this.tickSoon();
        }
      });
  }

  /** Says which agents this collector holds, sends their waiting orders, and tells the manager. */
  private async tick(): Promise<void> {
    const held = this.agents.connectedAgents();
    await this.pool.query(
      `WITH seen AS (
         INSERT INTO collector_agents (collector, agent_id, seen_ms)
         SELECT $1, a, ${SERVER_MS} FROM unnest($2::text[]) AS v (a)
         ON CONFLICT (collector, agent_id) DO UPDATE SET seen_ms = excluded.seen_ms)
       DELETE FROM collector_agents WHERE collector = $1 AND agent_id <> ALL($2::text[])`,
      [this.self, held],
    );
    await this.sendOrders();
    for (const listener of this.listeners) listener();
  }

  /** Claims the orders waiting for this collector's agents (of running sessions) and sends them. */
  private async sendOrders(): Promise<void> {
    const held = this.agents.connectedAgents();
    if (held.length === 0) return;
    const claimed = await this.pool.query<{ session_id: string; agent_id: string; body: Buffer }>(
      `UPDATE load_orders SET sent_by = $1
       WHERE sent_by IS NULL AND agent_id = ANY($2::text[])
         AND session_id IN (SELECT id FROM sessions WHERE state = 'running')
       RETURNING session_id, agent_id, body`,
      [this.self, held],
    );
    for (const row of claimed.rows) {
      if (this.agents.sendLoadOrder(row.agent_id, LoadOrder.decode(row.body))) continue;
      // Gone meanwhile: left for the collector it reconnects to.
      await this.pool.query(
        'UPDATE load_orders SET sent_by = NULL WHERE session_id = $1 AND agent_id = $2',
        [row.session_id, row.agent_id],
      );
    }
  }
}
