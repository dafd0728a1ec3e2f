// Turns the JSON lines of `bpftrace -f json probes/bpftrace/tollgate.bt` into the same
// ProbeRecords the runner's decoder yields. Pure. Maps arrive one print() each, keyed
// "pid,side,address,port"; the "interval" printf ends an interval.

import { powerOfTwoIndex } from '../proto/histogram.js';
import { noLoss } from '../proto/loss-metrics.js';
import type {
  EdgeCounter,
  EdgeKey,
  EdgeRecord,
  HistRecord,
  IntervalRecord,
  Metric,
  ProbeRecord,
} from './records.js';
import { EDGE_COUNTERS } from './records.js';

const COUNTER_MAPS: Record<string, EdgeCounter> = {
  '@connects': 'connects',
  '@accepts': 'accepts',
  '@bytes_sent': 'bytesSent',
  '@bytes_received': 'bytesReceived',
  '@retransmits': 'retransmits',
};

const HIST_MAPS: Record<string, Metric> = {
  '@connect_ns': 'connect_latency',
  '@exchange_ns': 'exchange_latency',
};

export class BpftraceFormatError extends Error {
  override name = 'BpftraceFormatError';
}

interface Bucket {
  min: number;
  max: number;
  count: number;
}

/** "pid,side,address,port" as bpftrace prints a tuple key; the address is untrusted text. */
function parseKey(text: string): EdgeKey {
  const [pid, side, address, port, ...rest] = text.split(',');
  const tgid = Number(pid);
  const servicePort = Number(port);
  if (
    rest.length ||
    !Number.isInteger(tgid) ||
    !Number.isInteger(servicePort) ||
    !/^\d{1,3}(\.\d{1,3}){3}$/.test(address ?? '')
  )
    throw new BpftraceFormatError(`unexpected map key ${JSON.stringify(text.slice(0, 80))}`);
  return {
    tgid,
    family: 4,
    side: side === '1' ? 'client' : side === '2' ? 'server' : 'unknown',
    localAddress: '0.0.0.0', // not tracked by the fallback
    remoteAddress: address!,
    servicePort,
    netnsInode: 0, // not tracked by the fallback
  };
}

export class BpftraceTranslator {
  private edges = new Map<string, EdgeRecord>();
  private hists: HistRecord[] = [];

  /** One line of bpftrace's JSON output; returns the records an interval's end releases. */
  push(line: string): ProbeRecord[] {
    if (!line.trim()) return [];
    let event: { type?: string; data?: unknown };
    try {
      event = JSON.parse(line);
    } catch {
      throw new BpftraceFormatError(`not JSON: ${line.slice(0, 80)}`);
    }
    if (event.type === 'map') this.counters(event.data as Record<string, Record<string, number>>);
    else if (event.type === 'hist')
      this.histograms(event.data as Record<string, Record<string, Bucket[]>>);
    else if (event.type === 'printf' && event.data === 'interval\n') return this.endInterval();
    return [];
  }

  private counters(data: Record<string, Record<string, number>>): void {
    for (const [map, entries] of Object.entries(data)) {
      const counter = COUNTER_MAPS[map];
      if (!counter) continue;
      for (const [key, value] of Object.entries(entries)) this.edge(key)[counter] += value;
    }
  }

  private histograms(data: Record<string, Record<string, Bucket[]>>): void {
    for (const [map, entries] of Object.entries(data)) {
      const metric = HIST_MAPS[map];
      if (!metric) continue;
      for (const [key, buckets] of Object.entries(entries)) {
        const edgeKey = parseKey(key);
        for (const b of buckets) {
          if (!b.count) continue;
          this.hists.push({
            type: 'hist',
            key: edgeKey,
            metric,
            layout: 'HISTOGRAM_LAYOUT_POWER_OF_TWO',
            bucket: powerOfTwoIndex(b.min), // the layout's own rule (proto/histogram.ts)
            count: b.count,
          });
        }
      }
    }
  }

  /** At the end of the stream: bpftrace prints its maps at exit, an interval unfinished. */
  flush(): ProbeRecord[] {
    return this.edges.size || this.hists.length ? this.endInterval() : [];
  }

  private edge(key: string): EdgeRecord {
    let edge = this.edges.get(key);
    if (!edge) {
      edge = { type: 'edge', key: parseKey(key) } as EdgeRecord;
      for (const name of EDGE_COUNTERS) edge[name] = 0;
      this.edges.set(key, edge);
    }
    return edge;
  }

  private endInterval(): ProbeRecord[] {
    const now = process.hrtime.bigint();
    const interval: IntervalRecord = {
      type: 'interval',
      monotonicNs: Number(now),
      realtimeMs: Date.now(),
      lost: noLoss(),
      edges: this.edges.size,
      hists: this.hists.length,
      tuples: 0,
      hops: 0,
      filterGeneration: 0,
      handoffWakeUps: false,
    };
    const out: ProbeRecord[] = [...this.edges.values(), ...this.hists, interval];
    this.edges = new Map();
    this.hists = [];
    return out;
  }
}
