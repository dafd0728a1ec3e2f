// Counters and histograms since the collector started, per pod and container, fed by
// every stored batch: what Prometheus scrapes and turns into rates. Labels are
// namespace, pod, container (and role, side, direction): never pids or addresses, which
// would make a series per connection. The number of label sets is capped; what would
// exceed it is counted, not kept.
import type { Batch, ProcessIdentity } from '../../proto/gen/tollgate/v1.js';
import { emptyHistogram, merge, type SparseHistogram } from '../../proto/histogram.js';
import { processId } from '../model/ids.js';
import { histogramFamily, type Labels, type Sample, scalarFamily } from './exposition.js';

const COUNTERS = {
  connection_opens: 'Connections opened (connect and accept)',
  bytes_sent: 'Bytes sent',
  bytes_received: 'Bytes received',
  exchanges: 'Request/response exchanges',
  multiplexed_exchanges:
    'Exchanges on connections carrying several requests at once (HTTP/2, pipelining): not timed',
  retransmits: 'TCP segments retransmitted',
  drops: 'Packets dropped for the sockets',
  resets: 'TCP resets sent or received',
} as const;
type Counter = keyof typeof COUNTERS;

interface Series {
  labels: Labels;
  counters: Record<string, number>;
  histograms: Record<string, SparseHistogram>;
}

export class CumulativeMetrics {
  private readonly series = new Map<string, Series>();
  private readonly agents = new Map<
    string,
    { cpuNs: number; rss: number; lost: Record<string, number> }
  >();
  droppedSeries = 0;

  constructor(private readonly maxSeries = 20_000) {}

  private get(family: string, labels: Labels): Series | undefined {
    const key = `${family}\0${JSON.stringify(labels)}`;
    let s = this.series.get(key);
    if (!s) {
      if (this.series.size >= this.maxSeries) {
        this.droppedSeries++;
        return undefined;
      }
      s = { labels, counters: {}, histograms: {} };
      this.series.set(key, s);
    }
    return s;
  }

  add(batch: Batch): void {
    const identities = new Map(batch.processes.map((p) => [processId(batch.node, p.ref), p]));
    const base = (ref: Batch['edges'][number]['process']) =>
      podLabels(identities.get(processId(batch.node, ref)));
    for (const e of batch.edges) {
      const side = e.side === 'CONNECTION_SIDE_CLIENT' ? 'client' : 'server';
      const s = this.get('end', { ...base(e.process), side });
      if (!s) continue;
      const add = (name: Counter, v: number) => {
        s.counters[name] = (s.counters[name] ?? 0) + v;
      };
      add('connection_opens', e.connects + e.accepts);
      add('bytes_sent', e.bytesSent);
      add('bytes_received', e.bytesReceived);
      add('exchanges', e.exchanges);
      add('multiplexed_exchanges', e.multiplexedExchanges);
      add('retransmits', e.retransmits);
      add('drops', e.drops);
      add('resets', e.resetsSent + e.resetsReceived);
      if (
        e.exchangeLatency?.indexes.length &&
        e.exchangeLatency.layout === 'HISTOGRAM_LAYOUT_LOG_LINEAR_16'
      )
        s.histograms.exchange = merge(
          s.histograms.exchange ?? emptyHistogram(),
          e.exchangeLatency as SparseHistogram,
        );
    }
    for (const h of batch.hops) {
      const direction = h.direction === 'DIRECTION_INBOUND' ? 'inbound' : 'outbound';
      for (const [path, hist] of [
        ['request', h.requestHop],
        ['response', h.responseHop],
      ] as const) {
        if (!hist?.indexes.length || hist.layout !== 'HISTOGRAM_LAYOUT_LOG_LINEAR_16') continue;
        const s = this.get('hop', { ...base(h.process), direction, path });
        if (s)
          s.histograms.hop = merge(s.histograms.hop ?? emptyHistogram(), hist as SparseHistogram);
      }
      // Only agents that join exchanges have a joint figure and unpaired exchanges to count.
      if (h.method !== 'HOP_METHOD_ARRIVAL_TO_FORWARD' && !h.added?.indexes.length) continue;
      const s = this.get('added', { ...base(h.process), direction });
      if (!s) continue;
      s.counters.unpaired = (s.counters.unpaired ?? 0) + h.unpaired;
      if (h.added?.indexes.length && h.added.layout === 'HISTOGRAM_LAYOUT_LOG_LINEAR_16')
        s.histograms.added = merge(
          s.histograms.added ?? emptyHistogram(),
          h.added as SparseHistogram,
        );
    }
    for (const r of batch.resources) {
      const s = this.get('resource', base(r.process));
      if (!s) continue;
      // CPU is cumulative per process: keep the latest per process and sum them at scrape.
      s.counters[`cpu:${processId(batch.node, r.process)}`] = r.cpuUserNs + r.cpuSystemNs;
      s.counters[`rss:${processId(batch.node, r.process)}`] = r.rssBytes;
    }
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

  exposition(): string {
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
        "Latency a sidecar adds to one exchange in one direction: its request hop plus its response hop, each from the bytes' arrival at the sidecar to its forward, joined per exchange in the kernel",
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
    );
    const perProcess = (prefix: string, scale: number): Sample[] =>
      of('resource').map((s) => ({
        labels: s.labels,
        value:
          Object.entries(s.counters)
            .filter(([k]) => k.startsWith(prefix))
            .reduce((n, [, v]) => n + v, 0) / scale,
      }));
    out.push(
      scalarFamily(
        'tollgate_process_cpu_seconds_total',
        'counter',
        "CPU time of the pod's processes by container and role",
        perProcess('cpu:', 1e9),
      ),
      scalarFamily(
        'tollgate_process_resident_memory_bytes',
        'gauge',
        "Resident memory of the pod's processes",
        perProcess('rss:', 1),
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
        'Label sets not kept because the series cap was reached',
        [{ labels: {}, value: this.droppedSeries }],
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
