// The metric series the store keeps, described once: the schema, the writes, the rollups
// and the range reads are all generated from these descriptions. Every column merges
// by a rule that is associative (sum, max, histogram merge), so rows can be combined in
// any order and at any tier. Pure.
import { type CounterColumn, WIRE_COUNTERS } from '../../proto/edge-metrics.js';
import type { HopMethod } from '../../proto/gen/tollgate/v1.js';
import { HOP_REPORT_COUNTERS, type HopCounterColumn } from '../../proto/hop-metrics.js';

export interface SeriesKind {
  name: 'end' | 'hop' | 'resource' | 'agent';
  /** Counters and durations, merged by adding. */
  sums: readonly string[];
  /** Peaks, merged by taking the larger. */
  maxes: readonly string[];
  /** Histograms (encoded tollgate.v1.Histogram), merged bucket by bucket. */
  hists: readonly string[];
  /**
   * Columns added after the series' tables were first made, with the schema version that
   * added them: the first migration leaves them out and that version adds them, so a
   * store of any age ends with the same tables, its older rows reading as 0 or empty.
   */
  since?: Readonly<Record<string, number>>;
}

/** The counters of a connection end: EdgeReport's, by column name (proto/edge-metrics.ts). */
export const END_SUMS: readonly CounterColumn[] = WIRE_COUNTERS.map((m) => m.name);

/** The schema version that added each counter added after the first. */
const END_SINCE: Readonly<Record<string, number>> = Object.fromEntries(
  WIRE_COUNTERS.flatMap((m) => ('since' in m.wire ? [[m.name, m.wire.since]] : [])),
);

export const END_HISTS = ['connect_latency', 'exchange_latency', 'srtt'] as const;

/** The counters of a sidecar's hops: HopReport's, by column name (proto/hop-metrics.ts). */
export const HOP_SUMS: readonly HopCounterColumn[] = HOP_REPORT_COUNTERS.map((c) => c.name);

/** The schema version that added each hop column added after the first. */
const HOP_SINCE: Readonly<Record<string, number>> = {
  ...Object.fromEntries(
    HOP_REPORT_COUNTERS.flatMap((c) => ('since' in c ? [[c.name, c.since]] : [])),
  ),
  method: 5,
  added: 5,
  handoffs_at_wake_ups: 18,
  handoffs_at_reads: 18,
};

export const SERIES: readonly SeriesKind[] = [
  /** One connection end (a kernel aggregation key) of one process. */
  {
    name: 'end',
    sums: END_SUMS,
    maxes: [],
    hists: END_HISTS,
    since: END_SINCE,
  },
  /** One sidecar process in one direction (see tollgate.v1.HopReport). */
  {
    name: 'hop',
    // And the hand-offs (request and reply) of reports that timed them from wake-up to
    // wake-up or from read to read (HopReport.handoff_ends): the rest of `handoffs` and
    // `reply_handoffs` were not said. Summed, so a range that mixes them says how much.
    sums: [...HOP_SUMS, 'handoffs_at_wake_ups', 'handoffs_at_reads'],
    // HopReport.method as METHOD_CODE: methods are numbered as they came, so a range
    // that mixes agents reads as its newest method; the coverage says how much of the
    // traffic the figure made by it stands for.
    maxes: ['method'],
    hists: ['request_hop', 'response_hop', 'added'],
    since: HOP_SINCE,
  },
  /** One process's CPU (the part used in the interval) and resident memory. */
  {
    name: 'resource',
    sums: ['cpu_ns', 'rss_bytes_sum', 'samples'],
    maxes: ['rss_bytes_max'],
    hists: [],
  },
  /** One agent's own cost. */
  {
    name: 'agent',
    sums: [
      'agent_cpu_ns',
      'runner_cpu_ns',
      'agent_rss_bytes_sum',
      'runner_rss_bytes_sum',
      'samples',
    ],
    maxes: ['agent_rss_bytes_max', 'runner_rss_bytes_max'],
    hists: [],
  },
];

/** The hop series' method column: numbered as the methods came (see HopReport.method). */
export const METHOD_CODE = {
  HOP_METHOD_UNSPECIFIED: 0,
  HOP_METHOD_READ_TO_WRITE: 1,
  HOP_METHOD_ARRIVAL_TO_FORWARD: 2,
} as const satisfies Record<HopMethod, number>;

/** The method a stored code stands for; a code this collector does not know: unspecified. */
export function methodOfCode(code: number): HopMethod {
  const found = (Object.entries(METHOD_CODE) as [HopMethod, number][]).find(([, c]) => c === code);
  return found?.[0] ?? 'HOP_METHOD_UNSPECIFIED';
}

export function seriesKind(name: SeriesKind['name']): SeriesKind {
  return SERIES.find((k) => k.name === name)!;
}

export function columns(kind: SeriesKind): string[] {
  return [...kind.sums, ...kind.maxes, ...kind.hists];
}

/** One schema's SQL types for the series' columns. */
export interface SeriesColumnTypes {
  /** Counters and peaks. */
  number: string;
  /** Encoded histograms. */
  histogram: string;
}

/** A series column's definition: counters and peaks default to 0, histograms to NULL. */
export function columnDefinition(
  kind: SeriesKind,
  column: string,
  types: SeriesColumnTypes,
): string {
  return kind.hists.includes(column)
    ? `${column} ${types.histogram}`
    : `${column} ${types.number} NOT NULL DEFAULT 0`;
}

/** The definitions of a kind's columns (those `keep` keeps), in columns() order, comma-separated. */
export function columnDefinitions(
  kind: SeriesKind,
  types: SeriesColumnTypes,
  keep: (column: string) => boolean = () => true,
): string {
  return columns(kind)
    .filter(keep)
    .map((c) => columnDefinition(kind, c, types))
    .join(', ');
}

export function tableName(kind: SeriesKind, tier: string): string {
  return `m_${kind.name}_${tier}`;
}
