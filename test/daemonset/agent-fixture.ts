// A real agent for one test: stopped when the test ends, unless the test stopped it first
// (to read what it shipped) through `stop`.
import type { TestContext } from 'node:test';
import { Agent, type AgentOptions } from '../../daemonset/agent.js';

export async function startAgent(
  t: TestContext,
  options: AgentOptions,
): Promise<{ agent: Agent; stop: (timeoutMs?: number) => Promise<void> }> {
  const agent = await Agent.start(options);
  let stopped = false;
  t.after(async () => {
    if (!stopped) await agent.stop();
  });
  return {
    agent,
    stop: async (timeoutMs?: number) => {
      stopped = true;
      await agent.stop(timeoutMs);
    },
  };
}
