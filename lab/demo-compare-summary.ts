// What `tollgate demo --mode compare` reports: the same chain built three ways (plain,
// with sidecars, enrolled in the ambient mesh) in one lab, loaded at the same rate in
// turns, side by side; and the text it prints. Pure. The end-to-end figures are the
// load generator's own; Tollgate's are its added latency along the path; the mesh's
// processes' CPU and memory are from /proc.
import type { LoadResult } from '../daemonset/load/load.js';
import type { ChainMesh, ChainPrefix, MeshPath } from './bookinfo.js';
import {
  type AgentMeasurement,
  addedEndToEnd,
  agentSummary,
  closingRows,
  type EndToEndAdded,
  fmt,
  type LoadCounts,
  loadCounts,
  loadMeanMs,
  type MeanAndP50,
  meshProcessCost,
  type NodeProxyMeasurement,
  type PodMeasurement,
  type PodSummary,
  pathSum,
  podSummary,
  proxySum,
  type Quantiles,
  quantiles,
  round,
  type Usage,
  unexplained,
} from './demo-summary.js';

export interface ComparedChain {
  /** Its pods' names begin with this. */
  prefix: ChainPrefix;
  /** The load generator's own timings of this chain. */
  end_to_end_ms: Quantiles & { mean: number | null } & LoadCounts;
  /** What the load generator sees this chain add over the plain one; null for plain. */
  added_over_plain_ms: EndToEndAdded | null;
  /** Tollgate's added latency of the mesh's proxy at each crossing, summed; null for plain. */
  tollgate_sum_ms: MeanAndP50 | null;
  /** added_over_plain_ms minus tollgate_sum_ms; null for plain. */
  unexplained_ms: MeanAndP50 | null;
  /**
   * Per request, the run-queue wait of other processes behind the mesh's proxy at each
   * crossing, summed the same way (DirectionCost.neighbourWaitMsPerRequest): a cost to
   * the processes beside the proxy, not in the sum above. null for plain.
   */
  neighbour_wait_ms: number | null;
  /** Proxy crossings along a request's path (0 for plain). */
  crossings: number;
  /**
   * The mesh's own processes over the run, from /proc: the chain's sidecars summed, or the
   * node proxy once. CPU per 1,000 requests into the chain (its entry app's count); RSS
   * at the end of the run. null for plain.
   */
  mesh: null | {
    proxy: 'sidecar' | 'node proxy';
    processes: number;
    cpu_ms_per_1k_requests: number | null;
    rss_mb: number;
  };
  pods: PodSummary[];
}

export interface CompareSummary {
  mode: 'compare';
  lab: string;
  duration_s: number;
  rate: number;
  modes: Record<ChainMesh, ComparedChain>;
  agent: { millicores: number | null; rss_mb: number | null; lost_events: number };
  web_url: string;
  note: string;
}

/** One chain's run: its load generator's result and its four pods. */
export interface ChainRun {
  prefix: ChainPrefix;
  load: LoadResult;
  pods: readonly PodMeasurement[];
  /** Its proxy crossings; none for plain. */
  path: MeshPath;
  /** Its entry pod: its app's requests are the chain's. */
  entry: string;
}

export interface CompareInput {
  lab: string;
  runs: Record<ChainMesh, ChainRun>;
  /** The node proxy, which serves the ambient chain alone. */
  nodeProxy: NodeProxyMeasurement;
  agent: AgentMeasurement;
  webUrl: string;
}

export const COMPARE_NOTE =
  'How this was measured: the three chains are the same apps, each in four pods of its ' +
  'own in one lab, loaded at the same rate from one load generator pod, taking turns of ' +
  'about 1.5 s, interleaved, so that none slows another and they share the machine ' +
  'alike; both meshes speak mutual TLS between pods (the sidecars too, here). End to ' +
  "end: the load generator's own timings, and " +
  "each meshed chain's p50 and mean minus the plain chain's. Tollgate's sum: its added " +
  "latency of the mesh's proxy at each crossing, measured in the kernel per request, " +
  "replicas weighted by their requests. The mesh's CPU and RSS are from /proc over the " +
  'run: the four sidecars summed, the node proxy (serving the ambient chain alone) once; ' +
  'CPU per 1,000 requests into the chain, RSS at the end of the run.';

function compared(
  run: ChainRun,
  plain: LoadResult | null,
  mesh: ComparedChain['mesh'],
): ComparedChain {
  const sum = plain ? proxySum(run.path, run.pods) : null;
  const added = plain ? addedEndToEnd(run.load, plain) : null;
  const m = loadMeanMs(run.load);
  return {
    prefix: run.prefix,
    end_to_end_ms: {
      ...quantiles(run.load),
      mean: m === null ? null : round(m),
      ...loadCounts(run.load),
    },
    added_over_plain_ms: added,
    tollgate_sum_ms: sum,
    unexplained_ms: added && sum ? unexplained(added, sum) : null,
    neighbour_wait_ms: plain
      ? pathSum(run.path, run.pods, (d) => d.neighbourWaitMsPerRequest)
      : null,
    crossings: run.path.length,
    mesh,
    pods: run.pods.map(podSummary),
  };
}

const chainRequests = (run: ChainRun) => run.pods.find((p) => p.name === run.entry)?.requests ?? 0;

export function compareSummary(input: CompareInput): CompareSummary {
  const { plain, sidecar, ambient } = input.runs;
  const sidecars = sidecar.pods.flatMap((p): Usage[] => (p.sidecar ? [p.sidecar] : []));
  return {
    mode: 'compare',
    lab: input.lab,
    duration_s: plain.load.durationS,
    rate: plain.load.rate,
    modes: {
      plain: compared(plain, null, null),
      sidecar: compared(sidecar, plain.load, {
        proxy: 'sidecar',
        processes: sidecars.length,
        ...meshProcessCost(sidecars, chainRequests(sidecar)),
      }),
      ambient: compared(ambient, plain.load, {
        proxy: 'node proxy',
        processes: 1,
        ...meshProcessCost([input.nodeProxy.usage], chainRequests(ambient)),
      }),
    },
    agent: agentSummary(input.agent),
    web_url: input.webUrl,
    note: COMPARE_NOTE,
  };
}

const ORDER: readonly ChainMesh[] = ['plain', 'sidecar', 'ambient'];

export function renderCompare(s: CompareSummary): string {
  const row = (label: string, cell: (c: ComparedChain) => string) =>
    `  ${label.padEnd(40)}${ORDER.map((m) => cell(s.modes[m]).padStart(14)).join('')}`;
  const signed = (v: number | null | undefined) =>
    v === undefined ? '—' : `${v !== null && v > 0 ? '+' : ''}${fmt(v, ' ms')}`;
  const crossings = s.modes.sidecar.crossings;
  const podNames = s.modes.plain.pods.map((p) => p.name.slice(s.modes.plain.prefix.length));
  const podRow = (name: string) => {
    const cell = (mesh: ChainMesh) => {
      const p = s.modes[mesh].pods.find((x) => x.name === `${s.modes[mesh].prefix}${name}`);
      const proxy = p?.sidecar ?? p?.node_proxy;
      const inOut = `${fmt(proxy?.added_latency_ms.inbound?.p50 ?? null)} / ${fmt(proxy?.added_latency_ms.outbound?.p50 ?? null)}`;
      const share = p?.node_proxy?.share?.share;
      return `${(p?.mode ?? '—').padEnd(9)}${inOut.padStart(13)}${share == null ? '' : ` ${(share * 100).toFixed(0)}%`.padStart(5)}`;
    };
    return `  ${name.padEnd(14)}${cell('sidecar').padEnd(30)}${cell('ambient')}`;
  };
  return [
    `Tollgate demo (compare), lab ${s.lab}: the same chain three ways, ${s.rate} req/s for ${s.duration_s} s into each, taking turns (open loop)`,
    '',
    `  ${''.padEnd(40)}${ORDER.map((m) => m.padStart(14)).join('')}`,
    row('requests ok / failed', (c) => `${c.end_to_end_ms.ok} / ${c.end_to_end_ms.failed}`),
    row('end to end p50 (load generator)', (c) => fmt(c.end_to_end_ms.p50, ' ms')),
    row('end to end mean (load generator)', (c) => fmt(c.end_to_end_ms.mean, ' ms')),
    row('added over plain, p50', (c) => signed(c.added_over_plain_ms?.p50)),
    row('added over plain, mean', (c) => signed(c.added_over_plain_ms?.mean)),
    row('  its margin (95%, from the turns)', (c) =>
      c.added_over_plain_ms ? `± ${fmt(c.added_over_plain_ms.mean_margin, ' ms')}` : '—',
    ),
    row(`Tollgate's added latency summed, p50`, (c) =>
      c.tollgate_sum_ms ? fmt(c.tollgate_sum_ms.p50, ' ms') : '—',
    ),
    row(`  the same, mean (${crossings} crossings)`, (c) =>
      c.tollgate_sum_ms ? fmt(c.tollgate_sum_ms.mean, ' ms') : '—',
    ),
    row('unexplained remainder, mean', (c) => signed(c.unexplained_ms?.mean)),
    row("neighbours' wait, not in the sum", (c) =>
      c.crossings > 0 ? fmt(c.neighbour_wait_ms, ' ms') : '—',
    ),
    row("the mesh's processes", (c) =>
      c.mesh ? `${c.mesh.processes} ${c.mesh.proxy}${c.mesh.processes === 1 ? '' : 's'}` : '—',
    ),
    row('  their CPU per 1,000 requests', (c) =>
      c.mesh ? fmt(c.mesh.cpu_ms_per_1k_requests, ' ms') : '—',
    ),
    row('  their RSS', (c) => (c.mesh ? fmt(c.mesh.rss_mb, ' MB') : '—')),
    '',
    "  Per pod: the mode Tollgate detected, its added latency p50 inbound / outbound (ms), and an ambient pod's share of the node proxy",
    `  ${'pod'.padEnd(14)}${'sidecar'.padEnd(30)}ambient`,
    ...podNames.map(podRow),
    ...closingRows(s),
  ].join('\n');
}
