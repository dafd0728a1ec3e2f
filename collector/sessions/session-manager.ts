// Profiling sessions, live: start (narrowing the agents' kernel filter to the target and
// handing out the session's load), stop (waiting for the agents' last intervals and load
// reports, then freezing the results), export, import and compare. Here are the store,
// the agents and the order of things; the spec's checks, the load placement, the timers,
// the wait and the results are in the modules beside this one, the maths in pure ones.
import { randomUUID } from 'node:crypto';
import type { Comparison, SessionSummary, StartSpec } from '../../proto/api.js';
import { type LoadOrder, SessionExport, type SessionTarget } from '../../proto/gen/tollgate/v1.js';
import { compileTarget } from '../../proto/target.js';
import type { Queries } from '../queries.js';
import type { SessionRow } from '../store/session-rows.js';
import type { Store } from '../store/store.js';
import { compareSessions } from './compare.js';
import { Deliveries } from './deliveries.js';
import { freezeResult } from './freeze-result.js';
import { loadEndMs, loadOrders, placeLoad } from './load-placement.js';
import { DEFAULT_LOAD_BUDGET_RPS, type LoadPolicy, LoadTargets } from './load-policy.js';
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
  store: Store;
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
  private readonly deliveries = new Deliveries();
  private generation = Date.now();
  private closed = false;
  private readonly loadTargets: LoadTargets;

  constructor(private readonly options: SessionManagerOptions) {
    this.loadTargets = new LoadTargets(options.loadPolicy?.targets);
    // Sessions a previous run left open: keep their timers, finish those that were stopping.
    for (const row of options.store.sessions.list()) {
      if (row.state === 'running' && row.plannedEndMs !== null)
        this.schedule(row.id, row.plannedEndMs);
      if (row.state === 'finishing') void this.finish(row.id).catch(() => {});
    }
    this.pushTarget();
  }

  /** Tells the manager an agent's batch was stored (called by ingest). */
  noteDelivered(agentId: string, intervalEndMs: number): void {
    this.deliveries.note(agentId, intervalEndMs);
  }

  list(): SessionSummary[] {
    return this.options.store.sessions.list().map((r) => sessionSummary(r));
  }

  get(id: string): SessionSummary {
    return sessionSummary(this.row(id));
  }

  start(spec: StartSpec, nowMs = Date.now()): SessionSummary {
    checkSpec(spec, this.loadTargets);
    const rows = this.options.store.sessions.list();
    const running = rows.filter((r) => r.state === 'running');
    if (running.length >= SESSION_LIMITS.running)
      throw new SessionError(`${running.length} sessions are running; stop one first`, 409);
    const id = randomUUID();
    const placed = placeLoad(spec, nowMs, {
      rows,
      leadMs: this.leadMs(),
      budgetRps: this.options.loadPolicy?.budgetRps ?? DEFAULT_LOAD_BUDGET_RPS,
      agents: () => this.options.agents.connectedAgents(),
    });
    let plannedEndMs = spec.durationS !== undefined ? nowMs + spec.durationS * 1000 : null;
    // Without a duration, a session with a load ends when its load has.
    if (placed) plannedEndMs ??= placed.endMs + 1000;
    const stored: StoredSpec = { ...spec, loadAgents: placed?.agents ?? [] };
    this.options.store.sessions.insert({
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
    this.pushTarget();
    if (placed) {
      for (const [agentId, order] of loadOrders(id, placed))
        this.options.agents.sendLoadOrder(agentId, order);
    }
    if (plannedEndMs !== null) this.schedule(id, plannedEndMs);
    return this.get(id);
  }

  /** Ends a running session now and freezes its results (resolves when they are). */
  async stop(id: string, nowMs = Date.now()): Promise<SessionSummary> {
    const row = this.row(id);
    if (row.state !== 'running')
      throw new SessionError(`session ${id} is ${row.state}, not running`, 409);
    this.stops.cancel(id);
    this.options.store.sessions.update(id, {
      state: 'finishing',
      endMs: nowMs,
      result: null,
      error: null,
    });
    this.pushTarget();
    await this.finish(id);
    return this.get(id);
  }

  remove(id: string, nowMs = Date.now()): void {
    const row = this.row(id);
    if (row.state === 'running' || row.state === 'finishing')
      throw new SessionError(`session ${id} is ${row.state}; stop it first`, 409);
    // Its load runs on the agents to its end and counts against the budget until then.
    const loadEnd = loadEndMs(row, this.leadMs());
    if (loadEnd !== undefined && nowMs < loadEnd)
      throw new SessionError(
        `session ${id}'s load runs on the agents until ${new Date(loadEnd).toISOString()}; delete it after`,
        409,
      );
    this.options.store.sessions.remove(id);
  }

  /** The frozen result of a stopped or imported session. */
  result(id: string): SessionExport {
    const row = this.row(id);
    if (!row.result)
      throw new SessionError(
        `session ${id} is ${row.state}${row.error ? ` (${row.error})` : ''}: it has no results${row.state === 'running' ? ' until it is stopped' : ''}`,
        409,
      );
    return canonicalSession(SessionExport.decode(row.result));
  }

  export(id: string, format: SessionFileFormat): Uint8Array {
    return encodeSessionFile(this.result(id), format);
  }

  /** Validates a file and stores it as a read-only session; a bad file changes nothing. */
  import(bytes: Uint8Array, format: SessionFileFormat, nowMs = Date.now()): SessionSummary {
    const session = decodeSessionFile(bytes, format);
    const sessions = this.options.store.sessions;
    sessions.transaction(() => {
      if (sessions.get(session.id))
        throw new SessionError(`a session with id ${session.id} exists already`, 409);
      sessions.insert({
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
    });
    return this.get(session.id);
  }

  compare(a: string, b: string): Comparison {
    return compareSessions(this.result(a), this.result(b));
  }

  close(): void {
    this.closed = true;
    this.stops.clear();
  }

  private leadMs(): number {
    return this.options.loadLeadMs ?? 1000;
  }

  private row(id: string): SessionRow {
    const row = this.options.store.sessions.get(id);
    if (!row) throw new SessionError(`no session ${id}`, 404);
    return row;
  }

  private schedule(id: string, atMs: number): void {
    this.stops.schedule(id, atMs, () => {
      this.stop(id).catch((error: Error) => {
        if (!this.closed) console.error(`tollgate collector: session ${id}: ${error.message}`);
      });
    });
  }

  /** The agents trace the union of the running sessions' targets (everything when none). */
  private pushTarget(): void {
    const selections = this.options.store.sessions
      .list()
      .filter((r) => r.state === 'running')
      .map((r) => fullTarget(storedSpec(r).target));
    const everything = selections.some((t) => compileTarget(t).everything);
    this.generation += 1;
    this.options.agents.setTarget({
      selections: everything ? [] : selections,
      generation: this.generation,
    });
  }

  /** Waits (bounded) for the data of the session's window, then computes and stores it. */
  private async finish(id: string): Promise<void> {
    const row = this.row(id);
    const spec = storedSpec(row);
    const endMs = row.endMs ?? Date.now();
    await this.deliveries.wait({
      agents: this.options.agents.connectedAgents(),
      endMs,
      loadReported: () =>
        this.options.store.sessions.loadReportAgents(id) >= spec.loadAgents.length,
      timeoutMs: this.options.finishTimeoutMs ?? 15_000,
      closed: () => this.closed,
    });
    if (this.closed) return;
    freezeResult(this.options, row, spec, endMs);
  }
}
