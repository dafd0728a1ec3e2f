// The SessionCluster of one collector alone on its store (SQLite): every agent is its
// own, every delivery it sees itself, and its changes are the only ones.
import type { LoadOrder } from '../../proto/gen/tollgate/v1.js';
import type { LocalAgents, SessionCluster } from './collector-store.js';

export class LocalSessionCluster implements SessionCluster {
  /** The latest interval end each agent delivered. */
  private readonly deliveredTo = new Map<string, number>();
  /** Generations from the clock, so a restarted collector's are above its last run's. */
  private generation = Date.now();

  constructor(private readonly agents: LocalAgents) {}

  exclusive<T>(work: () => Promise<T>): Promise<T> {
    return work();
  }
  finishing(_sessionId: string, work: () => Promise<void>): Promise<void> {
    return work();
  }
  async connectedAgents() {
    return this.agents.connectedAgents();
  }
  noteDelivered(agentId: string, intervalEndMs: number): void {
    this.deliveredTo.set(agentId, Math.max(this.deliveredTo.get(agentId) ?? 0, intervalEndMs));
  }
  async delivered(agentIds: readonly string[]) {
    return new Map(agentIds.map((a) => [a, this.deliveredTo.get(a) ?? 0]));
  }
  async orderLoad(_sessionId: string, orders: readonly [string, LoadOrder][]) {
    for (const [agentId, order] of orders) this.agents.sendLoadOrder(agentId, order);
  }
  async nextGeneration() {
    return ++this.generation;
  }
  async currentGeneration() {
    return this.generation;
  }
  onChange(): void {}
  async close() {}
}
