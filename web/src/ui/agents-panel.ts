// Each node's agent and what it costs: CPU, memory, and everything it lost or dropped.
import type { AgentCostReport, AgentView } from '../model/api-types.js';
import { formatNumber } from '../model/format.js';
import { el, table } from './dom.js';

const sum = (a: number | null, b: number | null) =>
  a === null && b === null ? null : (a ?? 0) + (b ?? 0);

export function agentsPanel(agents: readonly AgentView[], nowMs = Date.now()): HTMLElement {
  return el(
    'section',
    { class: 'panel agents-panel' },
    el('h2', {}, `Agents (${agents.length})`),
    agents.length === 0
      ? el('p', { class: 'muted' }, 'No agent has reported to this collector.')
      : table(
          [
            'node',
            'version',
            'last seen',
            'millicores',
            'memory',
            'kernel map full',
            'batches dropped',
            'rejected',
            'unresolved',
          ],
          agents.map((a) => {
            const lost: AgentCostReport['lost'] = a.latest?.lost;
            const rss = sum(a.rssMb, a.runnerRssMb);
            return [
              a.node,
              a.version,
              `${Math.max(0, Math.round((nowMs - a.lastSeenMs) / 1000))} s ago`,
              formatNumber(sum(a.millicores, a.runnerMillicores)),
              rss === null ? '–' : `${formatNumber(rss)} MB`,
              formatNumber(lost?.kernelMapFull ?? 0),
              formatNumber(lost?.spoolDroppedBatches ?? 0),
              formatNumber(lost?.rejectedBatches ?? 0),
              formatNumber(lost?.unresolvedProcesses ?? 0),
            ];
          }),
          { class: 'grid agents' },
        ),
    el(
      'p',
      { class: 'muted' },
      'CPU and memory include the kernel-side runner; losses are totals since the agent started.',
    ),
  );
}
