// What the agents have delivered, and the wait a stop does for the last of it before it
// freezes a session's results: every connected agent's intervals up to the session's end,
// and the load reports of the agents its load went to. Bounded: an agent that went away
// holds a stop no longer than the manager's finish timeout.
export class Deliveries {
  /** The latest interval end each agent delivered, to know when a stop has its data. */
  private readonly delivered = new Map<string, number>();

  note(agentId: string, intervalEndMs: number): void {
    this.delivered.set(agentId, Math.max(this.delivered.get(agentId) ?? 0, intervalEndMs));
  }

  /**
   * Resolves once each of `agents` has delivered its intervals up to `endMs` and
   * `loadReported` holds, or after `timeoutMs`, or as soon as `closed` holds.
   */
  async wait(until: {
    agents: string[];
    endMs: number;
    loadReported: () => Promise<boolean>;
    timeoutMs: number;
    closed: () => boolean;
  }): Promise<void> {
    const deadline = Date.now() + until.timeoutMs;
    const complete = async () =>
      until.agents.every((a) => (this.delivered.get(a) ?? 0) >= until.endMs) &&
      (await until.loadReported());
    while (!(await complete()) && Date.now() < deadline && !until.closed()) {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
