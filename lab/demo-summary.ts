// What the demo reports, computed from its measurements, and the text it prints. Pure.

import type { LoadResult } from '../daemonset/load/load.js';
import type { ProcessResources } from '../daemonset/proc-resources.js';
import type { DirectionCost, PodCost } from '../proto/api.js';
import { mean } from '../proto/histogram.js';
import type { Waterfall, WaterfallPart } from '../web/src/model/waterfall.js';
import type { MESHED_PATH } from './bookinfo.js';

export interface PodMeasurement {
  name: string;
  meshed: boolean;
  /** Requests the pod's app served during the run (its own counter). */
  requests: number;
  app: { before: ProcessResources; after: ProcessResources };
  sidecar?: { before: ProcessResources; after: ProcessResources };
  /** What Tollgate (agent + collector) measured for the pod over the load. */
  profile?: PodCost;
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
  /** Requests that crossed the sidecar in this direction. */
  requests: number;
  /** The share of them the figure covers (both hops paired); null without requests. */
  coverage: number | null;
  /** Added mean over the mean exchange latency downstream of the sidecar. */
  overhead_share: number | null;
}

export interface MeanAndP50 {
  p50: number | null;
  mean: number | null;
}

/**
 * The check of the headline figure against the demo's own A/B: the sidecars' added
 * latency summed along a request's path (replicas weighted by their requests), against
 * what the load generator sees the meshed chain add over the unmeshed one.
 */
export interface ChainCheck {
  crossings: number;
  sidecar_sum_ms: MeanAndP50;
  end_to_end_added_ms: MeanAndP50;
  /** End to end minus the sidecars' sum: what the per-sidecar figures do not explain. */
  unexplained_ms: MeanAndP50;
}

export interface DemoWaterfall {
  path: string[];
  total_ms: number;
  load_generator_mean_ms: number | null;
  parts: { part: string; mean_ms: number }[];
  in_no_part_ms: number;
}

export interface DemoSummary {
  mode: 'profiled';
  lab: string;
  duration_s: number;
  rate: number;
  end_to_end_ms: {
    meshed: Quantiles & { ok: number; failed: number };
    unmeshed: Quantiles & { ok: number; failed: number };
    added: Quantiles;
  };
  chain: ChainCheck;
  /**
   * Where a request of the meshed chain goes, by means (web/src/model/waterfall.ts, as the
   * viewer shows it): the total at the load generator's socket, beside the load
   * generator's own mean as an independent check, and what no part holds.
   */
  waterfall: DemoWaterfall | null;
  pods: {
    namespace: string;
    name: string;
    requests: number;
    app: ProcessCost;
    sidecar:
      | null
      | (ProcessCost & {
          proxy: string;
          added_latency_ms: { inbound: AddedLatency | null; outbound: AddedLatency | null };
        });
  }[];
  agent: { millicores: number | null; rss_mb: number | null; lost_events: number };
  web_url: string;
  note: string;
}

const round = (v: number, digits = 3) => Number(v.toFixed(digits));

function cost(
  m: { before: ProcessResources; after: ProcessResources },
  requests: number,
): ProcessCost {
  const cpuMs =
    (m.after.cpuUserNs + m.after.cpuSystemNs - m.before.cpuUserNs - m.before.cpuSystemNs) / 1e6;
  return {
    cpu_ms_per_1k_requests: requests > 0 ? round((cpuMs * 1000) / requests, 1) : null,
    rss_mb: round(m.after.rssBytes / 2 ** 20, 1),
  };
}

function quantiles(r: LoadResult): Quantiles {
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

type Path = typeof MESHED_PATH;

/** The sum over a path's crossings of each crossing's added latency; null if one lacks it. */
function sidecarSum(path: Path, pods: readonly PodMeasurement[]): MeanAndP50 {
  let p50: number | null = 0;
  let avg: number | null = 0;
  for (const crossing of path) {
    const costs = crossing.replicas
      .map((name) => pods.find((p) => p.name === name)?.profile?.[crossing.direction])
      .filter((d): d is DirectionCost => !!d && d.requests > 0);
    const requests = costs.reduce((n, d) => n + d.requests, 0);
    const weighted = (pick: (d: DirectionCost) => number | null) =>
      costs.some((d) => pick(d) === null)
        ? null
        : costs.reduce((s, d) => s + pick(d)! * d.requests, 0) / requests;
    const cp50 = requests > 0 ? weighted((d) => d.addedLatency.p50Ms) : null;
    const cmean = requests > 0 ? weighted((d) => d.addedLatency.meanMs) : null;
    p50 = p50 === null || cp50 === null ? null : p50 + cp50;
    avg = avg === null || cmean === null ? null : avg + cmean;
  }
  return { p50: p50 === null ? null : round(p50), mean: avg === null ? null : round(avg) };
}

function chainCheck(
  path: Path,
  pods: readonly PodMeasurement[],
  meshed: LoadResult,
  unmeshed: LoadResult,
): ChainCheck {
  const sum = sidecarSum(path, pods);
  const meanMs = (r: LoadResult) => {
    const m = mean(r.latency);
    return m === undefined ? null : m / 1e6;
  };
  const mMean = meanMs(meshed);
  const uMean = meanMs(unmeshed);
  const endToEnd = {
    p50:
      meshed.p50Ms === null || unmeshed.p50Ms === null
        ? null
        : round(meshed.p50Ms - unmeshed.p50Ms),
    mean: mMean === null || uMean === null ? null : round(mMean - uMean),
  };
  const minus = (a: number | null, b: number | null) =>
    a === null || b === null ? null : round(a - b);
  return {
    crossings: path.length,
    sidecar_sum_ms: sum,
    end_to_end_added_ms: endToEnd,
    unexplained_ms: { p50: minus(endToEnd.p50, sum.p50), mean: minus(endToEnd.mean, sum.mean) },
  };
}

/** Pod ids as the collector names them (pod:namespace/name) to the lab's pod names. */
const labName = (podId: string) =>
  podId.slice(podId.lastIndexOf('/') + 1).replace(/^tg[0-9a-f]+-/, '');

function demoWaterfall(w: Waterfall, meshed: LoadResult): DemoWaterfall {
  const lg = mean(meshed.latency);
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
    load_generator_mean_ms: lg === undefined ? null : round(lg / 1e6),
    parts: parts.map((p) => ({ part: name(p), mean_ms: round(p.meanMs) })),
    in_no_part_ms: round(w.parts.find((p) => p.kind === 'unexplained')?.meanMs ?? 0),
  };
}

export function summarize(
  lab: string,
  meshed: LoadResult,
  unmeshed: LoadResult,
  pods: readonly PodMeasurement[],
  agent: AgentMeasurement,
  webUrl: string,
  path: Path,
  requestWaterfall: Waterfall | null = null,
): DemoSummary {
  const m = quantiles(meshed);
  const u = quantiles(unmeshed);
  return {
    mode: 'profiled',
    lab,
    duration_s: meshed.durationS,
    rate: meshed.rate,
    end_to_end_ms: {
      meshed: { ...m, ok: meshed.ok, failed: meshed.errors + meshed.timeouts },
      unmeshed: { ...u, ok: unmeshed.ok, failed: unmeshed.errors + unmeshed.timeouts },
      added: difference(m, u),
    },
    chain: chainCheck(path, pods, meshed, unmeshed),
    waterfall: requestWaterfall && demoWaterfall(requestWaterfall, meshed),
    pods: pods.map((p) => ({
      namespace: 'lab',
      name: p.name,
      requests: p.requests,
      app: cost(p.app, p.requests),
      sidecar: p.sidecar
        ? {
            proxy: p.profile?.proxy ?? 'haproxy',
            ...cost(p.sidecar, p.requests),
            added_latency_ms: {
              inbound: added(p.profile?.inbound),
              outbound: added(p.profile?.outbound),
            },
          }
        : null,
    })),
    agent: {
      millicores: agent.millicores === null ? null : round(agent.millicores, 1),
      rss_mb: agent.rssMb === null ? null : round(agent.rssMb, 1),
      lost_events: agent.lostEvents,
    },
    web_url: webUrl,
    note:
      'Added latency per sidecar and direction is measured in the kernel, per request: ' +
      'from the arrival of its bytes at the sidecar to their forward, both ways ' +
      '(p50/p90/p99); end to end, the same chain runs with and without sidecars under the ' +
      'same load at the same time. CPU and RSS are from /proc.',
  };
}

const fmt = (v: number | null, unit = '') => (v === null ? '—' : `${v.toFixed(2)}${unit}`);

function addedText(a: AddedLatency | null | undefined): string {
  if (!a) return '—';
  return `${fmt(a.p50)} / ${fmt(a.p99, ' ms')}`;
}

function chainRow(label: string, v: MeanAndP50): string {
  return `  ${label.padEnd(44)}${fmt(v.p50, ' ms').padStart(11)}${fmt(v.mean, ' ms').padStart(11)}`;
}

export function renderText(s: DemoSummary): string {
  const e = s.end_to_end_ms;
  const row = (label: string, q: Quantiles, sign = '') =>
    `  ${label.padEnd(26)}${[q.p50, q.p90, q.p99].map((v) => `${v !== null && v > 0 ? sign : ''}${fmt(v, ' ms')}`.padStart(11)).join('')}`;
  const podRows = s.pods.map((p) =>
    [
      `  ${p.name.padEnd(18)}`,
      String(p.requests).padStart(9),
      (p.sidecar ? fmt(p.sidecar.cpu_ms_per_1k_requests, ' ms') : '—').padStart(14),
      (p.sidecar ? fmt(p.sidecar.rss_mb, ' MB') : '—').padStart(12),
      addedText(p.sidecar?.added_latency_ms.inbound).padStart(18),
      addedText(p.sidecar?.added_latency_ms.outbound).padStart(18),
      fmt(p.app.cpu_ms_per_1k_requests, ' ms').padStart(14),
      fmt(p.app.rss_mb, ' MB').padStart(11),
    ].join(''),
  );
  return [
    `Tollgate demo, lab ${s.lab}: ${s.rate} req/s for ${s.duration_s} s into each chain (open loop)`,
    '',
    `  End-to-end latency           ${'p50'.padStart(8)}${'p90'.padStart(11)}${'p99'.padStart(11)}`,
    row(`mesh on  (${e.meshed.ok} ok, ${e.meshed.failed} failed)`, e.meshed),
    row(`mesh off (${e.unmeshed.ok} ok, ${e.unmeshed.failed} failed)`, e.unmeshed),
    row('what the mesh adds', e.added, '+'),
    '',
    `  Along the meshed path (${s.chain.crossings} sidecar crossings)   ${'p50'.padStart(8)}${'mean'.padStart(11)}`,
    chainRow("sidecars' added latency, summed", s.chain.sidecar_sum_ms),
    chainRow('end to end, mesh on - off', s.chain.end_to_end_added_ms),
    chainRow('unexplained remainder', s.chain.unexplained_ms),
    '',
    ...waterfallRows(s.waterfall),
    `  ${'pod'.padEnd(18)}${'requests'.padStart(9)}${'sidecar CPU'.padStart(14)}${'sidecar RSS'.padStart(12)}${'added inbound'.padStart(18)}${'added outbound'.padStart(18)}${'app CPU'.padStart(14)}${'app RSS'.padStart(11)}`,
    `  ${''.padEnd(18)}${''.padStart(9)}${'per 1k req'.padStart(14)}${''.padStart(12)}${'p50 / p99'.padStart(18)}${'p50 / p99'.padStart(18)}${'per 1k req'.padStart(14)}`,
    ...podRows,
    '',
    `  Tollgate's own cost: agent ${fmt(s.agent.millicores)} millicores, ${fmt(s.agent.rss_mb, ' MB')} RSS, ${s.agent.lost_events} events lost`,
    `  Web viewer (while the demo runs): ${s.web_url}`,
    '',
    `  ${s.note}`,
  ].join('\n');
}

function waterfallRows(w: DemoWaterfall | null): string[] {
  if (!w) return [];
  return [
    `  Where a request's time goes (means, ${w.path.join(' -> ')})`,
    ...w.parts.map((p) => `  ${p.part.padEnd(44)}${fmt(p.mean_ms, ' ms').padStart(11)}`),
    `  ${'in no part'.padEnd(44)}${fmt(w.in_no_part_ms, ' ms').padStart(11)}`,
    `  ${"the call, at the load generator's socket".padEnd(44)}${fmt(w.total_ms, ' ms').padStart(11)}`,
    `  ${'the load generator, its own timing'.padEnd(44)}${fmt(w.load_generator_mean_ms, ' ms').padStart(11)}`,
    '',
  ];
}
