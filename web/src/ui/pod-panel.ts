// A pod's detail: its mode and why (modeSigns), its proxy's added latency per direction
// (its sidecar's, or in ambient mode the node proxy's through the pod) with how much of
// the traffic it covers and how it was made, the sidecar's share of the downstream
// latency, CPU and memory per 1,000 requests for proxy and app side by side, and its
// processes. In ambient mode, its share of the node proxy by each method and the
// waypoint's part; a shared proxy's own pod lists the pods it serves and their shares.
// Every observed string is a text node.
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
import {
  modeNote,
  proxyCostLabel,
  proxyHeading,
  shareRows,
  waypointCostLabel,
} from '../model/mesh-mode.js';
import { isAmbient, type PodRole, type ProxyShare } from '../model/shared-proxies.js';
import { button, el, table } from './dom.js';

/** A pod's place among the shared proxies (model/shared-proxies.ts), for its panel. */
export interface SharedContext {
  role: PodRole;
  /** For a shared proxy's pod: the pods it serves, with their shares. */
  serves: { pod: string; name: string; share: ProxyShare }[];
  /** The pods of the node proxy and the waypoint serving this pod, where known. */
  nodeProxy: { pod: string; name: string } | null;
  waypoint: { pod: string; name: string } | null;
  /** Opens a pod's panel. */
  open(pod: string): void;
}

/** A button naming a pod, which opens its panel. */
const podLink = (shared: SharedContext, p: { pod: string; name: string }) =>
  button(p.name, () => shared.open(p.pod), { class: 'link', attrs: { 'data-open-pod': p.pod } });

/** A share by each method, and which one the cost uses. */
const shareTable = (share: ProxyShare) =>
  table(['method', 'share', ''], shareRows(share), { class: 'grid share-methods' });

/** An ambient pod's part of the shared proxies: the node proxy's by method, the waypoint's. */
function sharesOf(cost: PodCost, shared: SharedContext | undefined): HTMLElement | false {
  if (!isAmbient(cost) || (!cost.proxyShare && !cost.waypoint)) return false;
  return el(
    'div',
    { class: 'shares' },
    cost.proxyShare &&
      el(
        'div',
        { class: 'node-proxy-share' },
        el('h3', {}, `Share of the node proxy (${cost.proxy ?? '–'})`),
        el(
          'p',
          { class: 'muted' },
          'Its CPU and memory put to this pod, split by each method; the cost below uses one.',
          shared?.nodeProxy ? ' Node proxy: ' : '',
          shared?.nodeProxy && podLink(shared, shared.nodeProxy),
        ),
        shareTable(cost.proxyShare),
      ),
    cost.waypoint &&
      el(
        'div',
        { class: 'waypoint-share' },
        el('h3', {}, `Waypoint (${cost.waypoint.proxy}) on the way in`),
        el(
          'p',
          { class: 'muted' },
          'It carries this pod’s inbound traffic between the node proxies; its part of the waypoint’s cost, by each method. Its time is not in the added latency above.',
          shared?.waypoint ? ' Waypoint: ' : '',
          shared?.waypoint && podLink(shared, shared.waypoint),
        ),
        shareTable(cost.waypoint.share),
      ),
  );
}

/** A shared proxy's pod: the pods it serves, each at its share by each method. */
function servedTable(shared: SharedContext): HTMLElement {
  const what = shared.role === 'waypoint' ? 'carries the inbound traffic of' : 'serves';
  const rows = shared.serves;
  const sum = (pick: (s: ProxyShare) => number | null) => {
    const values = rows.map((r) => pick(r.share));
    return values.every((v) => v !== null)
      ? formatPercent(values.reduce((a, b) => a + b!, 0))
      : '–';
  };
  return el(
    'div',
    { class: 'served' },
    el('h3', {}, `It ${what} ${rows.length} pod${rows.length === 1 ? '' : 's'}`),
    rows.length > 0 &&
      table(
        ['pod', 'share', 'on-cpu', 'bytes'],
        [
          ...rows.map((r) => [
            podLink(shared, r),
            `${formatPercent(r.share.share)} by ${r.share.method}`,
            formatPercent(r.share.byMethod.onCpu),
            formatPercent(r.share.byMethod.bytes),
          ]),
          ['all of them', '', sum((s) => s.byMethod.onCpu), sum((s) => s.byMethod.bytes)],
        ],
        { class: 'grid served-pods' },
      ),
  );
}

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
  shared?: SharedContext,
): HTMLElement {
  const labels = Object.entries(pod.labels ?? {});
  const role = shared?.role ?? 'app';
  const signs = cost?.modeSigns ?? [];
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
    signs.length > 0 &&
      el(
        'div',
        { class: 'mode-signs' },
        el('span', { class: 'muted' }, 'why this mode:'),
        el('ul', {}, ...signs.map((sign) => el('li', {}, sign))),
      ),
    cost && role === 'app' && proxyHeading(cost)
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
      : el('p', { class: 'muted' }, modeNote(cost, role)),
    shared && role !== 'app' && servedTable(shared),
    cost && role === 'app' && sharesOf(cost, shared),
    // A shared proxy's pod: its cost is in the pods it serves, as the note above says.
    cost &&
      role === 'app' &&
      cost.mode !== 'node-proxy' &&
      cost.mode !== 'waypoint' &&
      el(
        'div',
        {},
        el('h3', {}, 'Cost'),
        table(
          ['process', 'CPU / 1k req', 'millicores', 'memory'],
          [
            resourceCells(proxyCostLabel(cost), cost.sidecar),
            ...(cost.waypoint ? [resourceCells(waypointCostLabel(cost), cost.waypoint.cost)] : []),
            resourceCells('app', cost.app),
          ],
          { class: 'grid cost' },
        ),
        // The proxy's dashes are no zeros: why it has no figures.
        cost.sidecarUnmeasured !== null &&
          el(
            'p',
            { class: 'muted proxy-unmeasured' },
            `Proxy not measured: ${cost.sidecarUnmeasured}.`,
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
