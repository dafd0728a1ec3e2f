// The store keeps each metric at three resolutions: raw rows (one per report interval,
// bucketed to the second), and rollups to the minute and the hour, each with its own
// retention. Which tier answers a query depends on how far back it reaches. Pure.

export interface Tier {
  name: 'raw' | 'minute' | 'hour';
  /** Width of a bucket in milliseconds. */
  bucketMs: number;
  /** Rows older than this are deleted. */
  retentionMs: number;
}

export interface RetentionOptions {
  rawMs?: number;
  minuteMs?: number;
  hourMs?: number;
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

export function tiers(retention: RetentionOptions = {}): readonly Tier[] {
  const list: Tier[] = [
    { name: 'raw', bucketMs: 1000, retentionMs: retention.rawMs ?? 6 * HOUR_MS },
    { name: 'minute', bucketMs: 60_000, retentionMs: retention.minuteMs ?? 7 * DAY_MS },
    { name: 'hour', bucketMs: HOUR_MS, retentionMs: retention.hourMs ?? 90 * DAY_MS },
  ];
  for (let i = 1; i < list.length; i++) {
    if (list[i]!.retentionMs < list[i - 1]!.retentionMs)
      throw new RangeError(`${list[i]!.name} retention is shorter than ${list[i - 1]!.name}'s`);
  }
  return list;
}

export function bucketStart(timeMs: number, bucketMs: number): number {
  return Math.floor(timeMs / bucketMs) * bucketMs;
}

export interface TierSpan {
  tier: Tier;
  /** [fromMs, toMs) of bucket starts to read from this tier. */
  fromMs: number;
  toMs: number;
}

/**
 * Splits [fromMs, toMs) over the tiers: each part goes to the finest tier that still
 * holds it. A coarser tier holds only what has been rolled up into it (`rolledTo`, the
 * end of its last complete bucket); the finer tier answers for the rest.
 */
export function planRange(
  fromMs: number,
  toMs: number,
  nowMs: number,
  list: readonly Tier[],
  rolledTo: ReadonlyMap<Tier['name'], number>,
): TierSpan[] {
  const spans: TierSpan[] = [];
  let start = fromMs;
  for (let i = list.length - 1; i >= 1 && start < toMs; i--) {
    const coarse = list[i]!;
    const finer = list[i - 1]!;
    // Only what the finer tier no longer holds needs the coarser one.
    const finerHoldsFrom = nowMs - finer.retentionMs;
    if (start >= finerHoldsFrom) continue;
    const end = Math.min(toMs, rolledTo.get(coarse.name) ?? 0, finerHoldsFrom);
    if (end > start) {
      spans.push({ tier: coarse, fromMs: bucketStart(start, coarse.bucketMs), toMs: end });
      start = end;
    }
  }
  if (start < toMs) spans.push({ tier: list[0]!, fromMs: start, toMs });
  return spans;
}
