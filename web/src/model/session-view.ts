// A session's result file (the canonical JSON the API returns) as rows for the viewer,
// and a comparison as rows with their deltas. Pure: the sidecar's added latency is made
// as the collector makes it (the joint histogram when the file has one, else the sum of
// the hops as if independent), with how much of the traffic it covers.

import type { HopMethod } from '../../../proto/gen/tollgate/v1.js';
import {
  emptyHistogram,
  type Layout,
  type SparseHistogram,
  totalCount,
} from '../../../proto/histogram.js';
import { addedLatency, type LatencyStats, round, timingOf } from '../../../proto/latency.js';
import { meshModesNote } from '../../../proto/mesh-mode.js';
import type { Comparison, FileHistogram, MetricDelta, SessionFile } from './api-types.js';
import type { Coverage } from './coverage.js';

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
  inboundCoverage: Coverage;
  outboundCoverage: Coverage;
  /** The proxy's figures (its sidecar's, or its share of a node proxy); null where not measured. */
  sidecarCpuMsPer1k: number | null;
  sidecarMemMb: number | null;
  /** Why the proxy was not measured (the file's proxy_unmeasured); null where it was. */
  proxyUnmeasured: string | null;
  appCpuMsPer1k: number;
  appMemMb: number;
}

/**
 * One direction of a pod in a file, as the collector's cost model reads it: the exchanges
 * seen complete are those joined plus those unpaired (from agents that time read ->
 * write, which join none: the request hops they timed). Files from before the joint
 * histogram lack it, the method and the unpaired count: read to write.
 */
function direction(
  request: FileHistogram | undefined,
  response: FileHistogram | undefined,
  added: FileHistogram | undefined,
  method: HopMethod | undefined,
  unpaired: number | undefined,
): { stats: LatencyStats; coverage: Coverage } {
  const hops = { request: fromFile(request), response: fromFile(response), added: fromFile(added) };
  const timing = timingOf(method ?? 'HOP_METHOD_UNSPECIFIED');
  const figure = addedLatency(hops, timing);
  const requests =
    timing === 'arrival-to-forward'
      ? totalCount(hops.added) + (unpaired ?? 0)
      : totalCount(hops.request);
  return {
    stats: figure.stats,
    coverage: {
      method: figure.method,
      exchanges: figure.exchanges,
      requests,
      unpaired: unpaired ?? 0,
      coverage: requests > 0 ? round(Math.min(1, figure.exchanges / requests)) : null,
    },
  };
}

export function podRows(file: SessionFile): PodRow[] {
  return file.tollgate.pods
    .map((p) => {
      const inbound = direction(
        p.inbound_request_hop,
        p.inbound_response_hop,
        p.inbound_added,
        p.inbound_method,
        p.inbound_unpaired,
      );
      const outbound = direction(
        p.outbound_request_hop,
        p.outbound_response_hop,
        p.outbound_added,
        p.outbound_method,
        p.outbound_unpaired,
      );
      // Files from before the field lack it: their figures read as measured.
      const unmeasured = (p.proxy_unmeasured ?? '') !== '';
      return {
        pod: `${p.pod.namespace}/${p.pod.name}`,
        proxy: p.proxy,
        requests: p.requests,
        inbound: inbound.stats,
        outbound: outbound.stats,
        inboundCoverage: inbound.coverage,
        outboundCoverage: outbound.coverage,
        // A proxy not measured has zeros in the file that are no figures.
        sidecarCpuMsPer1k: unmeasured ? null : round(p.sidecar_cpu_ms_per_thousand_requests),
        sidecarMemMb: unmeasured ? null : round(p.sidecar_mem_mb),
        proxyUnmeasured: unmeasured ? p.proxy_unmeasured : null,
        appCpuMsPer1k: round(p.app_cpu_ms_per_thousand_requests),
        appMemMb: round(p.app_mem_mb),
      };
    })
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
  /** A pod's mesh mode, or its change between the sessions; '' for the rest. */
  meshModes: string;
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
        meshModes: meshModesNote(item.meshModes),
      });
    }
  return rows;
}
