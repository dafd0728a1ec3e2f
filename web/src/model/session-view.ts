// A session's result file (the canonical JSON the API returns) as rows for the viewer,
// and a comparison as rows with their deltas. Pure: the sidecar's added latency is the
// same sum-of-hops the collector computes.
import { type LatencyStats, round, sumOfHops } from '../../../collector/model/latency.js';
import { emptyHistogram, type Layout, type SparseHistogram } from '../../../proto/histogram.js';
import type { Comparison, MetricDelta } from './api-types.js';

/** A histogram as the session file spells it. */
export interface FileHistogram {
  layout: string;
  indexes: number[];
  counts: number[];
  sum_ns: number;
}

interface FilePod {
  pod: { namespace: string; name: string };
  proxy: string;
  inbound_request_hop: FileHistogram;
  inbound_response_hop: FileHistogram;
  outbound_request_hop: FileHistogram;
  outbound_response_hop: FileHistogram;
  requests: number;
  sidecar_cpu_ms_per_thousand_requests: number;
  sidecar_mem_mb: number;
  app_cpu_ms_per_thousand_requests: number;
  app_mem_mb: number;
}

interface FileEdge {
  id: string;
  client: string;
  server: string;
  port: number;
  exchanges: number;
  actual_qps: number;
  bytes_sent: number;
  bytes_received: number;
  retransmits: number;
  resets: number;
  client_exchange_latency: FileHistogram;
  server_exchange_latency: FileHistogram;
}

/** The parts of the session file the viewer shows. */
export interface SessionFile {
  id: string;
  name: string;
  start_unix_ms: number;
  end_unix_ms: number;
  labels: Record<string, string>;
  mesh_config: { mesh: string; version: string; proxy_concurrency: number; mtls: boolean };
  environment: {
    kubernetes_version: string;
    nodes: { name: string; kernel_release: string; cpu_cores: number; memory_bytes: number }[];
    tollgate_version: string;
  };
  load: { generator: string; rps: number; connections: number; duration_s: number };
  latencies_ms: {
    min: number;
    average: number;
    p50: number;
    p90: number;
    p99: number;
    max: number;
  };
  actual_qps: number;
  tollgate: { pods: FilePod[]; edges: FileEdge[]; latency_source: string };
}

export function fromFile(h: FileHistogram | undefined): SparseHistogram {
  if (!h || h.indexes.length === 0) return emptyHistogram();
  return { layout: h.layout as Layout, indexes: h.indexes, counts: h.counts, sumNs: h.sum_ns };
}

export interface PodRow {
  pod: string;
  proxy: string;
  requests: number;
  inbound: LatencyStats;
  outbound: LatencyStats;
  sidecarCpuMsPer1k: number;
  sidecarMemMb: number;
  appCpuMsPer1k: number;
  appMemMb: number;
}

export function podRows(file: SessionFile): PodRow[] {
  return file.tollgate.pods
    .map((p) => ({
      pod: `${p.pod.namespace}/${p.pod.name}`,
      proxy: p.proxy,
      requests: p.requests,
      inbound: sumOfHops(fromFile(p.inbound_request_hop), fromFile(p.inbound_response_hop)),
      outbound: sumOfHops(fromFile(p.outbound_request_hop), fromFile(p.outbound_response_hop)),
      sidecarCpuMsPer1k: round(p.sidecar_cpu_ms_per_thousand_requests),
      sidecarMemMb: round(p.sidecar_mem_mb),
      appCpuMsPer1k: round(p.app_cpu_ms_per_thousand_requests),
      appMemMb: round(p.app_mem_mb),
    }))
    .sort((a, b) => a.pod.localeCompare(b.pod));
}

export interface EdgeRow {
  id: string;
  client: string;
  server: string;
  port: number;
  exchanges: number;
  qps: number;
  clientLatency: SparseHistogram;
  serverLatency: SparseHistogram;
  bytesSent: number;
  bytesReceived: number;
  retransmits: number;
  resets: number;
}

export function edgeRows(file: SessionFile): EdgeRow[] {
  return file.tollgate.edges
    .map((e) => ({
      id: e.id,
      client: e.client,
      server: e.server,
      port: e.port,
      exchanges: e.exchanges,
      qps: e.actual_qps,
      clientLatency: fromFile(e.client_exchange_latency),
      serverLatency: fromFile(e.server_exchange_latency),
      bytesSent: e.bytes_sent,
      bytesReceived: e.bytes_received,
      retransmits: e.retransmits,
      resets: e.resets,
    }))
    .sort((a, b) => b.exchanges - a.exchanges || a.id.localeCompare(b.id));
}

export interface CompareRow extends MetricDelta {
  kind: 'session' | 'pod' | 'edge';
  /** The item's name in A (or B when A lacks it). */
  item: string;
  /** How A and B were matched when their names differ. */
  matchedBy: 'name' | 'workload' | null;
}

/**
 * A comparison as one row per metric, items in the collector's order; with
 * `significantOnly`, only the differences beyond their error bound.
 */
export function compareRows(c: Comparison, significantOnly = false): CompareRow[] {
  const rows: CompareRow[] = [];
  for (const item of c.items)
    for (const m of item.metrics) {
      if (significantOnly && !m.significant) continue;
      rows.push({
        ...m,
        kind: item.kind,
        item: item.kind === 'session' ? '' : (item.a ?? item.b ?? item.key),
        matchedBy: item.matchedBy,
      });
    }
  return rows;
}
