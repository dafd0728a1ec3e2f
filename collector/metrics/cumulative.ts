// Counters and histograms since the collector started, per pod and container, fed by
// every stored batch: what Prometheus scrapes and turns into rates. Labels are
// namespace, pod, container (and role, side, direction): never pids or addresses, which
// would make a series per connection. Nothing grows with time:
//  - label sets are capped; at the cap the one idle longest goes when it has been idle
//    for `idleMs` (its counters end; Prometheus reads a later return as a reset), else
//    the new one is dropped; both are counted;
//  - a pod's CPU and memory come from its processes, which agents report while they use
//    the network. Memory counts those reported within `memoryWindowMs` (so an exited
//    one leaves the gauge); a process not reported for `processTtlMs` is forgotten and
//    its CPU kept in the pod's total. One that comes back after that is counted afresh,
//    its CPU before counted twice: the price of a bound on processes tracked.
import type { Batch, PodRef, ProcessIdentity } from '../../proto/gen/tollgate/v1.js';
import {
  addInto,
  emptyHistogram,
  type Layout,
  type SparseHistogram,
} from '../../proto/histogram.js';
import { requestsOf } from '../../proto/requests.js';
import { processId } from '../model/ids.js';
import { histogramFamily, type Labels, type Sample, scalarFamily } from './exposition.js';

const COUNTERS = {
  connection_opens: 'Connections opened (connect and accept)',
  sent_bytes: 'Bytes sent',
  received_bytes: 'Bytes received',
  exchanges: 'Request/response exchanges',
  multiplexed_exchanges:
    'Exchanges on connections carrying several requests at once (HTTP/2, pipelining): not timed',
  requests:
    "Requests: exchanges, and instead on HTTP/2 connections seen from their preface the requests their frames opened, and on a proxy's multiplexed upstream in TLS the requests it forwarded there (a batch of requests is one exchange)",
  retransmits: 'TCP segments retransmitted',
  drops: 'Packets dropped for the sockets',
  resets: 'TCP resets sent or received',
} as const;
type Counter = keyof typeof COUNTERS;

interface Series {
  labels: Labels;
  counters: Record<string, number>;
  histograms: Record<string, SparseHistogram>;
  /** A resource series' processes, by process id: latest CPU and RSS, and when seen. */
  processes?: Map<string, { cpuNs: number; rssBytes: number; seenMs: number }>;
  /** CPU of its processes that have exited. */
  exitedCpuNs?: number;
  updatedMs: number;
}

export interface CumulativeLimits {
  maxSeries: number;
  /** A label set not updated for this long may make way for a new one at the cap. */
  idleMs: number;
  /** Memory counts the processes reported within this long. */
  memoryWindowMs: number;
  /** A process not reported for this long is forgotten, its CPU kept in the total. */
  processTtlMs: number;
}

const DEFAULT_LIMITS: CumulativeLimits = {
  maxSeries: 20_000,
  idleMs: 10 * 60_000,
  memoryWindowMs: 2 * 60_000,
  processTtlMs: 60 * 60_000,
};

/** An end series' counters, every one present from the start (added to in place, per edge). */
function endCounters(): Record<Counter, number> {
  return Object.fromEntries(Object.keys(COUNTERS).map((c) => [c, 0])) as Record<Counter, number>;
}

/** Adds a report's histogram into a series' own, in place (a merge per report made garbage). */
function addHistogram(s: Series, name: string, h: SparseHistogram): void {
  s.histograms[name] ??= emptyHistogram(h.layout as Layout);
  addInto(s.histograms[name], h.indexes, h.counts, h.indexes.length, h.sumNs);
}

/** An end series of one batch, as its edges name it (CumulativeMetrics.add). */
interface EndLabels {
  start: number;
  side: 'client' | 'server';
  namespace: string;
  pod: string;
  series: Series | undefined;
}

export class CumulativeMetrics {
  /** In order of last update: the first is the one idle longest. */
  private readonly series = new Map<string, Series>();
  private readonly agents = new Map<
    string,
    { cpuNs: number; rss: number; lost: Record<string, number> }
  >();
  private readonly limits: CumulativeLimits;
  private lastSweepMs = 0;
  droppedSeries = 0;
  evictedSeries = 0;

  constructor(limits: Partial<CumulativeLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Label sets held, and processes tracked for CPU and memory (both bounded). */
  get size(): { series: number; processes: number } {
    let processes = 0;
    for (const s of this.series.values()) processes += s.processes?.size ?? 0;
    return { series: this.series.size, processes };
  }

  private get(family: string, labels: Labels, nowMs: number): Series | undefined {
    const key = `${family}\0${JSON.stringify(labels)}`;
    let s = this.series.get(key);
    if (s) {
      this.series.delete(key);
    } else {
      if (this.series.size >= this.limits.maxSeries) {
        const [oldestKey, oldest] = this.series.entries().next().value as [string, Series];
        if (nowMs - oldest.updatedMs < this.limits.idleMs) {
          this.droppedSeries++;
          return undefined;
        }
        this.series.delete(oldestKey);
        this.evictedSeries++;
      }
      s = {
        labels,
        counters: family === 'end' ? endCounters() : {},
        histograms: {},
        updatedMs: nowMs,
      };
    }
    s.updatedMs = nowMs;
    this.series.set(key, s);
    return s;
  }

  /** Forgets processes not reported for processTtlMs (looked at once per memory window). */
  private sweep(nowMs: number): void {
    if (nowMs - this.lastSweepMs < this.limits.memoryWindowMs) return;
    this.lastSweepMs = nowMs;
    for (const s of this.series.values()) {
      if (!s.processes) continue;
      for (const [id, p] of s.processes) {
        if (nowMs - p.seenMs < this.limits.processTtlMs) continue;
        s.exitedCpuNs = (s.exitedCpuNs ?? 0) + p.cpuNs;
        s.processes.delete(id);
      }
    }
  }

  add(batch: Batch, nowMs = Date.now()): void {
    const identities = new Map(batch.processes.map((p) => [processId(batch.node, p.ref), p]));
    // A node proxy's ends and hops through a pod it serves are that pod's, as the
    // collector's costs count them: labelled with that pod and the role node-proxy.
    const base = (ref: Batch['edges'][number]['process'], socketPod?: PodRef) => {
      const labels = podLabels(identities.get(processId(batch.node, ref)));
      return socketPod?.name
        ? { ...labels, namespace: socketPod.namespace, pod: socketPod.name, role: 'node-proxy' }
        : labels;
    };
    // A batch's edges are many and their label sets few: each is looked up once, found
    // again by the edge's pid first (a number; a string key made per edge cost more
    // than the counters it led to).
    const ends = new Map<number, EndLabels[]>();
    for (const e of batch.edges) {
      const side = e.side === 'CONNECTION_SIDE_CLIENT' ? 'client' : 'server';
      const pid = e.process?.pid ?? 0;
      const start = e.process?.startTimeTicks ?? 0;
      const namespace = e.socketPod?.namespace ?? '';
      const pod = e.socketPod?.name ?? '';
      let known = ends.get(pid);
      if (!known) {
        known = [];
        ends.set(pid, known);
      }
      let found = known.find(
        (k) => k.start === start && k.side === side && k.namespace === namespace && k.pod === pod,
      );
      if (!found) {
        found = {
          start,
          side,
          namespace,
          pod,
          series: this.get('end', { ...base(e.process, e.socketPod), side }, nowMs),
        };
        known.push(found);
      }
      const s = found.series;
      if (!s) continue;
      const c = s.counters as Record<Counter, number>;
      c.connection_opens += e.connects + e.accepts;
      c.sent_bytes += e.bytesSent;
      c.received_bytes += e.bytesReceived;
      c.exchanges += e.exchanges;
      c.multiplexed_exchanges += e.multiplexedExchanges;
      c.requests += requestsOf(e);
      c.retransmits += e.retransmits;
      c.drops += e.drops;
      c.resets += e.resetsSent + e.resetsReceived;
      if (
        e.exchangeLatency?.indexes.length &&
        e.exchangeLatency.layout === 'HISTOGRAM_LAYOUT_LOG_LINEAR_16'
      )
        addHistogram(s, 'exchange', e.exchangeLatency as SparseHistogram);
    }
    for (const h of batch.hops) {
      const direction = h.direction === 'DIRECTION_INBOUND' ? 'inbound' : 'outbound';
      for (const [path, hist] of [
        ['request', h.requestHop],
        ['response', h.responseHop],
      ] as const) {
        if (!hist?.indexes.length || hist.layout !== 'HISTOGRAM_LAYOUT_LOG_LINEAR_16') continue;
        const s = this.get('hop', { ...base(h.process, h.socketPod), direction, path }, nowMs);
        if (s) addHistogram(s, 'hop', hist as SparseHistogram);
      }
      // Only agents that join exchanges have a joint figure and unpaired exchanges to count.
      if (h.method !== 'HOP_METHOD_ARRIVAL_TO_FORWARD' && !h.added?.indexes.length) continue;
      const s = this.get('added', { ...base(h.process, h.socketPod), direction }, nowMs);
      if (!s) continue;
      s.counters.unpaired = (s.counters.unpaired ?? 0) + h.unpaired;
      s.counters.handoffs = (s.counters.handoffs ?? 0) + h.handoffs;
      s.counters.replyHandoffs = (s.counters.replyHandoffs ?? 0) + h.replyHandoffs;
      s.counters.neighbourWaitNs = (s.counters.neighbourWaitNs ?? 0) + h.neighbourWaitNs;
      if (h.added?.indexes.length && h.added.layout === 'HISTOGRAM_LAYOUT_LOG_LINEAR_16')
        addHistogram(s, 'added', h.added as SparseHistogram);
    }
    for (const r of batch.resources) {
      const s = this.get('resource', base(r.process), nowMs);
      if (!s) continue;
      // CPU is cumulative per process: keep the latest per process and sum them at scrape.
      s.processes ??= new Map();
      s.processes.set(processId(batch.node, r.process), {
        cpuNs: r.cpuUserNs + r.cpuSystemNs,
        rssBytes: r.rssBytes,
        seenMs: nowMs,
      });
    }
    this.sweep(nowMs);
    if (batch.agentCost) {
      const c = batch.agentCost;
      this.agents.set(batch.node, {
        cpuNs: c.agentCpuNs + c.runnerCpuNs,
        rss: c.agentRssBytes + c.runnerRssBytes,
        lost: {
          kernel_map_full: c.lost?.kernelMapFull ?? 0,
          kernel_buffer_full: c.lost?.kernelBufferFull ?? 0,
          spool_dropped: c.lost?.spoolDroppedBatches ?? 0,
          rejected: c.lost?.rejectedBatches ?? 0,
        },
      });
    }
  }

  exposition(nowMs?: number): string {
    const all = [...this.series.entries()];
    const of = (family: string) =>
      all.filter(([k]) => k.startsWith(`${family}\0`)).map(([, s]) => s);
    const out: string[] = [];
    for (const [name, help] of Object.entries(COUNTERS)) {
      out.push(
        scalarFamily(
          `tollgate_${name}_total`,
          'counter',
          help,
          of('end').map((s) => ({ labels: s.labels, value: s.counters[name] ?? 0 })),
        ),
      );
    }
    out.push(
      histogramFamily(
        'tollgate_exchange_duration_seconds',
        'Exchange latency: first byte of a request to first byte of its reply, at each end',
        of('end')
          .filter((s) => s.histograms.exchange)
          .map((s) => ({ labels: s.labels, histogram: s.histograms.exchange! })),
      ),
    );
    out.push(
      histogramFamily(
        'tollgate_proxy_hop_duration_seconds',
        'Delay a sidecar adds on one hop (path=request or response) in one direction',
        of('hop').map((s) => ({ labels: s.labels, histogram: s.histograms.hop! })),
      ),
      histogramFamily(
        'tollgate_proxy_added_duration_seconds',
        "Latency a sidecar adds to one exchange in one direction: its request hop plus its response hop, each from the bytes' arrival at the sidecar to its forward (a hop handed off, from the sidecar's wake-up to the next reader's wake-up, or read to read without the context-switch hook: the API's handoffTiming), joined per exchange in the kernel",
        of('added')
          .filter((s) => s.histograms.added)
          .map((s) => ({ labels: s.labels, histogram: s.histograms.added! })),
      ),
      scalarFamily(
        'tollgate_proxy_exchanges_unpaired_total',
        'counter',
        'Exchanges through a sidecar left out of tollgate_proxy_added_duration_seconds because a hop could not be paired; the coverage of the added latency is its _count over _count plus these',
        of('added').map((s) => ({ labels: s.labels, value: s.counters.unpaired ?? 0 })),
      ),
      scalarFamily(
        'tollgate_proxy_requests_handed_off_total',
        'counter',
        "Request hops through a sidecar that ran on to the next reader's wake-up: the sidecar waited for the request and the app for its forward, so the sidecar's own wake-up stands in for the app's without it (read to read without the context-switch hook; the others run from the arrival to the forward)",
        of('added').map((s) => ({ labels: s.labels, value: s.counters.handoffs ?? 0 })),
      ),
      scalarFamily(
        'tollgate_proxy_replies_handed_off_total',
        'counter',
        "Response hops through a sidecar that ran on to the client's wake-up: the sidecar waited for the reply and a client on its node for the sidecar's write of it, so the sidecar's own wake-up by the reply stands in for the client's without it (read to read without the context-switch hook; the others run from the reply's arrival to its delivery)",
        of('added').map((s) => ({ labels: s.labels, value: s.counters.replyHandoffs ?? 0 })),
      ),
      scalarFamily(
        'tollgate_proxy_neighbour_wait_seconds_total',
        'counter',
        "Time other processes' threads waited in a CPU's run queue while the proxy's threads ran on that CPU: the CPU it took from its neighbours (its app, clients on its node), which no hop holds and of which an A/B measurement sees part as latency",
        of('added').map((s) => ({
          labels: s.labels,
          value: (s.counters.neighbourWaitNs ?? 0) / 1e9,
        })),
      ),
    );
    const now = nowMs ?? Date.now();
    const perProcess = (field: 'cpuNs' | 'rssBytes', scale: number): Sample[] =>
      of('resource').map((s) => {
        let sum = field === 'cpuNs' ? (s.exitedCpuNs ?? 0) : 0;
        for (const p of s.processes?.values() ?? [])
          if (field === 'cpuNs' || now - p.seenMs < this.limits.memoryWindowMs) sum += p[field];
        return { labels: s.labels, value: sum / scale };
      });
    out.push(
      scalarFamily(
        'tollgate_process_cpu_seconds_total',
        'counter',
        "CPU time of the pod's processes by container and role",
        perProcess('cpuNs', 1e9),
      ),
      scalarFamily(
        'tollgate_process_resident_memory_bytes',
        'gauge',
        `Resident memory of the pod's processes reported in the last ${this.limits.memoryWindowMs / 1000} s (agents report a process while it uses the network)`,
        perProcess('rssBytes', 1),
      ),
    );
    const agents = [...this.agents.entries()];
    out.push(
      scalarFamily(
        'tollgate_agent_cpu_seconds_total',
        'counter',
        'CPU time of the node agent and its kernel runner',
        agents.map(([node, a]) => ({ labels: { node }, value: a.cpuNs / 1e9 })),
      ),
      scalarFamily(
        'tollgate_agent_resident_memory_bytes',
        'gauge',
        'Resident memory of the node agent and its kernel runner',
        agents.map(([node, a]) => ({ labels: { node }, value: a.rss })),
      ),
      scalarFamily(
        'tollgate_agent_lost_total',
        'counter',
        'What the agent could not deliver, by reason',
        agents.flatMap(([node, a]) =>
          Object.entries(a.lost).map(([reason, value]) => ({ labels: { node, reason }, value })),
        ),
      ),
      scalarFamily(
        'tollgate_metrics_series_dropped_total',
        'counter',
        'Label sets not kept because the series cap was reached and none was idle',
        [{ labels: {}, value: this.droppedSeries }],
      ),
      scalarFamily(
        'tollgate_metrics_series_evicted_total',
        'counter',
        'Label sets removed, idle, to make room for new ones at the series cap',
        [{ labels: {}, value: this.evictedSeries }],
      ),
    );
    return out.join('');
  }
}

/** Labels of a process: its pod, container and role. */
function podLabels(p: ProcessIdentity | undefined): Labels {
  return {
    namespace: p?.pod?.namespace ?? '',
    pod: p?.pod?.name ?? '',
    container: p?.containerName || p?.comm || '',
    role: p?.role === 'ROLE_SIDECAR' ? 'sidecar' : 'app',
  };
}
