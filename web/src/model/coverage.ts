// What a sidecar's added latency stands for, in words for the panels: the share of the
// exchanges its figure covers, how many it leaves out, and how it was made. Pure.
import type { DirectionCost } from './api-types.js';
import { formatMs, formatNumber, formatPercent } from './format.js';

/** How much of a direction's traffic its added latency stands for, and how it was made. */
export type Coverage = Pick<
  DirectionCost,
  'method' | 'exchanges' | 'requests' | 'unpaired' | 'coverage'
>;

/** The share of the exchanges behind the figure, e.g. "98.5%"; "–" when none were seen. */
export const coverageShare = (c: Coverage): string => formatPercent(c.coverage);

/**
 * E.g. "1,500 of 1,520 exchanges · 20 unpaired · arrival-to-forward, joint · 1,400 handed
 * off · 1,300 replies handed off · hand-offs timed wake-up to wake-up · neighbours wait
 * 52 µs a request": where known and not 0, the request hops that ran on to the app, the
 * response hops that ran on to the client's, where those hand-offs began and ended, and
 * the run-queue wait of other processes behind the proxy per request (not in the added
 * latency).
 */
export function coverageNote(
  c: Coverage &
    Partial<
      Pick<
        DirectionCost,
        | 'handoffs'
        | 'replyHandoffs'
        | 'handoffTiming'
        | 'handoffsByEnds'
        | 'neighbourWaitMsPerRequest'
      >
    >,
): string {
  return [
    `${formatNumber(c.exchanges)} of ${formatNumber(c.requests)} exchanges`,
    `${formatNumber(c.unpaired)} unpaired`,
    c.method,
    ...(c.handoffs ? [`${formatNumber(c.handoffs)} handed off`] : []),
    ...(c.replyHandoffs ? [`${formatNumber(c.replyHandoffs)} replies handed off`] : []),
    ...(c.handoffTiming ? [handoffTimingNote(c.handoffTiming, c.handoffsByEnds)] : []),
    ...(c.neighbourWaitMsPerRequest
      ? [`neighbours wait ${formatMs(c.neighbourWaitMsPerRequest)} a request`]
      : []),
  ].join(' · ');
}

/** Where the hand-offs began and ended; mixed ones by their counts. */
function handoffTimingNote(
  timing: NonNullable<DirectionCost['handoffTiming']>,
  by: DirectionCost['handoffsByEnds'] | undefined,
): string {
  if (timing === 'not said') return "hand-offs' ends not said";
  if (timing !== 'mixed') return `hand-offs timed ${timing}`;
  if (!by) return 'hand-offs timed more than one way';
  const parts = [
    [by.wakeUps, 'wake-up to wake-up'],
    [by.reads, 'read to read'],
    [by.notSaid, 'not said'],
  ] as const;
  return `hand-offs timed ${parts
    .filter(([n]) => n > 0)
    .map(([n, how]) => `${formatNumber(n)} ${how}`)
    .join(', ')}`;
}

/** For a crowded cell: the share and whether the exchanges were joined, e.g. "98.5% joint". */
export function coverageShort(c: Coverage): string {
  return `${coverageShare(c)} ${c.method.endsWith('joint') ? 'joint' : 'independent'}`;
}
