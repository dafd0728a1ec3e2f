// CPU arrives as cumulative counters (a process's user and system time, an agent's own
// and its load runner's) and is stored per interval: the difference from the previous
// sample. Pure: the caller reads and keeps the previous sample (resource_last, agent_last).
import type { AgentCost } from '../../proto/gen/tollgate/v1.js';

export interface ProcessCpuLast {
  cpuNs: number;
  sampleMs: number;
}

/**
 * A process's CPU in the interval that ends at `seenMs`, and whether the baseline moves.
 * Its first sample is only the baseline, unless the process started within that interval
 * (`startedInInterval`): then all its CPU is the interval's, and counts whole (a process
 * born and busy within one interval would otherwise show none).
 */
export function processCpuDelta(
  cpuNs: number,
  seenMs: number,
  last: ProcessCpuLast | undefined,
  startedInInterval = false,
): { cpuNs: number; advance: boolean } {
  // Samples are cumulative: the interval's share is the difference from the previous
  // one. A replayed older sample adds nothing and does not move the baseline back.
  const replayed = last !== undefined && seenMs <= last.sampleMs;
  return {
    cpuNs: last ? (replayed ? 0 : Math.max(0, cpuNs - last.cpuNs)) : startedInInterval ? cpuNs : 0,
    advance: !replayed,
  };
}

export interface AgentCpuLast {
  bootId: string;
  agentCpuNs: number;
  runnerCpuNs: number;
}

/**
 * An agent's and its runner's CPU since its previous report. A new boot restarts the
 * counters, so its first report only sets the baseline.
 */
export function agentCpuDelta(
  cost: AgentCost,
  bootId: string,
  last: AgentCpuLast | undefined,
): { agentCpuNs: number; runnerCpuNs: number } {
  const sameBoot = last?.bootId === bootId;
  return {
    agentCpuNs: Math.max(0, cost.agentCpuNs - (sameBoot ? last.agentCpuNs : cost.agentCpuNs)),
    runnerCpuNs: Math.max(0, cost.runnerCpuNs - (sameBoot ? last.runnerCpuNs : cost.runnerCpuNs)),
  };
}
