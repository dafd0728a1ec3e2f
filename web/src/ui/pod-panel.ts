// A pod's detail: its proxy's added latency per direction (its sidecar's, or in ambient
// mode the node proxy's through the pod, with the mode said) with how much of the
// traffic it covers and how it was made, the sidecar's share of the downstream latency,
// CPU and memory per 1,000 requests for sidecar and app side by side, and its
// processes. Every observed string is a text node.
import type {
  DirectionCost,
  PodCost,
  ProcessCost,
  TopologyExternal,
  TopologyPod,
  TopologyProcess,
} from '../model/api-types.js';
import { coverageNote, coverageShare } from '../model/coverage.js';
import { formatMs, formatNumber, formatPercent, formatRate } from '../model/format.js';
import { externalLabel } from '../model/graph.js';
import { modeNote, proxyCostLabel, proxyHeading } from '../model/mesh-mode.js';
import { el, table } from './dom.js';

const latencyCells = (d: DirectionCost | null) =>
  d
    ? [
        formatMs(d.addedLatency.p50Ms),
        formatMs(d.addedLatency.p90Ms),
        formatMs(d.addedLatency.p99Ms),
        formatPercent(d.overheadShare),
        formatNumber(d.requests),
        coverageShare(d),
      ]
    : ['–', '–', '–', '–', '0', '–'];

/** The small print under the table: what each direction's figure stands for. */
const coverageLines = (cost: PodCost) =>
  (['inbound', 'outbound'] as const).map((which) => {
    const d = cost[which];
    return d && el('li', {}, `${which}: ${coverageNote(d)}`);
  });

const resourceCells = (label: string, p: ProcessCost | null) => [
  label,
  p?.cpuMsPer1kRequests === null || p === null ? '–' : `${formatNumber(p.cpuMsPer1kRequests)} ms`,
  p ? formatNumber(p.millicores) : '–',
  p?.rssMb === null || p === null ? '–' : `${formatNumber(p.rssMb)} MB`,
];

export function podPanel(
  pod: TopologyPod,
  cost: PodCost | undefined,
  processes: readonly TopologyProcess[],
  selectedProcess?: string,
): HTMLElement {
  const labels = Object.entries(pod.labels ?? {});
  return el(
    'section',
    { class: 'panel pod-panel', attrs: { 'data-pod': pod.id } },
    el('h2', {}, `${pod.namespace}/${pod.name}`),
    el(
      'p',
      { class: 'muted' },
      `node ${pod.node} · ${pod.source.replace('POD_SOURCE_', '').toLowerCase()}${cost ? ` · mesh: ${cost.mode}` : ''}`,
    ),
    labels.length > 0 &&
      el('p', { class: 'labels' }, ...labels.map(([k, v]) => el('code', {}, `${k}=${v}`))),
    cost && proxyHeading(cost)
      ? el(
          'div',
          {},
          el('h3', {}, `${proxyHeading(cost)} · ${formatRate(cost.requestsPerS, ' req/s')}`),
          table(
            ['direction', 'p50', 'p90', 'p99', 'share', 'requests', 'coverage'],
            [
              ['inbound', ...latencyCells(cost.inbound)],
              ['outbound', ...latencyCells(cost.outbound)],
            ],
            { class: 'grid added-latency' },
          ),
          el('ul', { class: 'coverage' }, ...coverageLines(cost)),
        )
      : el('p', { class: 'muted' }, modeNote(cost)),
    // A node proxy's pod: its cost is in the pods it serves, as the note above says.
    cost &&
      cost.mode !== 'node-proxy' &&
      el(
        'div',
        {},
        el('h3', {}, 'Cost'),
        table(
          ['process', 'CPU / 1k req', 'millicores', 'memory'],
          [resourceCells(proxyCostLabel(cost), cost.sidecar), resourceCells('app', cost.app)],
          { class: 'grid cost' },
        ),
      ),
    el('h3', {}, 'Processes'),
    table(
      ['name', 'pid', 'container', 'role', 'command'],
      processes.map((p) => [p.comm, p.pid, p.container, p.role, p.cmdline.join(' ') || p.exe]),
      {
        class: 'grid processes',
        rowClass: (i) => (processes[i]!.id === selectedProcess ? 'selected' : undefined),
      },
    ),
  );
}

/** A process outside any pod, or a peer outside the profiled nodes. */
export function nodePanel(item: TopologyProcess | TopologyExternal): HTMLElement {
  if ('address' in item && item.kind === 'folded')
    return el(
      'section',
      { class: 'panel' },
      el('h2', {}, externalLabel(item)),
      el(
        'p',
        { class: 'muted' },
        item.port > 0
          ? 'Servers a client’s edges had no room for in the kernel, summed: their counts are exact in total, not per server.'
          : 'Clients of a listener past the ones the kernel keeps apart each interval (tollgate agent --clients-per-listener), summed: their counts are exact in total, not per client.',
      ),
    );
  if ('address' in item)
    return el(
      'section',
      { class: 'panel' },
      el('h2', {}, item.name ?? `${item.address}:${item.port}`),
      el('p', {}, `address ${item.address}:${item.port}`),
      el(
        'p',
        { class: 'muted' },
        item.kind
          ? `a ${item.kind} outside the profiled nodes`
          : 'a peer outside the profiled nodes',
      ),
    );
  return el(
    'section',
    { class: 'panel' },
    el('h2', {}, item.comm),
    table(
      ['pid', 'node', 'role', 'executable', 'command'],
      [[item.pid, item.node, item.role, item.exe, item.cmdline.join(' ')]],
    ),
  );
}
