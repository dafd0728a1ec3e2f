// Latency summaries for the API, in milliseconds, and the added latency of a sidecar:
// the distribution of request hop + response hop per exchange. Pure.
import type { HandoffEnds, HopMethod } from './gen/tollgate/v1.js';
import { bucketValue, mean, quantile, type SparseHistogram, totalCount } from './histogram.js';

export interface LatencyStats {
  count: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  meanMs: number | null;
}

const ms = (ns: number | undefined) => (ns === undefined ? null : round(ns / 1e6));

/** Four significant digits: more than the histogram's ~3% resolution carries. */
export function round(value: number): number {
  return Number(value.toPrecision(4));
}

export function latencyStats(h: SparseHistogram): LatencyStats {
  return {
    count: totalCount(h),
    p50Ms: ms(quantile(h, 0.5)),
    p90Ms: ms(quantile(h, 0.9)),
    p99Ms: ms(quantile(h, 0.99)),
    meanMs: ms(mean(h)),
  };
}

/** How a sidecar's hops were timed (see HopMethod). */
export type HopTiming = 'arrival-to-forward' | 'read-to-write';

/**
 * How an added latency was made: how its hops were timed, and whether each exchange's
 * request and response hop were summed in the kernel (joint) or their distributions
 * combined as if independent, which under load understates the tail (a slow request
 * and a slow response go together when the proxy is busy).
 */
export type AddedMethod =
  | 'arrival-to-forward, joint'
  | 'arrival-to-forward, independent sum'
  | 'read-to-write, independent sum';

export interface AddedLatency {
  stats: LatencyStats;
  method: AddedMethod;
  /**
   * Exchanges behind the figure: those the kernel paired (joint), or, for the sum of
   * independent hops, the smaller of the two hop counts.
   */
  exchanges: number;
}

/**
 * Where a direction's handed-off hops began and ended (HopReport.handoff_ends): at the
 * proxy's and the reader's wake-ups, at their reads, in more than one of those ways over
 * the range ('mixed'), or not said (agents older than the field).
 */
export type HandoffTiming = 'wake-up to wake-up' | 'read to read' | 'mixed' | 'not said';

/** A direction's hand-offs (request and reply) by how they were timed. */
export interface HandoffsByEnds {
  wakeUps: number;
  reads: number;
  notSaid: number;
}

/** The timing of `by`'s hand-offs in words; null without any. */
export function handoffTimingOf(by: HandoffsByEnds): HandoffTiming | null {
  const kinds = [by.wakeUps, by.reads, by.notSaid].filter((n) => n > 0).length;
  if (kinds === 0) return null;
  if (kinds > 1) return 'mixed';
  return by.wakeUps > 0 ? 'wake-up to wake-up' : by.reads > 0 ? 'read to read' : 'not said';
}

/** HandoffEnds as a session file keeps it (UNSPECIFIED: none, or none said). */
const ENDS_OF_TIMING = {
  'wake-up to wake-up': 'HANDOFF_ENDS_WAKE_UPS',
  'read to read': 'HANDOFF_ENDS_READS',
  mixed: 'HANDOFF_ENDS_MIXED',
  'not said': 'HANDOFF_ENDS_UNSPECIFIED',
} as const satisfies Record<HandoffTiming, HandoffEnds>;

export const handoffEndsOfTiming = (timing: HandoffTiming | null): HandoffEnds =>
  timing === null ? 'HANDOFF_ENDS_UNSPECIFIED' : ENDS_OF_TIMING[timing];

/** A session file's HandoffEnds in words; null where it says none (or none was said). */
export const timingOfHandoffEnds = (ends: HandoffEnds): HandoffTiming | null =>
  ends === 'HANDOFF_ENDS_UNSPECIFIED'
    ? null
    : ((Object.entries(ENDS_OF_TIMING) as [HandoffTiming, HandoffEnds][]).find(
        ([, e]) => e === ends,
      )?.[0] ?? null);

/** Agents older than the method field timed read to write. */
export const timingOf = (method: HopMethod): HopTiming =>
  method === 'HOP_METHOD_ARRIVAL_TO_FORWARD' ? 'arrival-to-forward' : 'read-to-write';

/**
 * A direction's added latency: the joint per-exchange histogram when there is one (with
 * its exact mean), else the sum of the two hop histograms as if independent, for data
 * from agents that do not join exchanges. Only arrival-to-forward agents join them; from
 * those an empty joint histogram means no exchange had both hops paired, and the figure
 * is empty rather than a sum of hops that belong to no known exchange.
 */
export function addedLatency(
  hops: { request: SparseHistogram; response: SparseHistogram; added: SparseHistogram },
  timing: HopTiming,
): AddedLatency {
  const paired = totalCount(hops.added);
  if (paired > 0 || timing === 'arrival-to-forward')
    return {
      stats: latencyStats(hops.added),
      method: 'arrival-to-forward, joint',
      exchanges: paired,
    };
  const stats = sumOfHops(hops.request, hops.response);
  return { stats, method: `${timing}, independent sum`, exchanges: stats.count };
}

/**
 * The distribution of a + b for independent a and b (request and response hop of the
 * same requests), from their histograms: every pair of buckets contributes the sum of
 * their values with the product of their probabilities. The mean is exact (means add);
 * quantiles carry the buckets' ~3% error plus the independence assumption.
 */
export function sumOfHops(request: SparseHistogram, response: SparseHistogram): LatencyStats {
  const nA = totalCount(request);
  const nB = totalCount(response);
  if (nA === 0 || nB === 0) return latencyStats(nA === 0 ? response : request);
  const points: { value: number; weight: number }[] = [];
  for (let i = 0; i < request.indexes.length; i++) {
    const va = bucketValue(request.layout, request.indexes[i]!);
    const pa = request.counts[i]! / nA;
    for (let j = 0; j < response.indexes.length; j++) {
      points.push({
        value: va + bucketValue(response.layout, response.indexes[j]!),
        weight: (pa * response.counts[j]!) / nB,
      });
    }
  }
  points.sort((x, y) => x.value - y.value);
  const at = (q: number) => {
    let seen = 0;
    for (const p of points) {
      seen += p.weight;
      if (seen >= q - 1e-12) return p.value;
    }
    return points[points.length - 1]!.value;
  };
  return {
    count: Math.min(nA, nB),
    p50Ms: ms(at(0.5)),
    p90Ms: ms(at(0.9)),
    p99Ms: ms(at(0.99)),
    meanMs: ms((mean(request) ?? 0) + (mean(response) ?? 0)),
  };
}
