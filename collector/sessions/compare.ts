// Two sessions side by side, per pod and per edge, with each difference judged against
// what the measurement can resolve. Pure.
//
// Pods match by namespace/name, then by workload (the name without the ReplicaSet and pod
// suffixes Kubernetes generates), so "before/after an upgrade" matches the new pods to the
// old. Edges match by their stable names the same way.
//
// A difference is flagged significant only when it exceeds the error bound:
// - quantiles read from the log-linear histograms: MAX_RELATIVE_ERROR (1/32) of each
//   side's value, and only with enough samples for the quantile (10 / (1 - q) each side:
//   20 for p50, 100 for p90, 1000 for p99);
// - CPU per 1,000 requests: two clock ticks (10 ms each) per process per side, at the
//   pod's share of a shared proxy, over the requests;
// - memory: 5% of the larger value or 1 MB, whichever is more (RSS wanders);
// - rates: 2% of the larger value; retransmits: twice the Poisson noise, 2 sqrt(a + b);
// - a sidecar's added latency is never judged between two figures made by different
//   methods (joint vs independent sum, arrival vs read): the method moves it as much.
//
// A pod's proxy CPU and memory are those of whatever carries its mesh traffic, so a
// migration from sidecars to ambient mode compares like with like: its sidecar's, or its
// share of the node proxy plus its part of a waypoint. The note says which, with each
// share's method; shares made by different methods on the two sides are not judged.
import type { ComparedItem, Comparison, MetricDelta, SessionSide } from '../../proto/api.js';
import type { Histogram, PodResult, SessionExport } from '../../proto/gen/tollgate/v1.js';
import {
  MAX_RELATIVE_ERROR,
  quantile,
  type SparseHistogram,
  totalCount,
} from '../../proto/histogram.js';
import { addedLatency, round, timingOf, timingOfHandoffEnds } from '../../proto/latency.js';
import { describeProxy, meshModeOf, type PodProxy, podProxies } from './pod-mesh.js';

const SAFE = 'bcdfghjklmnpqrstvwxz2456789';
const GENERATED_SUFFIX = new RegExp(`(-[${SAFE}]{6,10})?-[${SAFE}]{5}$`);

/** A pod's workload: its name without Kubernetes' generated suffixes. */
export function workloadOf(podName: string): string {
  return podName.replace(GENERATED_SUFFIX, '');
}

/** "namespace/pod/role" with the pod as its workload; other names unchanged. */
function workloadName(stable: string): string {
  const parts = stable.split('/');
  return parts.length === 3 ? `${parts[0]}/${workloadOf(parts[1]!)}/${parts[2]}` : stable;
}

const hist = (h: Histogram | undefined): SparseHistogram =>
  h
    ? {
        layout: h.layout as SparseHistogram['layout'],
        indexes: h.indexes,
        counts: h.counts,
        sumNs: h.sumNs,
      }
    : { layout: 'HISTOGRAM_LAYOUT_LOG_LINEAR_16', indexes: [], counts: [], sumNs: 0 };

interface Measured {
  value: number | null;
  count: number | null;
}

function judge(
  metric: string,
  unit: MetricDelta['unit'],
  a: Measured,
  b: Measured,
  bound: (a: number, b: number) => number,
  minSamples = 0,
): MetricDelta {
  const base = { metric, unit, a: a.value, b: b.value };
  if (a.value === null || b.value === null)
    return {
      ...base,
      delta: null,
      relative: null,
      errorBound: null,
      significant: false,
      note: `no data in ${a.value === null ? 'A' : 'B'}`,
    };
  const delta = round(b.value - a.value);
  const errorBound = round(bound(a.value, b.value));
  const few = [a, b].some((m) => m.count !== null && m.count < minSamples);
  return {
    ...base,
    delta,
    relative: a.value !== 0 ? round(delta / a.value) : null,
    errorBound,
    significant: !few && Math.abs(delta) > errorBound,
    note: few ? `fewer than ${minSamples} samples` : '',
  };
}

const QUANTILES = [
  ['p50', 0.5],
  ['p90', 0.9],
  ['p99', 0.99],
] as const;
const minSamplesFor = (q: number) => Math.ceil(10 / (1 - q) - 1e-9);
const histogramBound = (a: number, b: number) => MAX_RELATIVE_ERROR * (Math.abs(a) + Math.abs(b));

function quantileDeltas(name: string, a: SparseHistogram, b: SparseHistogram): MetricDelta[] {
  const at = (h: SparseHistogram, q: number): Measured => {
    const v = quantile(h, q);
    return { value: v === undefined ? null : round(v / 1e6), count: totalCount(h) };
  };
  return QUANTILES.map(([label, q]) =>
    judge(`${name} ${label}`, 'ms', at(a, q), at(b, q), histogramBound, minSamplesFor(q)),
  );
}

function addedLatencyDeltas(name: string, a: PodResult | undefined, b: PodResult | undefined) {
  const direction = name as 'inbound' | 'outbound';
  const added = (p: PodResult | undefined) => {
    if (!p) return undefined;
    const inbound = direction === 'inbound';
    const hops = {
      request: hist(inbound ? p.inboundRequestHop : p.outboundRequestHop),
      response: hist(inbound ? p.inboundResponseHop : p.outboundResponseHop),
      added: hist(inbound ? p.inboundAdded : p.outboundAdded),
    };
    if (totalCount(hops.request) + totalCount(hops.response) + totalCount(hops.added) === 0)
      return undefined;
    return addedLatency(hops, timingOf(inbound ? p.inboundMethod : p.outboundMethod));
  };
  const sa = added(a);
  const sb = added(b);
  if (!sa && !sb) return [];
  // Figures made by different methods differ by the method as much as by the mesh.
  const apart =
    sa && sb && sa.method !== sb.method ? `methods differ: A ${sa.method}, B ${sb.method}` : '';
  // Hand-offs timed at other ends move the figure by the ends' own work, in so far as hops
  // were handed off, which a file does not say: noted, still judged. Not where a file
  // says none (none came, or an agent that did not say: not known to differ).
  const ends = (p: PodResult | undefined) =>
    p &&
    timingOfHandoffEnds(direction === 'inbound' ? p.inboundHandoffEnds : p.outboundHandoffEnds);
  const ea = ends(a);
  const eb = ends(b);
  const endsApart =
    sa && sb && ea && eb && ea !== eb ? `hand-offs timed apart: A ${ea}, B ${eb}` : '';
  return QUANTILES.map(([label, q]) => {
    const key = `${label}Ms` as 'p50Ms' | 'p90Ms' | 'p99Ms';
    const m = (s: typeof sa): Measured => ({
      value: s?.stats[key] ?? null,
      count: s?.stats.count ?? null,
    });
    const delta = judge(
      `${name} added ${label}`,
      'ms',
      m(sa),
      m(sb),
      histogramBound,
      minSamplesFor(q),
    );
    if (delta.delta === null || (!apart && !endsApart)) return delta;
    const note = [apart || delta.note, endsApart].filter(Boolean).join('; ');
    return { ...delta, significant: delta.significant && !apart, note };
  });
}

/**
 * The CPU and memory of the proxies carrying a pod's traffic, and the note that says what
 * they are on each side: judged only when both sides' shares were made by one method.
 */
function proxyDeltas(
  a: PodResult | undefined,
  b: PodResult | undefined,
  memBound: (x: number, y: number) => number,
): MetricDelta[] {
  const pa = a ? podProxies(a) : [];
  const pb = b ? podProxies(b) : [];
  // Nothing measured for a proxy on one side: that side has no figure, not a smaller one.
  // One proxy's figure as recorded; parts added, to the precision they were recorded at.
  const sum = (p: PodResult | undefined, list: PodProxy[], f: (x: PodProxy) => number) =>
    p && list.every((x) => x.measured)
      ? {
          value: list.length === 1 ? f(list[0]!) : round(list.reduce((n, x) => n + f(x), 0)),
          count: null,
        }
      : { value: null, count: null };
  // Two ticks of 10 ms per process, at the pod's share of it, spread over the requests.
  const ticks = (p: PodResult | undefined, list: PodProxy[]) =>
    (list.reduce((n, x) => n + 20 * (x.share?.value ?? 1), 0) * 1000) /
    Math.max(1, p?.requests ?? 1);
  const cpuBound = () => ticks(a, pa) + ticks(b, pb);
  const shared = [...pa, ...pb].some((x) => x.share);
  const said = (list: PodProxy[]) =>
    list.length ? list.map(describeProxy).join(' + ') : 'no mesh proxy';
  // A shared proxy of one kind on both sides, its shares made by different methods.
  const methods = (list: PodProxy[], kind: PodProxy['kind']) =>
    [...new Set(list.filter((x) => x.kind === kind).map((x) => x.share?.method))].sort().join();
  const apart = (['node-proxy', 'waypoint'] as const).some(
    (k) => methods(pa, k) !== '' && methods(pb, k) !== '' && methods(pa, k) !== methods(pb, k),
  );
  const noted = (d: MetricDelta): MetricDelta => {
    if (!shared || d.delta === null) return d;
    const note = `${apart ? 'share methods differ: ' : ''}A: ${said(pa)}; B: ${said(pb)}`;
    return { ...d, significant: d.significant && !apart, note };
  };
  return [
    noted(
      judge(
        'proxy CPU',
        'ms/1k req',
        sum(a, pa, (x) => x.cpuMsPerThousandRequests),
        sum(b, pb, (x) => x.cpuMsPerThousandRequests),
        cpuBound,
      ),
    ),
    noted(
      judge(
        'proxy memory',
        'MB',
        sum(a, pa, (x) => x.memMb),
        sum(b, pb, (x) => x.memMb),
        memBound,
      ),
    ),
  ];
}

function podDeltas(a: PodResult | undefined, b: PodResult | undefined): MetricDelta[] {
  const value = (p: PodResult | undefined, f: (p: PodResult) => number): Measured =>
    p ? { value: f(p), count: null } : { value: null, count: null };
  // Two ticks of 10 ms per side, spread over each side's requests.
  const cpuBound = () =>
    (20 * 1000) / Math.max(1, a?.requests ?? 1) + (20 * 1000) / Math.max(1, b?.requests ?? 1);
  const memBound = (x: number, y: number) => Math.max(1, 0.05 * Math.max(x, y));
  return [
    ...addedLatencyDeltas('inbound', a, b),
    ...addedLatencyDeltas('outbound', a, b),
    ...proxyDeltas(a, b, memBound),
    judge(
      'app CPU',
      'ms/1k req',
      value(a, (p) => p.appCpuMsPerThousandRequests),
      value(b, (p) => p.appCpuMsPerThousandRequests),
      cpuBound,
    ),
    judge(
      'app memory',
      'MB',
      value(a, (p) => p.appMemMb),
      value(b, (p) => p.appMemMb),
      memBound,
    ),
  ];
}

type Edge = NonNullable<SessionExport['tollgate']>['edges'][number];

function edgeDeltas(a: Edge | undefined, b: Edge | undefined): MetricDelta[] {
  const h = (e: Edge | undefined, f: (e: Edge) => Histogram | undefined) =>
    hist(e ? f(e) : undefined);
  const n = (e: Edge | undefined, f: (e: Edge) => number): Measured => ({
    value: e ? f(e) : null,
    count: null,
  });
  return [
    ...quantileDeltas(
      'client exchange',
      h(a, (e) => e.clientExchangeLatency),
      h(b, (e) => e.clientExchangeLatency),
    ),
    ...quantileDeltas(
      'server exchange',
      h(a, (e) => e.serverExchangeLatency),
      h(b, (e) => e.serverExchangeLatency),
    ),
    ...quantileDeltas(
      'connect',
      h(a, (e) => e.connectLatency),
      h(b, (e) => e.connectLatency),
    ).slice(0, 1),
    ...quantileDeltas(
      'srtt',
      h(a, (e) => e.srtt),
      h(b, (e) => e.srtt),
    ).slice(0, 1),
    judge(
      'rate',
      'req/s',
      n(a, (e) => e.actualQps),
      n(b, (e) => e.actualQps),
      (x, y) => 0.02 * Math.max(x, y),
    ),
    judge(
      'retransmits',
      'count',
      n(a, (e) => e.retransmits),
      n(b, (e) => e.retransmits),
      (x, y) => 2 * Math.sqrt(x + y),
    ),
  ].filter((m) => m.a !== null || m.b !== null);
}

/** Pairs items of two lists by exact key, then by a looser key among the rest. */
function pair<T>(
  a: readonly T[],
  b: readonly T[],
  key: (t: T) => string,
  loose: (t: T) => string,
): { key: string; a?: T; b?: T; matchedBy: ComparedItem['matchedBy'] }[] {
  const out: { key: string; a?: T; b?: T; matchedBy: ComparedItem['matchedBy'] }[] = [];
  const restB = new Map<string, T>(b.map((t) => [key(t), t]));
  const unmatchedA: T[] = [];
  for (const t of a) {
    const other = restB.get(key(t));
    if (other) {
      out.push({ key: key(t), a: t, b: other, matchedBy: 'name' });
      restB.delete(key(t));
    } else unmatchedA.push(t);
  }
  const looseB = new Map<string, T[]>();
  for (const t of restB.values()) looseB.set(loose(t), [...(looseB.get(loose(t)) ?? []), t]);
  for (const t of unmatchedA) {
    const candidates = looseB.get(loose(t));
    // Only a one-to-one workload match is safe; two replicas each side stay unmatched.
    if (candidates?.length === 1 && unmatchedA.filter((x) => loose(x) === loose(t)).length === 1) {
      out.push({ key: loose(t), a: t, b: candidates[0], matchedBy: 'workload' });
      restB.delete(key(candidates[0]!));
      looseB.delete(loose(t));
    } else out.push({ key: key(t), a: t, matchedBy: null });
  }
  for (const t of restB.values()) out.push({ key: key(t), b: t, matchedBy: null });
  return out.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

function side(e: SessionExport): SessionSide {
  return {
    id: e.id,
    name: e.name,
    startUnixMs: e.startUnixMs,
    endUnixMs: e.endUnixMs,
    labels: e.labels,
  };
}

export function compareSessions(a: SessionExport, b: SessionExport): Comparison {
  const items: ComparedItem[] = [];
  const headline = (e: SessionExport): SparseHistogram | undefined =>
    e.tollgate?.latencySource === 'load' ? hist(e.tollgate.load?.latency) : undefined;
  const ha = headline(a);
  const hb = headline(b);
  const summary = (e: SessionExport, q: 'p50' | 'p90' | 'p99'): Measured => ({
    value: e.tollgate?.latencySource ? e.latenciesMs![q] : null,
    count: null,
  });
  items.push({
    kind: 'session',
    key: 'session',
    a: a.name,
    b: b.name,
    matchedBy: 'name',
    metrics: [
      ...(ha && hb
        ? quantileDeltas('latency', ha, hb)
        : QUANTILES.map(([label]) =>
            judge(`latency ${label}`, 'ms', summary(a, label), summary(b, label), histogramBound),
          )),
      judge(
        'actual rate',
        'req/s',
        { value: a.actualQps, count: null },
        { value: b.actualQps, count: null },
        (x, y) => 0.02 * Math.max(x, y),
      ),
    ],
  });
  const podKey = (p: PodResult) => `${p.pod?.namespace}/${p.pod?.name}`;
  for (const m of pair(
    a.tollgate?.pods ?? [],
    b.tollgate?.pods ?? [],
    podKey,
    (p) => `${p.pod?.namespace}/${workloadOf(p.pod?.name ?? '')}`,
  )) {
    items.push({
      kind: 'pod',
      key: m.key,
      a: m.a ? podKey(m.a) : null,
      b: m.b ? podKey(m.b) : null,
      matchedBy: m.matchedBy,
      meshModes: { a: meshModeOf(m.a), b: meshModeOf(m.b) },
      metrics: podDeltas(m.a, m.b),
    });
  }
  for (const m of pair(
    a.tollgate?.edges ?? [],
    b.tollgate?.edges ?? [],
    (e) => e.id,
    (e) => `${workloadName(e.client)}>${workloadName(e.server)}:${e.port}`,
  )) {
    items.push({
      kind: 'edge',
      key: m.key,
      a: m.a?.id ?? null,
      b: m.b?.id ?? null,
      matchedBy: m.matchedBy,
      metrics: edgeDeltas(m.a, m.b),
    });
  }
  return {
    a: side(a),
    b: side(b),
    items,
    significant: items.reduce((n, i) => n + i.metrics.filter((m) => m.significant).length, 0),
  };
}
