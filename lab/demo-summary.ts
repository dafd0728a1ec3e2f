// What the demo reports for one meshed chain against the plain one (--mode sidecar or
// ambient), computed from its measurements, and the text it prints. Pure. The pieces the
// three-way comparison shares (a pod's row, the sum along a path, the mesh's processes'
// cost) are exported for lab/demo-compare-summary.ts.

import type { LoadResult } from '../daemonset/load/load.js';
import type { ProcessResources } from '../daemonset/proc-resources.js';
import type { DirectionCost, MeshMode, PodCost, ShareMethod } from '../proto/api.js';
import { mean } from '../proto/histogram.js';
import type { Waterfall, WaterfallPart } from '../web/src/model/waterfall.js';
import type { ChainMesh, MeshPath } from './bookinfo.js';

/** A process's counters before and after the load. */
export interface Usage {
  before: ProcessResources;
  after: ProcessResources;
}

export interface PodMeasurement {
  name: string;
  /** How the demo built it: with a sidecar, enrolled in the ambient mesh, or neither. */
  builtAs: ChainMesh;
  /** Requests the pod's app served during the run (its own counter). */
  requests: number;
  app: Usage;
  /** Its sidecar, for a pod built with one. */
  sidecar?: Usage;
  /** What Tollgate (agent + collector) measured for the pod over the load. */
  profile?: PodCost;
}

/**
 * The ambient mesh's node proxy, sampled once for all the pods it serves: the haproxy
 * worker that holds their sockets (its master serves no traffic).
 */
export interface NodeProxyMeasurement {
  /** The pod it lives in (the lab's NODE_PROXY_POD). */
  pod: string;
  pid: number;
  usage: Usage;
}

/** The agent's own cost over the run, as the collector received it. */
export interface AgentMeasurement {
  millicores: number | null;
  rssMb: number | null;
  lostEvents: number;
}

export interface Quantiles {
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

export interface ProcessCost {
  cpu_ms_per_1k_requests: number | null;
  rss_mb: number;
}

export interface AddedLatency extends Quantiles {
  mean: number | null;
  /** Requests that crossed the proxy in this direction. */
  requests: number;
  /** The share of them the figure covers (both hops paired); null without requests. */
  coverage: number | null;
  /** Added mean over the mean exchange latency downstream of the proxy. */
  overhead_share: number | null;
}

export interface MeanAndP50 {
  p50: number | null;
  mean: number | null;
}

/** A chain's load: its requests answered and failed, and how late it started. */
export interface LoadCounts {
  ok: number;
  failed: number;
  /**
   * How much later than planned its load generator began its turns, ms (0: on time; null:
   * not started at a set time). Where it passes the gap between turns, the chains' turns
   * overlapped by the difference, and their A/B is not clean.
   */
  started_late_ms: number | null;
}

/** The counts of one chain's load. */
export const loadCounts = (r: LoadResult): LoadCounts => ({
  ok: r.ok,
  failed: r.errors + r.timeouts,
  started_late_ms: r.startLateMs === undefined ? null : Math.round(r.startLateMs),
});

/** What the load generator sees one chain add over another. */
export interface EndToEndAdded extends MeanAndP50 {
  /**
   * The mean's margin, about 95%. From the chains' turns (mean_margin_from 'turns'): the
   * turns are paired in time (each of one chain's beside the other's), so the spread of
   * the pairs' differences holds both the requests' own spread and what moved from one
   * moment of the machine to the next; Student's t over them. Without two turns each, from
   * the requests ('requests'): two standard errors of the difference of the two means,
   * which takes every request as independent of the others and so may be small. null
   * without two requests each.
   */
  mean_margin: number | null;
  mean_margin_from: 'turns' | 'requests' | null;
}

/**
 * The check of the headline figure against the demo's own A/B: the proxies' added
 * latency summed along a request's path (replicas weighted by their requests), against
 * what the load generator sees the meshed chain add over the unmeshed one. The sum is
 * named for whose crossings they are: `sidecar_sum_ms` (sidecar mode) or
 * `node_proxy_sum_ms` (ambient mode, the node proxy through each pod's namespace).
 */
interface ChainCheckOf {
  crossings: number;
  end_to_end_added_ms: EndToEndAdded;
  /** End to end minus the proxies' sum: what the per-crossing figures do not explain. */
  unexplained_ms: MeanAndP50;
  /**
   * The run-queue wait of other processes behind the proxies, per request, summed along the
   * path as the added latency is (DirectionCost.neighbourWaitMsPerRequest): the CPU they
   * took from the apps and the load beside them, not in the sum; null where a crossing
   * saw no requests (0 where the kernel did not count it: no hook, an older agent).
   */
  neighbour_wait_ms: number | null;
}
export type SidecarChainCheck = ChainCheckOf & { sidecar_sum_ms: MeanAndP50 };
export type NodeProxyChainCheck = ChainCheckOf & { node_proxy_sum_ms: MeanAndP50 };

export interface DemoWaterfall {
  path: string[];
  total_ms: number;
  load_generator_mean_ms: number | null;
  parts: { part: string; mean_ms: number }[];
  in_no_part_ms: number;
}

/** A pod's sidecar: CPU and RSS from /proc, added latency from Tollgate. */
export interface SidecarPart extends ProcessCost {
  proxy: string;
  added_latency_ms: { inbound: AddedLatency | null; outbound: AddedLatency | null };
}

/**
 * An ambient pod's part of the node proxy, all as Tollgate gives it (PodCost): the
 * proxy's CPU and memory at the pod's share (per 1,000 of the pod's requests as Tollgate
 * counts them), the share and its method, and the node proxy's added latency through the
 * pod's namespace.
 */
export interface NodeProxyPart {
  proxy: string | null;
  share: {
    method: ShareMethod;
    share: number | null;
    by_method: { on_cpu: number | null; bytes: number | null };
  } | null;
  cpu_ms_per_1k_requests: number | null;
  rss_mb: number | null;
  added_latency_ms: { inbound: AddedLatency | null; outbound: AddedLatency | null };
}

export interface PodSummary {
  namespace: string;
  name: string;
  requests: number;
  /** How the demo built it (the truth the detected mode is to match). */
  built_as: ChainMesh;
  /** The mesh mode Tollgate detected (PodCost.mode); null when it did not see the pod. */
  mode: MeshMode | null;
  /** Why Tollgate says that mode (PodCost.modeSigns). */
  mode_signs: string[];
  app: ProcessCost;
  /** For a pod built with a sidecar. */
  sidecar: SidecarPart | null;
  /** For a pod built into the ambient mesh. */
  node_proxy: NodeProxyPart | null;
}

/** The node proxy, counted once for the chain it serves: from /proc over the run. */
export interface NodeProxyTotal {
  pod: string;
  pid: number;
  cpu_ms: number;
  /** Per 1,000 requests into the chain (its entry app's count). */
  cpu_ms_per_1k_requests: number | null;
  rss_mb: number;
  /**
   * Tollgate's shares of its CPU put to the chain's pods, summed over them (each pod's
   * CPU per 1,000 requests times its requests): against cpu_ms, the apportioning checked.
   * null when a pod lacks the figure.
   */
  tollgate_shares_cpu_ms: number | null;
}

interface DemoSummaryOf {
  lab: string;
  duration_s: number;
  rate: number;
  end_to_end_ms: {
    meshed: Quantiles & LoadCounts;
    unmeshed: Quantiles & LoadCounts;
    added: Quantiles;
  };
  /**
   * Where a request of the meshed chain goes, by means (web/src/model/waterfall.ts, as the
   * viewer shows it): the total at the load generator's socket, beside the load
   * generator's own mean as an independent check, and what no part holds. Sidecar mode
   * only: the model follows a request through pods' own proxies.
   */
  waterfall: DemoWaterfall | null;
  pods: PodSummary[];
  agent: { millicores: number | null; rss_mb: number | null; lost_events: number };
  web_url: string;
  note: string;
}

export interface SidecarDemoSummary extends DemoSummaryOf {
  mode: 'sidecar';
  chain: SidecarChainCheck;
}

export interface AmbientDemoSummary extends DemoSummaryOf {
  mode: 'ambient';
  chain: NodeProxyChainCheck;
  node_proxy: NodeProxyTotal;
}

export type DemoSummary = SidecarDemoSummary | AmbientDemoSummary;

export const round = (v: number, digits = 3) => Number(v.toFixed(digits));

const cpuMsOf = (u: Usage) =>
  (u.after.cpuUserNs + u.after.cpuSystemNs - u.before.cpuUserNs - u.before.cpuSystemNs) / 1e6;

function cost(u: Usage, requests: number): ProcessCost {
  return {
    cpu_ms_per_1k_requests: perThousand(cpuMsOf(u), requests),
    rss_mb: round(u.after.rssBytes / 2 ** 20, 1),
  };
}

const perThousand = (cpuMs: number, requests: number) =>
  requests > 0 ? round((cpuMs * 1000) / requests, 1) : null;

/**
 * The mesh's own processes over a run, from /proc: CPU per 1,000 requests into the chain
 * (`requests`) and resident memory at the end, summed over `processes`.
 */
export function meshProcessCost(processes: readonly Usage[], requests: number): ProcessCost {
  const cpuMs = processes.reduce((n, u) => n + cpuMsOf(u), 0);
  const rss = processes.reduce((n, u) => n + u.after.rssBytes, 0);
  return { cpu_ms_per_1k_requests: perThousand(cpuMs, requests), rss_mb: round(rss / 2 ** 20, 1) };
}

/**
 * The load's figures counted from when the generator issued each request (the demo asks
 * for them, LoadOptions.countFromIssue): its timer issues a request 0.5-0.7 ms after it is
 * due, by an amount that moves with when the path's replies wake it
 * (daemonset/load/load.ts), which is the generator's own time, not the mesh's. A load
 * without them is refused rather than read from its due times, so that a difference is
 * never taken between the two counts.
 */
export function issued(load: LoadResult): LoadResult {
  if (!load.fromIssue)
    throw new Error(`the load of ${load.url} was not counted from each request's issue`);
  return { ...load, ...load.fromIssue };
}

export function quantiles(load: LoadResult): Quantiles {
  const r = issued(load);
  return {
    p50: r.p50Ms && round(r.p50Ms),
    p90: r.p90Ms && round(r.p90Ms),
    p99: r.p99Ms && round(r.p99Ms),
  };
}

function difference(a: Quantiles, b: Quantiles): Quantiles {
  const d = (x: number | null, y: number | null) =>
    x === null || y === null ? null : round(x - y);
  return { p50: d(a.p50, b.p50), p90: d(a.p90, b.p90), p99: d(a.p99, b.p99) };
}

function added(d: DirectionCost | null | undefined): AddedLatency | null {
  if (!d) return null;
  return {
    p50: d.addedLatency.p50Ms,
    p90: d.addedLatency.p90Ms,
    p99: d.addedLatency.p99Ms,
    mean: d.addedLatency.meanMs,
    requests: d.requests,
    coverage: d.coverage,
    overhead_share: d.overheadShare,
  };
}

/**
 * A figure of the proxies summed along the path: per crossing, its replicas' figures
 * weighted by their requests; null where a crossing has none.
 */
export function pathSum(
  path: MeshPath,
  pods: readonly PodMeasurement[],
  pick: (d: DirectionCost) => number | null,
): number | null {
  let sum: number | null = 0;
  for (const crossing of path) {
    const costs = crossing.replicas
      .map((name) => pods.find((p) => p.name === name)?.profile?.[crossing.direction])
      .filter((d): d is DirectionCost => !!d && d.requests > 0);
    const requests = costs.reduce((n, d) => n + d.requests, 0);
    const value =
      requests === 0 || costs.some((d) => pick(d) === null)
        ? null
        : costs.reduce((s, d) => s + pick(d)! * d.requests, 0) / requests;
    sum = sum === null || value === null ? null : sum + value;
  }
  return sum === null ? null : round(sum);
}

/** The sum over a path's crossings of each crossing's added latency; null if one lacks it. */
export function proxySum(path: MeshPath, pods: readonly PodMeasurement[]): MeanAndP50 {
  return {
    p50: pathSum(path, pods, (d) => d.addedLatency.p50Ms),
    mean: pathSum(path, pods, (d) => d.addedLatency.meanMs),
  };
}

/**
 * The load generator's own mean latency, counted from each request's issue, in ms: exact,
 * from the raw values (from the histogram's buckets in results before that was kept).
 */
export function loadMeanMs(r: LoadResult): number | null {
  const summary = issued(r);
  if (summary.meanMs !== undefined) return summary.meanMs;
  const m = mean(summary.latency);
  return m === undefined ? null : m / 1e6;
}

/** Two-sided 95% quantiles of Student's t by degrees of freedom, 1 to 30; 1.96 past. */
const STUDENT_T_95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145,
  2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048,
  2.045, 2.042,
];

/**
 * The 95% margin of the mean of paired differences (turn by turn, meshed less unmeshed):
 * t times their standard error. null without two pairs of turns that both had requests.
 */
export function pairedMargin(
  meshed: readonly (number | null)[],
  unmeshed: readonly (number | null)[],
): number | null {
  if (meshed.length !== unmeshed.length) return null;
  const d: number[] = [];
  for (const [k, m] of meshed.entries()) {
    const u = unmeshed[k];
    if (m !== null && u != null) d.push(m - u);
  }
  if (d.length < 2) return null;
  const meanD = d.reduce((a, b) => a + b, 0) / d.length;
  const sd = Math.sqrt(d.reduce((a, b) => a + (b - meanD) ** 2, 0) / (d.length - 1));
  return (STUDENT_T_95[d.length - 2] ?? 1.96) * (sd / Math.sqrt(d.length));
}

const minus = (a: number | null, b: number | null) =>
  a === null || b === null ? null : round(a - b);

/** What the load generator sees one chain add over another: p50 and mean, its margin. */
export function addedEndToEnd(meshed: LoadResult, unmeshed: LoadResult): EndToEndAdded {
  const m = issued(meshed);
  const u = issued(unmeshed);
  const variance = (r: LoadResult) =>
    r.stddevMs == null || r.ok < 2 ? null : r.stddevMs ** 2 / r.ok;
  const vm = variance(m);
  const vu = variance(u);
  const byTurns =
    m.turnMeansMs && u.turnMeansMs ? pairedMargin(m.turnMeansMs, u.turnMeansMs) : null;
  const byRequests = vm === null || vu === null ? null : 2 * Math.sqrt(vm + vu);
  return {
    p50: minus(m.p50Ms, u.p50Ms),
    mean: minus(loadMeanMs(meshed), loadMeanMs(unmeshed)),
    mean_margin: byTurns !== null ? round(byTurns) : byRequests !== null ? round(byRequests) : null,
    mean_margin_from: byTurns !== null ? 'turns' : byRequests !== null ? 'requests' : null,
  };
}

/** End to end minus the proxies' sum. */
export function unexplained(endToEnd: MeanAndP50, sum: MeanAndP50): MeanAndP50 {
  return { p50: minus(endToEnd.p50, sum.p50), mean: minus(endToEnd.mean, sum.mean) };
}

/** Pod ids as the collector names them (pod:namespace/name) to the lab's pod names. */
const labName = (podId: string) =>
  podId.slice(podId.lastIndexOf('/') + 1).replace(/^tg[0-9a-f]+-/, '');

function demoWaterfall(w: Waterfall, meshed: LoadResult): DemoWaterfall {
  const lg = loadMeanMs(meshed);
  const name = (p: WaterfallPart) => {
    const pod = labName(p.pod);
    if (p.kind === 'network') return `network ${pod} -> ${labName(p.to ?? '')}`;
    if (p.kind === 'app') return `${pod} app`;
    if (p.kind === 'unexplained') return 'in no part';
    return `${pod} sidecar ${p.kind === 'sidecar-inbound' ? 'inbound' : 'outbound'}`;
  };
  const parts = w.parts.filter((p) => p.kind !== 'unexplained');
  return {
    path: w.pods.map(labName),
    total_ms: round(w.totalMs),
    load_generator_mean_ms: lg === null ? null : round(lg),
    parts: parts.map((p) => ({ part: name(p), mean_ms: round(p.meanMs) })),
    in_no_part_ms: round(w.parts.find((p) => p.kind === 'unexplained')?.meanMs ?? 0),
  };
}

/** A pod's row: its app's cost, and its sidecar's or its part of the node proxy. */
export function podSummary(p: PodMeasurement): PodSummary {
  const latency = {
    inbound: added(p.profile?.inbound),
    outbound: added(p.profile?.outbound),
  };
  const share = p.profile?.proxyShare;
  return {
    namespace: 'lab',
    name: p.name,
    requests: p.requests,
    built_as: p.builtAs,
    mode: p.profile?.mode ?? null,
    mode_signs: p.profile?.modeSigns ?? [],
    app: cost(p.app, p.requests),
    sidecar: p.sidecar
      ? {
          proxy: p.profile?.proxy ?? 'haproxy',
          ...cost(p.sidecar, p.requests),
          added_latency_ms: latency,
        }
      : null,
    node_proxy:
      p.builtAs === 'ambient'
        ? {
            proxy: p.profile?.proxy ?? null,
            share: share
              ? {
                  method: share.method,
                  share: share.share,
                  by_method: { on_cpu: share.byMethod.onCpu, bytes: share.byMethod.bytes },
                }
              : null,
            cpu_ms_per_1k_requests: p.profile?.sidecar?.cpuMsPer1kRequests ?? null,
            rss_mb: p.profile?.sidecar?.rssMb ?? null,
            added_latency_ms: latency,
          }
        : null,
  };
}

/** The node proxy counted once: /proc over the run, beside Tollgate's shares of it summed. */
export function nodeProxyTotal(
  proxy: NodeProxyMeasurement,
  servedPods: readonly PodMeasurement[],
  chainRequests: number,
): NodeProxyTotal {
  const cpuMs = cpuMsOf(proxy.usage);
  const shares = servedPods.map((p) => {
    const perThousandMs = p.profile?.sidecar?.cpuMsPer1kRequests;
    return perThousandMs == null ? null : (perThousandMs * p.profile!.requests) / 1000;
  });
  return {
    pod: proxy.pod,
    pid: proxy.pid,
    cpu_ms: round(cpuMs, 1),
    cpu_ms_per_1k_requests: perThousand(cpuMs, chainRequests),
    rss_mb: round(proxy.usage.after.rssBytes / 2 ** 20, 1),
    tollgate_shares_cpu_ms:
      servedPods.length > 0 && shares.every((s) => s !== null)
        ? round(
            shares.reduce((n, s) => n + s!, 0),
            1,
          )
        : null,
  };
}

export interface SummaryInput {
  lab: string;
  /** How the meshed chain is built. */
  mesh: 'sidecar' | 'ambient';
  meshed: LoadResult;
  unmeshed: LoadResult;
  pods: readonly PodMeasurement[];
  agent: AgentMeasurement;
  webUrl: string;
  /** The meshed chain's proxy crossings. */
  path: MeshPath;
  /** The meshed chain's entry pod: its app's requests are the chain's. */
  entry: string;
  /** Ambient mode: the node proxy, sampled once. */
  nodeProxy?: NodeProxyMeasurement;
  waterfall?: Waterfall | null;
}

export function agentSummary(agent: AgentMeasurement): DemoSummaryOf['agent'] {
  return {
    millicores: agent.millicores === null ? null : round(agent.millicores, 1),
    rss_mb: agent.rssMb === null ? null : round(agent.rssMb, 1),
    lost_events: agent.lostEvents,
  };
}

const SIDECAR_NOTE =
  'Added latency per sidecar and direction is measured in the kernel, per request: ' +
  'from the arrival of its bytes at the sidecar to their arrival at the next socket; ' +
  "where the sidecar and the reader (app or client) both waited, from the sidecar's " +
  "wake-up to the reader's, the sidecar's standing for the reader's without it; " +
  'where a busy sidecar let messages go at once, one that then waits at a busy reader ' +
  'runs on to its read, by ' +
  'at most the spacing the sidecar took out; both ways (p50/p90/p99); end to end, the ' +
  'same chain runs with and without sidecars under the same load, the two taking turns ' +
  "of about 1.5 s, interleaved; the margin (95%) is drawn from the turns' differences, " +
  "each turn of one beside the other's. CPU and RSS are from /proc.";

const AMBIENT_NOTE =
  "Added latency per pod and direction is the node proxy's, measured in the kernel per " +
  "request at its sockets in that pod's namespace: from the arrival of the bytes to " +
  'their arrival at the next socket; where the proxy and the reader both waited, from the ' +
  "proxy's wake-up to the reader's, the proxy's standing for the reader's without it; " +
  'where the busy proxy let messages go at once, one that then waits at a busy reader ' +
  'runs on to its ' +
  'read, by at most the spacing the proxy took out; both ways (p50/p90/p99); ' +
  'end to end, the same chain runs enrolled in the ambient mesh and without a mesh under ' +
  'the same load, the two taking turns of about 1.5 s, interleaved. The node ' +
  "proxy's CPU and RSS are from /proc, counted once for the chain; each pod's part of " +
  "them is Tollgate's, at the pod's share of the node proxy: its threads' on-CPU time " +
  "while serving the pod's sockets, where the kernel timed it, else its bytes. Apps' CPU and RSS " +
  'are from /proc.';

/**
 * What the note adds where some of the pods' hand-offs were not timed from wake-up to
 * wake-up, as the note says they are: '' where all were (or none came).
 */
export function handoffNote(pods: readonly PodMeasurement[]): string {
  const directions = pods.flatMap((p) => [p.profile?.inbound, p.profile?.outbound]);
  const some = (k: 'reads' | 'notSaid') => directions.some((d) => (d?.handoffsByEnds[k] ?? 0) > 0);
  return [
    some('reads')
      ? " Here some hand-offs ran from read to read: the agent had no hook on the scheduler's switches (none in its kernel, or its attach failed)."
      : '',
    some('notSaid') ? ' Here an older agent did not say where its hand-offs began and ended.' : '',
  ].join('');
}

export function summarize(input: SummaryInput): DemoSummary {
  const { meshed, unmeshed } = input;
  const m = quantiles(meshed);
  const u = quantiles(unmeshed);
  const sum = proxySum(input.path, input.pods);
  const endToEnd = addedEndToEnd(meshed, unmeshed);
  const common: DemoSummaryOf = {
    lab: input.lab,
    duration_s: meshed.durationS,
    rate: meshed.rate,
    end_to_end_ms: {
      meshed: { ...m, ...loadCounts(meshed) },
      unmeshed: { ...u, ...loadCounts(unmeshed) },
      added: difference(m, u),
    },
    waterfall: input.waterfall ? demoWaterfall(input.waterfall, meshed) : null,
    pods: input.pods.map(podSummary),
    agent: agentSummary(input.agent),
    web_url: input.webUrl,
    note: (input.mesh === 'ambient' ? AMBIENT_NOTE : SIDECAR_NOTE) + handoffNote(input.pods),
  };
  const check = {
    crossings: input.path.length,
    end_to_end_added_ms: endToEnd,
    unexplained_ms: unexplained(endToEnd, sum),
    neighbour_wait_ms: pathSum(input.path, input.pods, (d) => d.neighbourWaitMsPerRequest),
  };
  if (input.mesh === 'sidecar')
    return { mode: 'sidecar', ...common, chain: { ...check, sidecar_sum_ms: sum } };
  if (!input.nodeProxy) throw new RangeError('an ambient summary needs the node proxy');
  const chainRequests = input.pods.find((p) => p.name === input.entry)?.requests ?? 0;
  return {
    mode: 'ambient',
    ...common,
    chain: { ...check, node_proxy_sum_ms: sum },
    node_proxy: nodeProxyTotal(
      input.nodeProxy,
      input.pods.filter((p) => p.builtAs === 'ambient'),
      chainRequests,
    ),
  };
}

export const fmt = (v: number | null, unit = '') => (v === null ? '—' : `${v.toFixed(2)}${unit}`);

function addedText(a: AddedLatency | null | undefined): string {
  if (!a) return '—';
  return `${fmt(a.p50)} / ${fmt(a.p99, ' ms')}`;
}

function chainRow(label: string, v: MeanAndP50, margin?: number | null): string {
  const row = `  ${label.padEnd(46)}${fmt(v.p50, ' ms').padStart(11)}${fmt(v.mean, ' ms').padStart(11)}`;
  return margin === undefined ? row : `${row} ± ${fmt(margin)}`;
}

const percent = (share: number | null | undefined) =>
  share == null ? '—' : `${(share * 100).toFixed(0)}%`;

export function renderText(s: DemoSummary): string {
  const e = s.end_to_end_ms;
  const ambient = s.mode === 'ambient';
  const row = (label: string, q: Quantiles, sign = '') =>
    `  ${label.padEnd(26)}${[q.p50, q.p90, q.p99].map((v) => `${v !== null && v > 0 ? sign : ''}${fmt(v, ' ms')}`.padStart(11)).join('')}`;
  const podRows = s.pods.map((p) => {
    const proxy = p.sidecar ?? p.node_proxy;
    return [
      `  ${p.name.padEnd(18)}`,
      (p.mode ?? '—').padStart(10),
      String(p.requests).padStart(9),
      (proxy ? fmt(proxy.cpu_ms_per_1k_requests, ' ms') : '—').padStart(14),
      (proxy ? fmt(proxy.rss_mb, ' MB') : '—').padStart(12),
      ...(ambient ? [percent(p.node_proxy?.share?.share).padStart(7)] : []),
      addedText(proxy?.added_latency_ms.inbound).padStart(18),
      addedText(proxy?.added_latency_ms.outbound).padStart(18),
      fmt(p.app.cpu_ms_per_1k_requests, ' ms').padStart(14),
      fmt(p.app.rss_mb, ' MB').padStart(11),
    ].join('');
  });
  const who = ambient ? 'proxy' : 'sidecar';
  const crossings = ambient ? 'node proxy crossings' : 'sidecar crossings';
  const sum = s.mode === 'ambient' ? s.chain.node_proxy_sum_ms : s.chain.sidecar_sum_ms;
  return [
    `Tollgate demo${ambient ? ' (ambient)' : ''}, lab ${s.lab}: ${s.rate} req/s for ${s.duration_s} s into each chain, taking turns (open loop)`,
    '',
    `  End-to-end latency           ${'p50'.padStart(8)}${'p90'.padStart(11)}${'p99'.padStart(11)}`,
    row(`mesh on  (${e.meshed.ok} ok, ${e.meshed.failed} failed)`, e.meshed),
    row(`mesh off (${e.unmeshed.ok} ok, ${e.unmeshed.failed} failed)`, e.unmeshed),
    row('what the mesh adds', e.added, '+'),
    '',
    `  Along the meshed path (${s.chain.crossings} ${crossings})`.padEnd(48) +
      `${'p50'.padStart(11)}${'mean'.padStart(11)}`,
    chainRow(
      ambient ? "node proxy's added latency, summed" : "sidecars' added latency, summed",
      sum,
    ),
    chainRow(
      'end to end, mesh on - off',
      s.chain.end_to_end_added_ms,
      s.chain.end_to_end_added_ms.mean_margin,
    ),
    chainRow('unexplained remainder', s.chain.unexplained_ms),
    `  ${"neighbours' run-queue wait, not in the sum".padEnd(46)}${''.padStart(11)}${fmt(s.chain.neighbour_wait_ms, ' ms').padStart(11)}`,
    '',
    ...waterfallRows(s.waterfall),
    ...(s.mode === 'ambient' ? nodeProxyRows(s.node_proxy) : []),
    `  ${'pod'.padEnd(18)}${'mode'.padStart(10)}${'requests'.padStart(9)}${`${who} CPU`.padStart(14)}${`${who} RSS`.padStart(12)}${ambient ? 'share'.padStart(7) : ''}${'added inbound'.padStart(18)}${'added outbound'.padStart(18)}${'app CPU'.padStart(14)}${'app RSS'.padStart(11)}`,
    `  ${''.padEnd(18)}${''.padStart(10)}${''.padStart(9)}${'per 1k req'.padStart(14)}${''.padStart(12)}${ambient ? ''.padStart(7) : ''}${'p50 / p99'.padStart(18)}${'p50 / p99'.padStart(18)}${'per 1k req'.padStart(14)}`,
    ...podRows,
    ...closingRows(s),
  ].join('\n');
}

/** The end of every demo summary's text: Tollgate's own cost, the viewer, how it was measured. */
export function closingRows(s: {
  agent: { millicores: number | null; rss_mb: number | null; lost_events: number };
  web_url: string;
  note: string;
}): string[] {
  return [
    '',
    `  Tollgate's own cost: agent ${fmt(s.agent.millicores)} millicores, ${fmt(s.agent.rss_mb, ' MB')} RSS, ${s.agent.lost_events} events lost`,
    `  Web viewer (while the demo runs): ${s.web_url}`,
    '',
    `  ${s.note}`,
  ];
}

function nodeProxyRows(n: NodeProxyTotal): string[] {
  return [
    `  The node proxy (pod ${n.pod}, pid ${n.pid}), once for the whole chain, from /proc:`,
    `  ${fmt(n.cpu_ms_per_1k_requests, ' ms')} CPU per 1,000 requests into the chain, ${fmt(n.rss_mb, ' MB')} RSS; ` +
      `over the run ${fmt(n.cpu_ms, ' ms')} CPU, of which Tollgate put ${fmt(n.tollgate_shares_cpu_ms, ' ms')} to the pods it serves`,
    "  (per pod below: Tollgate's figures for the pod's part, at its share of the node proxy by on-CPU time, or bytes where not timed)",
    '',
  ];
}

function waterfallRows(w: DemoWaterfall | null): string[] {
  if (!w) return [];
  return [
    `  Where a request's time goes (means, ${w.path.join(' -> ')})`,
    ...w.parts.map((p) => `  ${p.part.padEnd(46)}${fmt(p.mean_ms, ' ms').padStart(11)}`),
    `  ${'in no part'.padEnd(46)}${fmt(w.in_no_part_ms, ' ms').padStart(11)}`,
    `  ${"the call, at the load generator's socket".padEnd(46)}${fmt(w.total_ms, ' ms').padStart(11)}`,
    `  ${'the load generator, its own timing'.padEnd(46)}${fmt(w.load_generator_mean_ms, ' ms').padStart(11)}`,
    '',
  ];
}
