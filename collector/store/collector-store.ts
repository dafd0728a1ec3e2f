// What the collector asks of its store, whichever engine holds it: one SQLite file
// (sqlite-collector-store.ts, the embedded default of `tollgate up` and the demo) or a
// PostgreSQL database shared by any number of collector replicas (postgres/). Async,
// as a server answers over the network; SQLite's answers are ready at once. One shared
// test suite (test/collector/store-contract.test.ts) holds both to the same behaviour.
import type { MeshSigns } from '../../proto/api.js';
import type { Batch, LoadOrder, LoadReport } from '../../proto/gen/tollgate/v1.js';
import type { PeerNameRecord } from '../model/topology.js';
import type { Aggregate } from './aggregate.js';
import type { AgentInfo, EndInfo, HopSeriesInfo, ProcessInfo } from './identity-rows.js';
import type { ReadBudget } from './read-budget.js';
import type { SeriesKind } from './series.js';
import type { SessionRow } from './session-rows.js';
import type { Tier } from './tiers.js';

export type CommitStatus = 'stored' | 'duplicate';

/** Profiling sessions and their agents' load reports (session-rows.ts says what a row holds). */
export interface SessionStore {
  /** Stores a new session; says false, storing nothing, when one with its id exists. */
  insert(row: SessionRow): Promise<boolean>;
  /** Moves a session to a state; the result and error replace what was there. */
  update(
    id: string,
    fields: Pick<SessionRow, 'state' | 'endMs' | 'result' | 'error'>,
  ): Promise<void>;
  get(id: string): Promise<SessionRow | undefined>;
  /** Every session, newest first, without results (they can be large). */
  list(): Promise<SessionRow[]>;
  remove(id: string): Promise<boolean>;
  /** How many agents have reported on a session's load so far. */
  loadReportAgents(id: string): Promise<number>;
  loadReports(id: string): Promise<{ agentId: string; report: LoadReport }[]>;
}

/** The agents shipping to this collector, as its ingest knows them. */
export interface LocalAgents {
  connectedAgents(): string[];
  /** Sends a load order to one agent; false when it is not connected here. */
  sendLoadOrder(agentId: string, order: LoadOrder): boolean;
}

/**
 * What profiling sessions need of every collector that shares the store: one change of
 * the sessions' state at a time, the agents connected to any of them and what each has
 * delivered, load orders handed to agents wherever they are connected, and one sequence
 * of trace-target generations, so that agents follow the same target whichever
 * collector they ship to. One collector on SQLite is all of it by itself
 * (local-session-cluster.ts); collectors on PostgreSQL coordinate through it
 * (postgres/pg-session-cluster.ts).
 */
export interface SessionCluster {
  /** Runs a change of the sessions' state with no other change under way, here or on another collector. */
  exclusive<T>(work: () => Promise<T>): Promise<T>;
  /**
   * Runs `work` (waiting for a session's data and freezing its result) unless another
   * collector is doing it for that session now.
   */
  finishing(sessionId: string, work: () => Promise<void>): Promise<void>;
  /** Agents shipping to any collector of the store now. */
  connectedAgents(): Promise<string[]>;
  /** Tells the cluster an agent's batch was stored here. */
  noteDelivered(agentId: string, intervalEndMs: number): void;
  /** The latest interval end each of these agents has delivered, to any collector. */
  delivered(agentIds: readonly string[]): Promise<Map<string, number>>;
  /** Hands each agent its load order, through whichever collector it is connected to. */
  orderLoad(sessionId: string, orders: readonly [string, LoadOrder][]): Promise<void>;
  /** A new trace-target generation, above every one before (on any collector). */
  nextGeneration(): Promise<number>;
  /** The latest generation given out (by any collector). */
  currentGeneration(): Promise<number>;
  /** Calls `listener` when another collector may have changed the sessions. */
  onChange(listener: () => void): void;
  close(): Promise<void>;
}

export interface CollectorStore {
  /** Which engine: the collector's /metrics and README's figures say it. */
  readonly engine: 'sqlite' | 'postgres';
  readonly tiers: readonly Tier[];
  readonly sessions: SessionStore;
  /** Raw rows that came after a rollup of their bucket was made, by this process. */
  readonly lateRows: number;
  /**
   * Connection tuples this process dropped from its join's memory while their window was
   * still open (ConnectionJoin.evicted): their ends, if the other comes later, are joined
   * by address. Always 0 where the join is in the database (PostgreSQL).
   */
  readonly tuplesEvicted: number;

  /**
   * Stores a group of validated batches at once and says, for each, whether it was stored
   * now or before (by its agent, boot and sequence: a batch replayed, to this collector or
   * another on the same store, is stored once). Nothing of the group is visible until all
   * of it is, and a failure stores none of it.
   */
  commit(batches: readonly Batch[], nowMs?: number): Promise<CommitStatus[]>;
  /** Was this batch stored before? */
  isStored(batch: Pick<Batch, 'agentId' | 'bootId' | 'sequence'>): Promise<boolean>;
  /** Rolls finished buckets up into the coarser tiers, then deletes what is past retention. */
  maintain(nowMs?: number): Promise<void>;
  /** Reads again how far each tier is rolled up (another connection's work). */
  refreshRollups(): Promise<void>;

  /** Every series of a kind merged over [fromMs, toMs), by series id. */
  read(
    name: SeriesKind['name'],
    fromMs: number,
    toMs: number,
    nowMs?: number,
    budget?: ReadBudget,
  ): Promise<Map<number, Aggregate>>;
  /** Some series over time: one aggregate per step of `stepMs`, oldest first. */
  readSeries(
    name: SeriesKind['name'],
    sids: readonly number[],
    fromMs: number,
    toMs: number,
    stepMs: number,
    nowMs?: number,
    budget?: ReadBudget,
  ): Promise<{ startMs: number; aggregate: Aggregate }[]>;

  ends(ids?: readonly number[]): Promise<EndInfo[]>;
  hopSeries(ids?: readonly number[]): Promise<HopSeriesInfo[]>;
  processes(ids?: readonly number[]): Promise<ProcessInfo[]>;
  /** Joined ends: each client end with the server ends its sampled connections reached. */
  links(endIds: readonly number[]): Promise<{ clientEnd: number; serverEnd: number }[]>;
  /** What the agents named these remote addresses after, most recently. */
  peerNames(addresses: readonly string[]): Promise<Map<string, PeerNameRecord>>;
  /** The mesh signs their agents last shipped for these pods (by pod id). */
  podSigns(pods: readonly string[]): Promise<Map<string, MeshSigns>>;
  agents(): Promise<AgentInfo[]>;
  /** Records an agent's hello: its version and node facts. */
  hello(
    agentId: string,
    node: string,
    bootId: string,
    version: string,
    nodeInfo: unknown,
  ): Promise<void>;
  /** How many batches are remembered as stored (for tests and the metrics). */
  batchCount(): Promise<number>;
  /** The sessions' coordination among the collectors of this store (SessionCluster). */
  sessionCluster(agents: LocalAgents): Promise<SessionCluster>;

  close(): Promise<void>;
}
