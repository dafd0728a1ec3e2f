// Profiling sessions, live: start (narrowing the agents' kernel filter to the target and
// handing out the session's load), stop (waiting for the agents' last intervals and load
// reports, then freezing the results), export, import and compare. Here are the store,
// the agents and the order of things; the spec's checks, the load placement, the timers,
// the wait and the results are in the modules beside this one, the maths in pure ones.
// Changes of a session's state (start, stop, delete, and resuming at open) run one at a
// time, each from its reading of the store to its last write and the target it pushes:
// the store answers asynchronously, and a check must still hold when its write is made.
import { randomUUID } from 'node:crypto';
import type { Comparison, SessionSummary, StartSpec } from '../../proto/api.js';
import { type LoadOrder, SessionExport, type SessionTarget } from '../../proto/gen/tollgate/v1.js';
import { compileTarget } from '../../proto/target.js';
import type { Queries } from '../queries.js';
import type { CollectorStore, SessionCluster } from '../store/collector-store.js';
import type { SessionRow } from '../store/session-rows.js';
import { compareSessions } from './compare.js';
import { waitForDeliveries } from './deliveries.js';
import { freezeResult } from './freeze-result.js';
import { loadEndMs, loadOrders, placeLoad } from './load-placement.js';
import { DEFAULT_LOAD_BUDGET_RPS, type LoadPolicy, LoadTargets } from './load-policy.js';
import { OneAtATime } from './one-at-a-time.js';
import { PlannedStops } from './planned-stops.js';
import {
  canonicalSession,
  decodeSessionFile,
  encodeSessionFile,
  type SessionFileFormat,
} from './session-file.js';
import { checkSpec, fullTarget, SESSION_LIMITS, SessionError } from './spec-validation.js';
import { type StoredSpec, sessionSummary, storedSpec } from './stored-session.js';

export { SESSION_LIMITS, SessionError } from './spec-validation.js';

export interface AgentControl {
  connectedAgents(): string[];
  setTarget(target: { selections: SessionTarget[]; generation: number }): void;
  sendLoadOrder(agentId: string, order: LoadOrder): boolean;
}

export interface SessionManagerOptions {
  store: CollectorStore;
  queries: Queries;
  agents: AgentControl;
  /** How long stop waits for the agents' last intervals and load reports. */
  finishTimeoutMs?: number;
  /** How far ahead of now a load starts, so every agent has its order in time. */
  loadLeadMs?: number;
  /** Where loads may go and how much of them at once (load-policy.ts). */
  loadPolicy?: LoadPolicy;
}

export class SessionManager {
  private readonly stops = new PlannedStops();
  /** The generation of the target last given to this collector's agents. */
  private pushedGeneration = -1;
  /** A sync with the other collectors is under way (another's change heard). */
  private syncing = false;
  /** Start, stop's change of state, delete and the resume at open, one at a time. */
  private readonly changes = new OneAtATime();
  /** The stops waiting for their data or freezing it (close waits for them). */
  private readonly finishing = new Set<Promise<void>>();
  /** The sessions this collector is finishing (waiting for their data, freezing them). */
  private readonly finishingIds = new Set<string>();
  private closed = false;
  private readonly loadTargets: LoadTargets;

  private constructor(
    private readonly options: SessionManagerOptions,
    /** The other collectors of the store, if any (collector-store.ts, SessionCluster). */
    private readonly cluster: SessionCluster,
  ) {
    this.loadTargets = new LoadTargets(options.loadPolicy?.targets);
  }

  /**
   * A manager over the store's sessions, with those a previous run left open resumed, and
   * kept in step with the other collectors of the store.
   */
  static async open(options: SessionManagerOptions): Promise<SessionManager> {
    const cluster = await options.store.sessionCluster(options.agents);
    const manager = new SessionManager(options, cluster);
    try {
      await manager.change(() => manager.resume());
    } catch (error) {
      await manager.close();
      throw error;
    }
    cluster.onChange(() => manager.syncSoon());
    return manager;
  }

  /** A change of the sessions' state: one at a time here, and among the collectors. */
  private change<T>(work: () => Promise<T>): Promise<T> {
    return this.changes.run(() => this.cluster.exclusive(work));
  }

  /** Tells the manager an agent's batch was stored (called by ingest). */
  noteDelivered(agentId: string, intervalEndMs: number): void {
    this.cluster.noteDelivered(agentId, intervalEndMs);
  }

  async list(): Promise<SessionSummary[]> {
    return (await this.options.store.sessions.list()).map((r) => sessionSummary(r));
  }

  async get(id: string): Promise<SessionSummary> {
    return sessionSummary(await this.row(id));
  }

  async start(spec: StartSpec, nowMs = Date.now()): Promise<SessionSummary> {
    checkSpec(spec, this.loadTargets);
    const id = await this.change(async () => {
      const rows = await this.options.store.sessions.list();
      const connected = await this.cluster.connectedAgents();
      const running = rows.filter((r) => r.state === 'running');
      if (running.length >= SESSION_LIMITS.running)
        throw new SessionError(`${running.length} sessions are running; stop one first`, 409);
      const id = randomUUID();
      const placed = placeLoad(spec, nowMs, {
        rows,
        leadMs: this.leadMs(),
        budgetRps: this.options.loadPolicy?.budgetRps ?? DEFAULT_LOAD_BUDGET_RPS,
        agents: () => connected,
      });
      let plannedEndMs = spec.durationS !== undefined ? nowMs + spec.durationS * 1000 : null;
      // Without a duration, a session with a load ends when its load has.
      if (placed) plannedEndMs ??= placed.endMs + 1000;
      const stored: StoredSpec = { ...spec, loadAgents: placed?.agents ?? [] };
      const inserted = await this.options.store.sessions.insert({
        id,
        name: spec.name,
        state: 'running',
        createdMs: nowMs,
        startMs: nowMs,
        endMs: null,
        plannedEndMs,
        spec: JSON.stringify(stored),
        result: null,
        error: null,
      });
      if (!inserted) throw new SessionError(`a session with id ${id} exists already`, 409);
      await this.pushTarget();
      if (placed) await this.cluster.orderLoad(id, [...loadOrders(id, placed)]);
      if (plannedEndMs !== null) this.schedule(id, plannedEndMs);
      return id;
    });
    return this.get(id);
  }

  /** Ends a running session now and freezes its results (resolves when they are). */
  async stop(id: string, nowMs = Date.now()): Promise<SessionSummary> {
    await this.end(id, nowMs, true);
    return this.get(id);
  }

  async remove(id: string, nowMs = Date.now()): Promise<void> {
    await this.change(async () => {
      const row = await this.row(id);
      if (row.state === 'running' || row.state === 'finishing')
        throw new SessionError(`session ${id} is ${row.state}; stop it first`, 409);
      // Its load runs on the agents to its end and counts against the budget until then.
      const loadEnd = loadEndMs(row, this.leadMs());
      if (loadEnd !== undefined && nowMs < loadEnd)
        throw new SessionError(
          `session ${id}'s load runs on the agents until ${new Date(loadEnd).toISOString()}; delete it after`,
          409,
        );
      await this.options.store.sessions.remove(id);
    });
  }

  /** The frozen result of a stopped or imported session. */
  async result(id: string): Promise<SessionExport> {
    const row = await this.row(id);
    if (!row.result)
      throw new SessionError(
        `session ${id} is ${row.state}${row.error ? ` (${row.error})` : ''}: it has no results${row.state === 'running' ? ' until it is stopped' : ''}`,
        409,
      );
    return canonicalSession(SessionExport.decode(row.result));
  }

  async export(id: string, format: SessionFileFormat): Promise<Uint8Array> {
    return encodeSessionFile(await this.result(id), format);
  }

  /** Validates a file and stores it as a read-only session; a bad file changes nothing. */
  async import(
    bytes: Uint8Array,
    format: SessionFileFormat,
    nowMs = Date.now(),
  ): Promise<SessionSummary> {
    const session = decodeSessionFile(bytes, format);
    // The store refuses an id it holds already, at once (no check before it to race).
    const inserted = await this.options.store.sessions.insert({
      id: session.id,
      name: session.name,
      state: 'imported',
      createdMs: nowMs,
      startMs: session.startUnixMs,
      endMs: session.endUnixMs,
      plannedEndMs: null,
      spec: JSON.stringify({
        name: session.name,
        labels: session.labels,
        target: session.target,
        loadAgents: [],
      } satisfies StoredSpec),
      result: SessionExport.encode(session),
      error: null,
    });
    if (!inserted) throw new SessionError(`a session with id ${session.id} exists already`, 409);
    return this.get(session.id);
  }

  async compare(a: string, b: string): Promise<Comparison> {
    return compareSessions(await this.result(a), await this.result(b));
  }

  /**
   * Stops the timers and the waits for data; resolves once the changes under way and the
   * results being frozen are stored, so the store may be closed after it.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.stops.clear();
    await this.changes.idle();
    await Promise.allSettled([...this.finishing]);
    await this.cluster.close();
  }

  private leadMs(): number {
    return this.options.loadLeadMs ?? 1000;
  }

  private async row(id: string): Promise<SessionRow> {
    const row = await this.options.store.sessions.get(id);
    if (!row) throw new SessionError(`no session ${id}`, 404);
    return row;
  }

  /** Sessions a previous run left open: keep their timers, finish those that were stopping. */
  private async resume(): Promise<void> {
    for (const row of await this.options.store.sessions.list()) {
      if (row.state === 'running' && row.plannedEndMs !== null)
        this.schedule(row.id, row.plannedEndMs);
      if (row.state === 'finishing') this.finish(row.id).catch(() => {});
    }
    await this.pushTarget();
  }

  private schedule(id: string, atMs: number): void {
    // Closed, its timer is for the next run to set again (resume above).
    if (this.closed) return;
    this.stops.schedule(id, atMs, () => {
      this.end(id, Date.now(), false).catch((error: Error) => {
        if (!this.closed) console.error(`tollgate collector: session ${id}: ${error.message}`);
      });
    });
  }

  /**
   * Moves a running session to finishing, then waits for its data and freezes it. A session
   * no longer running is refused when `strict`, else left be: a planned end that a stop
   * got to first has nothing to do.
   */
  private async end(id: string, nowMs: number, strict: boolean): Promise<void> {
    const finished = await this.change(async () => {
      const row = await this.row(id);
      if (row.state !== 'running') {
        if (!strict) return undefined;
        throw new SessionError(`session ${id} is ${row.state}, not running`, 409);
      }
      this.stops.cancel(id);
      await this.options.store.sessions.update(id, {
        state: 'finishing',
        endMs: nowMs,
        result: null,
        error: null,
      });
      await this.pushTarget();
      // Held in an object: a promise returned would be waited for, holding every change.
      return { done: this.finish(id) };
    });
    await finished?.done;
  }

  /**
   * The agents trace the union of the running sessions' targets (everything when none),
   * under a new generation (the other collectors' agents get it at their next sync).
   */
  private async pushTarget(): Promise<void> {
    this.setTarget(await this.options.store.sessions.list(), await this.cluster.nextGeneration());
  }

  private setTarget(rows: readonly SessionRow[], generation: number): void {
    const selections = rows
      .filter((r) => r.state === 'running')
      .map((r) => fullTarget(storedSpec(r).target));
    const everything = selections.some((t) => compileTarget(t).everything);
    this.pushedGeneration = Math.max(this.pushedGeneration, generation);
    this.options.agents.setTarget({ selections: everything ? [] : selections, generation });
  }

  /** A sync with the other collectors, unless one is under way. */
  private syncSoon(): void {
    if (this.syncing || this.closed) return;
    this.syncing = true;
    this.sync()
      .catch((error: Error) => {
        if (!this.closed) console.error(`tollgate collector: sessions' sync: ${error.message}`);
      })
      .finally(() => {
        this.syncing = false;
      });
  }

  /**
   * What another collector of the store changed, taken up here: a newer target for this
   * collector's agents, timers for the planned ends of sessions started there, and the
   * results of sessions one left finishing when it went away.
   */
  private async sync(nowMs = Date.now()): Promise<void> {
    const generation = await this.cluster.currentGeneration();
    const rows = await this.options.store.sessions.list();
    if (generation > this.pushedGeneration) this.setTarget(rows, generation);
    const abandonedBefore = nowMs - (this.options.finishTimeoutMs ?? 15_000) - 30_000;
    for (const row of rows) {
      if (row.state === 'running' && row.plannedEndMs !== null && !this.stops.has(row.id))
        this.schedule(row.id, row.plannedEndMs);
      if (
        row.state === 'finishing' &&
        row.endMs !== null &&
        row.endMs < abandonedBefore &&
        !this.finishingIds.has(row.id)
      )
        this.finish(row.id).catch(() => {});
    }
  }

  /**
   * Waits (bounded) for the data of the session's window, then computes and stores it.
   * Counted among those finishing from its call, for close.
   */
  private finish(id: string): Promise<void> {
    this.finishingIds.add(id);
    const done = this.waitAndFreeze(id).finally(() => {
      this.finishing.delete(done);
      this.finishingIds.delete(id);
    });
    this.finishing.add(done);
    return done;
  }

  private async waitAndFreeze(id: string): Promise<void> {
    // One collector finishes a session; another that finds it finishing (at its start, or
    // as abandoned) leaves it be, and one that gets it after finds it finished.
    await this.cluster.finishing(id, async () => {
      const row = await this.row(id);
      if (row.state === 'finishing') await this.waitAndFreezeRow(row);
    });
  }

  private async waitAndFreezeRow(row: SessionRow): Promise<void> {
    const id = row.id;
    const spec = storedSpec(row);
    const endMs = row.endMs ?? Date.now();
    await waitForDeliveries({
      agents: await this.cluster.connectedAgents(),
      endMs,
      delivered: (agents) => this.cluster.delivered(agents),
      loadReported: async () =>
        (await this.options.store.sessions.loadReportAgents(id)) >= spec.loadAgents.length,
      timeoutMs: this.options.finishTimeoutMs ?? 15_000,
      closed: () => this.closed,
    });
    if (this.closed) return;
    await freezeResult(this.options, row, spec, endMs);
  }
}
