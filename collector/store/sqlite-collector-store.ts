// The collector's store in one SQLite file (store.ts, synchronous), behind the interface
// every engine answers (collector-store.ts). Its answers are ready at once; only what is
// particular to a file on a disk (free pages, the write-ahead log) is reached through
// `file`, by the disk guard.
import type { Batch } from '../../proto/gen/tollgate/v1.js';
import type { CollectorStore, LocalAgents, SessionStore } from './collector-store.js';
import { LocalSessionCluster } from './local-session-cluster.js';
import type { ReadBudget } from './read-budget.js';
import type { SeriesKind } from './series.js';
import type { SessionRow, SessionRows } from './session-rows.js';
import type { Store } from './store.js';

class SqliteSessions implements SessionStore {
  constructor(private readonly rows: SessionRows) {}
  async insert(row: SessionRow) {
    return this.rows.transaction(() => {
      if (this.rows.get(row.id)) return false;
      this.rows.insert(row);
      return true;
    });
  }
  async update(id: string, fields: Pick<SessionRow, 'state' | 'endMs' | 'result' | 'error'>) {
    this.rows.update(id, fields);
  }
  async get(id: string) {
    return this.rows.get(id);
  }
  async list() {
    return this.rows.list();
  }
  async remove(id: string) {
    return this.rows.remove(id);
  }
  async loadReportAgents(id: string) {
    return this.rows.loadReportAgents(id);
  }
  async loadReports(id: string) {
    return this.rows.loadReports(id);
  }
}

export class SqliteCollectorStore implements CollectorStore {
  readonly engine = 'sqlite';
  readonly sessions: SessionStore;

  /** `file` is the synchronous store; this one owns it from now on (close closes it). */
  constructor(readonly file: Store) {
    this.sessions = new SqliteSessions(file.sessions);
  }

  get tiers() {
    return this.file.tiers;
  }
  get lateRows() {
    return this.file.lateRows;
  }
  get tuplesEvicted() {
    return this.file.tuplesEvicted;
  }
  async commit(batches: readonly Batch[], nowMs?: number) {
    return this.file.commit(batches, nowMs);
  }
  async isStored(batch: Pick<Batch, 'agentId' | 'bootId' | 'sequence'>) {
    return this.file.isStored(batch);
  }
  async maintain(nowMs?: number) {
    this.file.maintain(nowMs);
  }
  async refreshRollups() {
    this.file.refreshRollups();
  }
  async read(
    name: SeriesKind['name'],
    fromMs: number,
    toMs: number,
    nowMs?: number,
    budget?: ReadBudget,
  ) {
    return this.file.read(name, fromMs, toMs, nowMs, budget);
  }
  async readSeries(
    name: SeriesKind['name'],
    sids: readonly number[],
    fromMs: number,
    toMs: number,
    stepMs: number,
    nowMs?: number,
    budget?: ReadBudget,
  ) {
    return this.file.readSeries(name, sids, fromMs, toMs, stepMs, nowMs, budget);
  }
  async ends(ids?: readonly number[]) {
    return this.file.ends(ids);
  }
  async hopSeries(ids?: readonly number[]) {
    return this.file.hopSeries(ids);
  }
  async processes(ids?: readonly number[]) {
    return this.file.processes(ids);
  }
  async links(endIds: readonly number[]) {
    return this.file.links(endIds);
  }
  async peerNames(addresses: readonly string[]) {
    return this.file.peerNames(addresses);
  }
  async podSigns(pods: readonly string[]) {
    return this.file.podSigns(pods);
  }
  async agents() {
    return this.file.agents();
  }
  async hello(agentId: string, node: string, bootId: string, version: string, nodeInfo: unknown) {
    this.file.hello(agentId, node, bootId, version, nodeInfo);
  }
  async batchCount() {
    return this.file.batchCount();
  }
  async sessionCluster(agents: LocalAgents) {
    return new LocalSessionCluster(agents);
  }
  async close() {
    this.file.close();
  }
}
