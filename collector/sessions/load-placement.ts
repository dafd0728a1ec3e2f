// Which agents run a new session's load and what each is ordered, and which loads still
// run on the agents: those count against the collector's rate budget, and keep their
// session from being deleted until they end. Where a load may go is load-policy.ts's;
// the session manager stores the session and sends the orders.
import type { LoadSpec, StartSpec } from '../../proto/api.js';
import type { LoadOrder } from '../../proto/gen/tollgate/v1.js';
import type { SessionRow } from '../store/session-rows.js';
import { SessionError } from './spec-validation.js';
import { storedSpec } from './stored-session.js';

/** A load placed on the agents, from its start time. */
export interface LoadPlacement {
  load: LoadSpec;
  urls: string[];
  agents: string[];
  startUnixMs: number;
  /** When the load ends on the agents. */
  endMs: number;
}

/** When the load a session ordered ends on the agents; undefined when it ordered none. */
export function loadEndMs(row: SessionRow, leadMs: number): number | undefined {
  if (row.state === 'imported') return undefined;
  const spec = storedSpec(row);
  if (!spec.load || (spec.loadAgents ?? []).length === 0) return undefined;
  return row.startMs + leadMs + spec.load.durationS * 1000;
}

/**
 * Requests/s of the loads still running at `nowMs`. A load runs its whole duration on
 * the agents even when its session is stopped early, so stopped sessions count too.
 */
export function loadRpsRunning(rows: SessionRow[], nowMs: number, leadMs: number): number {
  let rps = 0;
  for (const row of rows) {
    const end = loadEndMs(row, leadMs);
    if (end !== undefined && nowMs < end) rps += storedSpec(row).load!.rps;
  }
  return rps;
}

/**
 * The load a new session runs on every connected agent, starting `leadMs` from now so
 * each has its order in time; undefined when it runs none. Refused when it would take the
 * running loads over the budget, or when no agent is connected to run it.
 */
export function placeLoad(
  spec: StartSpec,
  nowMs: number,
  fleet: { rows: SessionRow[]; leadMs: number; budgetRps: number; agents: () => string[] },
): LoadPlacement | undefined {
  const urls = spec.load?.urls ?? [];
  // A load Tollgate runs itself (one that only describes an outside load has no urls).
  const load = urls.length > 0 ? spec.load : undefined;
  if (!load) return undefined;
  const budget = fleet.budgetRps;
  const busy = loadRpsRunning(fleet.rows, nowMs, fleet.leadMs);
  if (busy + load.rps > budget)
    throw new SessionError(
      `load of ${load.rps} requests/s is over the collector's budget: ${busy} of ${budget} requests/s are running (--load-budget)`,
      409,
    );
  const agents = [...fleet.agents()];
  if (agents.length === 0) throw new SessionError('no agent is connected to run the load', 503);
  return {
    load,
    urls,
    agents,
    startUnixMs: nowMs + fleet.leadMs,
    endMs: nowMs + fleet.leadMs + load.durationS * 1000,
  };
}

/** Each agent's load order, by agent id. */
export function loadOrders(sessionId: string, placed: LoadPlacement): [string, LoadOrder][] {
  // Spread over the agents as Nighthawk's distributed mode does: each runs an equal
  // share of the rate from the same start time.
  const { load, agents } = placed;
  const n = agents.length;
  return agents.map((agentId) => [
    agentId,
    {
      sessionId,
      urls: placed.urls,
      rps: load.rps / n,
      connections: Math.max(1, Math.ceil(load.connections / n)),
      durationS: load.durationS,
      startUnixMs: placed.startUnixMs,
    },
  ]);
}
