// The time range the viewer shows: live (the collector's sliding window over a
// WebSocket), the last N minutes, or a session's window. Pure: choice in, query out.

export type TimeRangeChoice =
  | { kind: 'live' }
  | { kind: 'last'; minutes: number }
  | { kind: 'session'; id: string; name: string; fromMs: number; toMs: number };

export const LAST_CHOICES = [5, 15, 60, 360, 1440] as const;

/** The query string of the read routes (from/to, or window seconds). */
export function rangeQuery(choice: TimeRangeChoice): string {
  if (choice.kind === 'session')
    return `from=${Math.floor(choice.fromMs)}&to=${Math.ceil(choice.toMs)}`;
  if (choice.kind === 'last') return `window=${choice.minutes * 60}`;
  return 'window=60';
}

export function describeRange(choice: TimeRangeChoice): string {
  if (choice.kind === 'live') return 'live';
  if (choice.kind === 'last')
    return choice.minutes >= 60 ? `last ${choice.minutes / 60} h` : `last ${choice.minutes} min`;
  return `session ${choice.name}`;
}

/** How often a range that is not live is fetched again (ms); sessions are fixed. */
export function refreshEveryMs(choice: TimeRangeChoice): number | null {
  return choice.kind === 'last' ? 10_000 : null;
}
