// The store keeps each metric at five resolutions: raw rows (one per report interval,
// bucketed to the second), and rollups to 10 seconds, the minute, 10 minutes and the
// hour, each with its own retention. Which tier answers a query depends on how far back
// it reaches and how finely it is asked for. The tiers step by 6 to 10 so that a range
// read whole (a window's aggregate) takes few rows of each at its ragged ends: a day is
// its hours and at most 5 rows of 10 minutes, 9 of minutes, 5 of 10 s and the last
// seconds' raw rows per series at each end. Pure.

export interface Tier {
  name: 'raw' | 'tensec' | 'minute' | 'tenmin' | 'hour';
  /** Width of a bucket in milliseconds. */
  bucketMs: number;
  /** Rows older than this are deleted. */
  retentionMs: number;
}

/**
 * How long each resolution is kept. The 10 s tier is kept as long as raw rows and the
 * 10 min tier as long as minutes: they only spare reads the ragged ends of ranges.
 */
export interface RetentionOptions {
  rawMs?: number;
  minuteMs?: number;
  hourMs?: number;
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

export function tiers(retention: RetentionOptions = {}): readonly Tier[] {
  const rawMs = retention.rawMs ?? 6 * HOUR_MS;
  const minuteMs = retention.minuteMs ?? 7 * DAY_MS;
  const list: Tier[] = [
    { name: 'raw', bucketMs: 1000, retentionMs: rawMs },
    { name: 'tensec', bucketMs: 10_000, retentionMs: rawMs },
    { name: 'minute', bucketMs: 60_000, retentionMs: minuteMs },
    { name: 'tenmin', bucketMs: 600_000, retentionMs: minuteMs },
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
 * Splits [fromMs, toMs) over the tiers. Each part goes to the coarsest tier whose bucket
 * is at most `preferredMs` and that has it rolled up (`rolledTo`, the end of its last
 * complete bucket), else to the finest tier that still holds it. A coarse tier answers
 * only whole buckets inside the range, finer ones the ragged ends, so the result is the
 * same whichever tiers answer; only data the finer tiers no longer hold is read by whole
 * coarse buckets from before `fromMs`.
 */
export function planRange(
  fromMs: number,
  toMs: number,
  nowMs: number,
  list: readonly Tier[],
  rolledTo: ReadonlyMap<Tier['name'], number>,
  preferredMs = 0,
): TierSpan[] {
  const plan = (from: number, to: number, i: number): TierSpan[] => {
    if (from >= to) return [];
    if (i === 0) return [{ tier: list[0]!, fromMs: from, toMs: to }];
    const coarse = list[i]!;
    const finerHoldsFrom = nowMs - list[i - 1]!.retentionMs;
    const rolled = rolledTo.get(coarse.name) ?? 0;
    const ceil = (t: number) => Math.ceil(t / coarse.bucketMs) * coarse.bucketMs;
    let start: number;
    let end: number;
    if (from < finerHoldsFrom) {
      // Only this tier (or a coarser one) still holds the oldest part: whole buckets, up
      // to the first whole one the finer tier holds (never half a bucket from each), or
      // further when this tier is fine enough for the range.
      start = bucketStart(from, coarse.bucketMs);
      const finerFrom = ceil(finerHoldsFrom);
      end = Math.min(
        to,
        rolled,
        coarse.bucketMs <= preferredMs
          ? Math.max(finerFrom, bucketStart(to, coarse.bucketMs))
          : finerFrom,
      );
    } else if (coarse.bucketMs <= preferredMs) {
      start = ceil(from);
      end = Math.min(rolled, bucketStart(to, coarse.bucketMs));
    } else {
      return plan(from, to, i - 1);
    }
    if (end <= start || end <= from) return plan(from, to, i - 1);
    return [
      ...plan(from, Math.max(from, start), i - 1),
      { tier: coarse, fromMs: start, toMs: end },
      ...plan(end, to, i - 1),
    ];
  };
  return plan(fromMs, toMs, list.length - 1);
}
