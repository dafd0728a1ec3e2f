// The Prometheus text exposition format for Tollgate's own families, written here
// because prom-client's histograms take one observation at a time and ours arrive as
// bucket counts from the kernel. Label values come from the observed world (pod and
// process names) and are escaped as the format requires. Pure.
import { bucketValue, type SparseHistogram } from '../../proto/histogram.js';

export type Labels = Record<string, string>;

/** Upper bounds in seconds: 50 us to 10 s, the range of request latencies. */
export const SECONDS_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
  5, 10,
] as const;

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return '';
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

export interface Sample {
  labels: Labels;
  value: number;
}

export function scalarFamily(
  name: string,
  type: 'counter' | 'gauge',
  help: string,
  samples: readonly Sample[],
): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const s of samples) lines.push(`${name}${labelText(s.labels)} ${s.value}`);
  return `${lines.join('\n')}\n`;
}

/** Cumulative counts per SECONDS_BUCKETS bound from a nanosecond histogram. */
export function secondsBuckets(h: SparseHistogram): {
  counts: number[];
  total: number;
  sumSeconds: number;
} {
  const counts = SECONDS_BUCKETS.map(() => 0);
  let total = 0;
  for (let k = 0; k < h.indexes.length; k++) {
    const seconds = bucketValue(h.layout, h.indexes[k]!) / 1e9;
    const c = h.counts[k]!;
    total += c;
    const slot = SECONDS_BUCKETS.findIndex((le) => seconds <= le);
    if (slot >= 0) counts[slot]! += c;
  }
  for (let i = 1; i < counts.length; i++) counts[i]! += counts[i - 1]!;
  return { counts, total, sumSeconds: h.sumNs / 1e9 };
}

export function histogramFamily(
  name: string,
  help: string,
  samples: readonly { labels: Labels; histogram: SparseHistogram }[],
): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
  for (const s of samples) {
    const b = secondsBuckets(s.histogram);
    SECONDS_BUCKETS.forEach((le, i) => {
      lines.push(`${name}_bucket${labelText(s.labels, ['le', String(le)])} ${b.counts[i]}`);
    });
    lines.push(`${name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${b.total}`);
    lines.push(`${name}_sum${labelText(s.labels)} ${b.sumSeconds}`);
    lines.push(`${name}_count${labelText(s.labels)} ${b.total}`);
  }
  return `${lines.join('\n')}\n`;
}
