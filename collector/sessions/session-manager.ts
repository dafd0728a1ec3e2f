// Profiling sessions, live: start (narrowing the agents' kernel filter to the target and
// handing out the session's load), stop (waiting for the agents' last intervals and load
// reports, then freezing the results), export, import and compare. The maths lives in
// the pure modules beside this one; here are the store, the timers and the agents.
import { randomUUID } from 'node:crypto';
import type { Comparison, SessionSummary, StartSpec } from '../../proto/api.js';
import {
  type LoadOrder,
  type LoadResult,
  SessionExport,
  type SessionTarget,
} from '../../proto/gen/tollgate/v1.js';
import { emptyHistogram, merge, type SparseHistogram } from '../../proto/histogram.js';
import { compileTarget, SelectorError } from '../../proto/target.js';
import { TOLLGATE_VERSION } from '../../proto/version.js';
import type { Queries } from '../queries.js';
import type { SessionRow } from '../store/session-rows.js';
import type { Store } from '../store/store.js';
import { compareSessions } from './compare.js';
import { detectMesh, environment, meshConfig } from './environment.js';
import { DEFAULT_LOAD_BUDGET_RPS, type LoadPolicy, LoadTargets } from './load-policy.js';
import { sessionResults } from './results.js';
import {
  canonicalSession,
  decodeSessionFile,
  encodeSessionFile,
  FORMAT_VERSION,
  type SessionFileFormat,
  SMP_VERSION,
} from './session-file.js';

/** What a session was started with, as stored (and the agents its load went to). */
interface StoredSpec extends StartSpec {
  loadAgents: string[];
}

export interface AgentControl {
  connectedAgents(): string[];
  setTarget(target: { selections: SessionTarget[]; generation: number }): void;
  sendLoadOrder(agentId: string, order: LoadOrder): boolean;
}

/** A request the manager refuses; `status` is the HTTP status that says why. */
export class SessionError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 409 | 413 | 503 = 400,
  ) {
    super(message);
    this.name = 'SessionError';
  }
}

export const SESSION_LIMITS = {
  nameLength: 200,
  labels: 64,
  labelLength: 256,
  maxDurationS: 7 * 86_400,
  maxLoadRps: 100_000,
  maxLoadConnections: 1_000,
  maxLoadDurationS: 3_600,
  urls: 16,
  /** Sessions running at once. */
  running: 16,
} as const;

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

function fullTarget(target: StartSpec['target']): SessionTarget {
  return {
    all: false,
    namespaces: target?.namespaces ?? [],
    podSelector: target?.podSelector ?? '',
    pods: target?.pods ?? [],
  };
}

function checkSpec(spec: StartSpec, targets: LoadTargets): void {
  const fail = (message: string) => {
    throw new SessionError(message);
  };
  if (typeof spec.name !== 'string' || spec.name.trim() === '') fail('a session needs a name');
  if (spec.name.length > SESSION_LIMITS.nameLength)
    fail(`name is longer than ${SESSION_LIMITS.nameLength} characters`);
  const labels = Object.entries(spec.labels ?? {});
  if (labels.length > SESSION_LIMITS.labels) fail(`more than ${SESSION_LIMITS.labels} labels`);
  for (const [k, v] of labels) {
    if (k === '' || k.length > SESSION_LIMITS.labelLength || v.length > SESSION_LIMITS.labelLength)
      fail(
        `label '${k.slice(0, 40)}' must have a key and be at most ${SESSION_LIMITS.labelLength} characters`,
      );
  }
  if (
    spec.durationS !== undefined &&
    !(spec.durationS > 0 && spec.durationS <= SESSION_LIMITS.maxDurationS)
  )
    fail(`duration must be within (0, ${SESSION_LIMITS.maxDurationS}] seconds`);
  try {
    compileTarget(fullTarget(spec.target));
  } catch (error) {
    if (error instanceof SelectorError) fail(`target: ${error.message}`);
    throw error;
  }
  const load = spec.load;
  if (!load) return;
  if (!(load.rps > 0 && load.rps <= SESSION_LIMITS.maxLoadRps))
    fail(`load rps must be within (0, ${SESSION_LIMITS.maxLoadRps}]`);
  if (
    !(
      Number.isInteger(load.connections) &&
      load.connections >= 1 &&
      load.connections <= SESSION_LIMITS.maxLoadConnections
    )
  )
    fail(`load connections must be within 1..${SESSION_LIMITS.maxLoadConnections}`);
  if (!(load.durationS > 0 && load.durationS <= SESSION_LIMITS.maxLoadDurationS))
    fail(`load duration must be within (0, ${SESSION_LIMITS.maxLoadDurationS}] seconds`);
  const urls = load.urls ?? [];
  if (urls.length > SESSION_LIMITS.urls) fail(`more than ${SESSION_LIMITS.urls} load urls`);
  for (const url of urls) {
    const why = targets.refusal(url);
    if (why) fail(why);
  }
}

export class SessionManager {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** The latest interval end each agent delivered, to know when a stop has its data. */
  private readonly delivered = new Map<string, number>();
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
    this.delivered.set(agentId, Math.max(this.delivered.get(agentId) ?? 0, intervalEndMs));
  }

  list(): SessionSummary[] {
    return this.options.store.sessions.list().map((r) => this.summary(r));
  }

  get(id: string): SessionSummary {
    return this.summary(this.row(id));
  }

  start(spec: StartSpec, nowMs = Date.now()): SessionSummary {
    checkSpec(spec, this.loadTargets);
    const running = this.options.store.sessions.list().filter((r) => r.state === 'running');
    if (running.length >= SESSION_LIMITS.running)
      throw new SessionError(`${running.length} sessions are running; stop one first`, 409);
    const id = randomUUID();
    const loadAgents: string[] = [];
    let plannedEndMs = spec.durationS !== undefined ? nowMs + spec.durationS * 1000 : null;
    const urls = spec.load?.urls ?? [];
    // A load Tollgate runs itself (one that only describes an outside load has no urls).
    const load = urls.length > 0 ? spec.load : undefined;
    const lead = this.options.loadLeadMs ?? 1000;
    if (load) {
      const budget = this.options.loadPolicy?.budgetRps ?? DEFAULT_LOAD_BUDGET_RPS;
      const busy = this.loadRpsRunning(nowMs);
      if (busy + load.rps > budget)
        throw new SessionError(
          `load of ${load.rps} requests/s is over the collector's budget: ${busy} of ${budget} requests/s are running (--load-budget)`,
          409,
        );
      loadAgents.push(...this.options.agents.connectedAgents());
      if (loadAgents.length === 0)
        throw new SessionError('no agent is connected to run the load', 503);
      // Without a duration, a session with a load ends when its load has.
      plannedEndMs ??= nowMs + lead + load.durationS * 1000 + 1000;
    }
    const stored: StoredSpec = { ...spec, loadAgents };
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
    if (load) {
      // Spread over the agents as Nighthawk's distributed mode does: each runs an equal
      // share of the rate from the same start time.
      const n = loadAgents.length;
      for (const agentId of loadAgents) {
        this.options.agents.sendLoadOrder(agentId, {
          sessionId: id,
          urls,
          rps: load.rps / n,
          connections: Math.max(1, Math.ceil(load.connections / n)),
          durationS: load.durationS,
          startUnixMs: nowMs + lead,
        });
      }
    }
    if (plannedEndMs !== null) this.schedule(id, plannedEndMs);
    return this.get(id);
  }

  /**
   * Requests/s of the loads still running at `nowMs`. A load runs its whole duration on
   * the agents even when its session is stopped early, so stopped sessions count too.
   */
  private loadRpsRunning(nowMs: number): number {
    let rps = 0;
    for (const row of this.options.store.sessions.list()) {
      const end = this.loadEndMs(row);
      if (end !== undefined && nowMs < end) rps += (JSON.parse(row.spec) as StoredSpec).load!.rps;
    }
    return rps;
  }

  /** When the load a session ordered ends on the agents; undefined when it ordered none. */
  private loadEndMs(row: SessionRow): number | undefined {
    if (row.state === 'imported') return undefined;
    const spec = JSON.parse(row.spec) as StoredSpec;
    if (!spec.load || (spec.loadAgents ?? []).length === 0) return undefined;
    return row.startMs + (this.options.loadLeadMs ?? 1000) + spec.load.durationS * 1000;
  }

  /** Ends a running session now and freezes its results (resolves when they are). */
  async stop(id: string, nowMs = Date.now()): Promise<SessionSummary> {
    const row = this.row(id);
    if (row.state !== 'running')
      throw new SessionError(`session ${id} is ${row.state}, not running`, 409);
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
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
    const loadEndMs = this.loadEndMs(row);
    if (loadEndMs !== undefined && nowMs < loadEndMs)
      throw new SessionError(
        `session ${id}'s load runs on the agents until ${new Date(loadEndMs).toISOString()}; delete it after`,
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
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private row(id: string): SessionRow {
    const row = this.options.store.sessions.get(id);
    if (!row) throw new SessionError(`no session ${id}`, 404);
    return row;
  }

  private summary(row: SessionRow): SessionSummary {
    const spec = JSON.parse(row.spec) as StoredSpec;
    return {
      id: row.id,
      name: row.name,
      state: row.state,
      labels: spec.labels ?? {},
      target: spec.target ?? {},
      startMs: row.startMs,
      endMs: row.endMs,
      plannedEndMs: row.plannedEndMs,
      readOnly: row.state === 'imported',
      error: row.error,
      load: spec.load ?? null,
      loadAgents: spec.loadAgents ?? [],
    };
  }

  private schedule(id: string, atMs: number): void {
    const timer = setTimeout(
      () => {
        this.timers.delete(id);
        this.stop(id).catch((error: Error) => {
          if (!this.closed) console.error(`tollgate collector: session ${id}: ${error.message}`);
        });
      },
      Math.max(0, atMs - Date.now()),
    );
    timer.unref();
    this.timers.set(id, timer);
  }

  /** The agents trace the union of the running sessions' targets (everything when none). */
  private pushTarget(): void {
    const selections = this.options.store.sessions
      .list()
      .filter((r) => r.state === 'running')
      .map((r) => fullTarget((JSON.parse(r.spec) as StoredSpec).target));
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
    const spec = JSON.parse(row.spec) as StoredSpec;
    const endMs = row.endMs ?? Date.now();
    const waitFor = this.options.agents.connectedAgents();
    const deadline = Date.now() + (this.options.finishTimeoutMs ?? 15_000);
    const complete = () =>
      waitFor.every((a) => (this.delivered.get(a) ?? 0) >= endMs) &&
      this.options.store.sessions.loadReportAgents(id) >= spec.loadAgents.length;
    while (!complete() && Date.now() < deadline && !this.closed) {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (this.closed) return;
    try {
      const result = this.compute(row, spec, endMs);
      this.options.store.sessions.update(id, {
        state: 'stopped',
        endMs,
        result: SessionExport.encode(result),
        error: null,
      });
    } catch (error) {
      this.options.store.sessions.update(id, {
        state: 'failed',
        endMs,
        result: null,
        error: (error as Error).message,
      });
    }
  }

  private compute(row: SessionRow, spec: StoredSpec, endMs: number): SessionExport {
    const target = fullTarget(spec.target);
    const compiled = compileTarget(target);
    const view = this.options.queries.view({ fromMs: row.startMs, toMs: endMs }, endMs);
    const reports = this.options.store.sessions.loadReports(row.id);
    let latency: SparseHistogram = emptyHistogram();
    let requests = 0;
    let errors = 0;
    let first = Number.POSITIVE_INFINITY;
    let last = 0;
    for (const { report } of reports) {
      if (report.latency) latency = merge(latency, report.latency as SparseHistogram);
      requests += report.requests;
      errors += report.errors;
      if (report.startUnixMs > 0) first = Math.min(first, report.startUnixMs);
      last = Math.max(last, report.endUnixMs);
    }
    const load: LoadResult | undefined =
      spec.loadAgents.length > 0
        ? {
            latency,
            requests,
            errors,
            agentsOrdered: spec.loadAgents.length,
            agentsReported: new Set(reports.map((r) => r.agentId)).size,
          }
        : undefined;
    const results = sessionResults({
      view,
      target: compiled,
      load,
      loadSeconds: last > first ? (last - first) / 1000 : undefined,
    });
    const podsInTarget = new Set(results.workloads.map((w) => `pod:${w}`));
    const sidecars = view.topology.processes.filter(
      (p) => p.role === 'sidecar' && p.pod !== null && podsInTarget.has(p.pod),
    );
    const seen = this.options.store.agents().filter((a) => a.lastSeenMs >= row.startMs);
    return {
      formatVersion: FORMAT_VERSION,
      smpVersion: SMP_VERSION,
      id: row.id,
      name: row.name,
      labels: spec.labels ?? {},
      startUnixMs: row.startMs,
      endUnixMs: endMs,
      target,
      meshConfig: meshConfig(detectMesh(sidecars), spec.mesh),
      environment: environment({
        agents: seen,
        workloads: results.workloads,
        version: TOLLGATE_VERSION,
        given: { kubernetesVersion: spec.kubernetesVersion },
      }),
      load: {
        generator: spec.load
          ? spec.load.urls?.length
            ? 'tollgate'
            : (spec.load.generator ?? '')
          : '',
        rps: spec.load?.rps ?? 0,
        connections: spec.load?.connections ?? 0,
        durationS: spec.load?.durationS ?? 0,
      },
      latenciesMs: results.latenciesMs,
      actualQps: results.actualQps,
      sidecars: results.sidecars,
      tollgate: {
        pods: results.pods,
        edges: results.edges,
        load,
        latencySource: results.latencySource,
      },
    };
  }
}
