// The wait a stop does for the last of a session's data before it freezes the results:
// every connected agent's intervals up to the session's end (delivered to any collector
// of the store: SessionCluster.delivered), and the load reports of the agents its load
// went to. Bounded: an agent that went away holds a stop no longer than the timeout.

/**
 * Resolves once each of `agents` has delivered its intervals up to `endMs` and
 * `loadReported` holds, or after `timeoutMs`, or as soon as `closed` holds.
 */
export async function waitForDeliveries(until: {
  agents: readonly string[];
  endMs: number;
  delivered: (agents: readonly string[]) => Promise<Map<string, number>>;
  loadReported: () => Promise<boolean>;
  timeoutMs: number;
  closed: () => boolean;
}): Promise<void> {
  const deadline = Date.now() + until.timeoutMs;
  const complete = async () => {
    const delivered = await until.delivered(until.agents);
    return (
      until.agents.every((a) => (delivered.get(a) ?? 0) >= until.endMs) &&
      (await until.loadReported())
    );
  };
  while (!(await complete()) && Date.now() < deadline && !until.closed()) {
    await new Promise((r) => setTimeout(r, 100));
  }
}
