// The metric series the store keeps, described once: the schema, the writes, the rollups
// and the range reads are all generated from these descriptions. Every column merges
// by a rule that is associative (sum, max, histogram merge), so rows can be combined in
// any order and at any tier. Pure.

export interface SeriesKind {
  name: 'end' | 'hop' | 'resource' | 'agent';
  /** Counters and durations, merged by adding. */
  sums: readonly string[];
  /** Peaks, merged by taking the larger. */
  maxes: readonly string[];
  /** Histograms (encoded tollgate.v1.Histogram), merged bucket by bucket. */
  hists: readonly string[];
}

export const END_SUMS = [
  'connects',
  'connect_errors',
  'accepts',
  'closes',
  'resets_sent',
  'resets_received',
  'bytes_sent',
  'bytes_received',
  'send_ops',
  'recv_ops',
  'retransmits',
  'drops',
  'exchanges',
] as const;

export const END_HISTS = ['connect_latency', 'exchange_latency', 'srtt'] as const;

export const SERIES: readonly SeriesKind[] = [
  /** One connection end (a kernel aggregation key) of one process. */
  { name: 'end', sums: END_SUMS, maxes: [], hists: END_HISTS },
  /** One sidecar process in one direction. */
  {
    name: 'hop',
    sums: ['requests', 'unpaired'],
    maxes: [],
    hists: ['request_hop', 'response_hop'],
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

export function seriesKind(name: SeriesKind['name']): SeriesKind {
  return SERIES.find((k) => k.name === name)!;
}

export function columns(kind: SeriesKind): string[] {
  return [...kind.sums, ...kind.maxes, ...kind.hists];
}

export function tableName(kind: SeriesKind, tier: string): string {
  return `m_${kind.name}_${tier}`;
}
