// The benchmarks' results file (bench/results/latest.json) and the Markdown table README
// shows of it. Pure: README's table is checked against the file by a test, so the two
// cannot drift.

import { STATS } from './ab-truth.js';
import type { AddedLatencyCondition, ConditionName } from './added-latency.js';

export interface MachineDescription {
  cpu: string;
  cores: number;
  memory_gb: number;
  kernel: string;
  node: string;
}

export interface BenchReport {
  ran_at: string;
  commit: string | null;
  machine: MachineDescription;
  /** Each benchmark's JSON object, or { error } when it failed. */
  results: Record<string, Record<string, unknown>>;
}

interface Row {
  benchmark: string;
  key: string;
  target: string;
  met?: (value: unknown) => boolean;
}

const atLeast = (n: number) => (v: unknown) => typeof v === 'number' && v >= n;
const atMost = (n: number) => (v: unknown) => typeof v === 'number' && v <= n;

/** The headline keys of each benchmark, in the order README lists them, with their targets. */
const ROWS: Row[] = [
  { benchmark: 'overhead', key: 'throughput_ratio', target: '>= 0.97', met: atLeast(0.97) },
  { benchmark: 'overhead', key: 'p50_ratio', target: '' },
  { benchmark: 'overhead', key: 'p99_ratio', target: '' },
  { benchmark: 'overhead', key: 'p99_added_ms', target: '<= max(5% of p99, 0.05)' },
  { benchmark: 'overhead', key: 'p99_noise_ms', target: '' },
  // The targets judge Tollgate's whole cost on the node (node_*); the agent's share alone
  // is shown beside it.
  { benchmark: 'overhead', key: 'agent_millicores', target: '' },
  { benchmark: 'overhead', key: 'kernel_millicores', target: '' },
  { benchmark: 'overhead', key: 'floor_kernel_millicores', target: '' },
  { benchmark: 'overhead', key: 'workload_added_millicores', target: '' },
  { benchmark: 'overhead', key: 'workload_noise_millicores', target: '' },
  { benchmark: 'overhead', key: 'node_millicores', target: '<= 100', met: atMost(100) },
  { benchmark: 'overhead', key: 'map_memory_mb', target: '' },
  { benchmark: 'overhead', key: 'node_memory_mb', target: '<= 150', met: atMost(150) },
  { benchmark: 'overhead', key: 'agent_rss_mb', target: '' },
  { benchmark: 'overhead', key: 'kernel_ns_per_event', target: '' },
  { benchmark: 'overhead', key: 'lost_events', target: '0', met: (v) => v === 0 },
  { benchmark: 'overhead', key: 'requests_per_s', target: '10000' },
  // Results from before the A/B truth (against what the delay proxy held) have this key;
  // newer ones those after it (the p90 and mean ones since the quantiles are judged by the
  // B they imply). A key a result lacks has no row.
  {
    benchmark: 'accuracy',
    key: 'added_latency_rel_error_max',
    target: '<= 0.10 (or 50 us)',
  },
  {
    benchmark: 'accuracy',
    key: 'added_latency_p50_rel_error_max',
    target: '<= 0.15 (or 20 us)',
  },
  { benchmark: 'accuracy', key: 'added_latency_p90_rel_error_max', target: '<= 0.20' },
  { benchmark: 'accuracy', key: 'added_latency_p99_rel_error_max', target: '<= 0.30' },
  {
    benchmark: 'accuracy',
    key: 'added_latency_mean_rel_error_max',
    target: '<= 0.15 (or 20 us)',
  },
  { benchmark: 'accuracy', key: 'ab_noise_floor', target: '' },
  {
    benchmark: 'accuracy',
    key: 'exchange_p50_rel_error_max',
    target: '<= 0.03',
    met: atMost(0.03),
  },
  {
    benchmark: 'accuracy',
    key: 'exchange_p99_rel_error_max',
    target: '<= 0.03',
    met: atMost(0.03),
  },
  { benchmark: 'accuracy', key: 'bytes_exact', target: 'true', met: (v) => v === true },
  {
    benchmark: 'accuracy',
    key: 'retransmits_match_kernel',
    target: 'true',
    met: (v) => v === true,
  },
  {
    benchmark: 'ingest',
    key: 'records_per_s_per_core',
    target: '>= 100000',
    met: atLeast(100_000),
  },
  // At the steady load of bench ingest (50,000 records/s), not the burst.
  {
    benchmark: 'ingest',
    key: 'paced_ack_p99_ms',
    target: '< 1000',
    met: (v) => typeof v === 'number' && v < 1000,
  },
  { benchmark: 'ingest', key: 'paced_us_per_record', target: '' },
  { benchmark: 'ui', key: 'fps_pan', target: '>= 30', met: atLeast(30) },
  { benchmark: 'ui', key: 'first_render_ms', target: '' },
  { benchmark: 'ui', key: 'window_6h_load_ms', target: '' },
  {
    benchmark: 'ui',
    key: 'window_24h_load_ms',
    target: '< 2000',
    met: (v) => typeof v === 'number' && v < 2000,
  },
  { benchmark: 'probes', key: 'kernel_ns_per_event', target: '<= 150', met: atMost(150) },
  { benchmark: 'probes', key: 'empty_program_ns_per_event', target: '' },
  { benchmark: 'probes', key: 'clock_read_program_ns_per_event', target: '' },
  { benchmark: 'probes', key: 'throughput_ratio', target: '>= 0.97', met: atLeast(0.97) },
  { benchmark: 'probes', key: 'empty_program_throughput_ratio', target: '' },
  { benchmark: 'probes', key: 'clock_read_program_throughput_ratio', target: '' },
  { benchmark: 'probes', key: 'events_per_s', target: '' },
  { benchmark: 'chaos', key: 'batches_sent', target: '' },
  { benchmark: 'chaos', key: 'batches_acked', target: '' },
  { benchmark: 'chaos', key: 'batches_stored', target: '= batches_sent' },
  { benchmark: 'chaos', key: 'duplicates_dropped', target: '' },
  { benchmark: 'chaos', key: 'lost', target: '0', met: (v) => v === 0 },
  { benchmark: 'chaos', key: 'max_agent_rss_mb', target: '<= 150', met: atMost(150) },
  { benchmark: 'chaos', key: 'max_collector_rss_mb', target: '' },
  // Many agents against one collector; the issue states no target (issue 26, item 6).
  { benchmark: 'scale', key: 'agents', target: '' },
  { benchmark: 'scale', key: 'records_per_s_offered', target: '' },
  { benchmark: 'scale', key: 'records_per_s_wall', target: '' },
  { benchmark: 'scale', key: 'records_per_s_per_core', target: '' },
  { benchmark: 'scale', key: 'ack_p99_ms', target: '' },
  { benchmark: 'scale', key: 'kept_up', target: '' },
  { benchmark: 'scale', key: 'lost', target: '' },
  { benchmark: 'scale', key: 'collector_rss_mb', target: '' },
  { benchmark: 'scale', key: 'store_mb_per_hour', target: '' },
  { benchmark: 'scale', key: 'model.nodes', target: '' },
  { benchmark: 'scale', key: 'model.collector_cores', target: '' },
  { benchmark: 'scale', key: 'model.collector_replicas', target: '' },
  { benchmark: 'scale', key: 'model.store_gb_per_day', target: '' },
];

/** A result's value at a key, or at a path into it ('model.nodes'). */
function valueAt(result: Record<string, unknown>, key: string): unknown {
  let value: unknown = result;
  for (const part of key.split('.'))
    value =
      typeof value === 'object' && value !== null
        ? (value as Record<string, unknown>)[part]
        : undefined;
  return value;
}

/** Targets whose check is more than one number live in the result's own `targets.met`. */
function metOf(row: Row, result: Record<string, unknown>): string {
  const value = valueAt(result, row.key);
  if (row.met) return row.met(value) ? 'yes' : '**no**';
  const met = (result.targets as { met?: Record<string, boolean> } | undefined)?.met;
  const named: Record<string, string> = {
    p99_added_ms: 'p99',
    added_latency_rel_error_max: 'added_latency',
    added_latency_p50_rel_error_max: 'added_latency_p50',
    added_latency_p90_rel_error_max: 'added_latency_p90',
    added_latency_p99_rel_error_max: 'added_latency_p99',
    added_latency_mean_rel_error_max: 'added_latency_mean',
  };
  const flag = named[row.key] ? met?.[named[row.key]!] : undefined;
  if (flag === undefined) return '';
  return flag ? 'yes' : '**no**';
}

export function renderResultsTable(report: BenchReport): string {
  const m = report.machine;
  const lines = [
    `Ran ${report.ran_at.slice(0, 10)}${report.commit ? ` at ${report.commit.slice(0, 7)}` : ''} on ${m.cpu}, ${m.cores} cores, ${m.memory_gb} GB, Linux ${m.kernel}, Node ${m.node}.`,
    '',
    '| benchmark | key | value | target | met |',
    '|---|---|---|---|---|',
  ];
  for (const row of ROWS) {
    const result = report.results[row.benchmark];
    if (!result) continue;
    if ('error' in result) {
      if (row === ROWS.find((r) => r.benchmark === row.benchmark))
        lines.push(`| ${row.benchmark} | error | ${String(result.error)} | | |`);
      continue;
    }
    const value = valueAt(result, row.key);
    if (value === undefined) continue;
    lines.push(
      `| ${row.benchmark} | ${row.key} | ${String(value)} | ${row.target} | ${metOf(row, result)} |`,
    );
  }
  return lines.join('\n');
}

/** The conditions' letters, as the issue and README name them. */
const CONDITION_LETTERS: Record<ConditionName, string> = {
  tcp_low: 'a',
  tcp_saturation: 'b',
  http_reuse: 'c',
  h2_sidecars: 'd',
  tls_sidecars: 'e',
  binary_rr: 'f',
  delay_proxy: 'g',
  ambient: 'h',
  ambient_cross_node: 'i',
  h2_end_to_end: 'j',
  h2_tls_sidecars: 'k',
};

/** A condition's letter; none for a name the table does not know (a result from elsewhere). */
const letterOf = (name: string): string | undefined =>
  (CONDITION_LETTERS as Record<string, string | undefined>)[name];

/** The parts of one added-latency condition of `bench accuracy` that its table shows. */
type ConditionRow = Pick<
  AddedLatencyCondition,
  | 'name'
  | 'description'
  | 'rate_rps'
  | 'truth'
  | 'reported'
  | 'noise_floor_ms'
  | 'share_paired'
  | 'requests'
  | 'checks'
>;

function isConditionRow(value: unknown): value is ConditionRow {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  const stats = (v: unknown) =>
    typeof v === 'object' && v !== null && STATS.every((s) => s in (v as object));
  return (
    typeof c.name === 'string' &&
    typeof c.description === 'string' &&
    typeof c.rate_rps === 'number' &&
    typeof c.requests === 'number' &&
    stats(c.truth) &&
    stats(c.reported) &&
    stats(c.noise_floor_ms) &&
    stats(c.checks)
  );
}

/** Three significant digits, without trailing zeros: 0.0950 -> 0.095. */
const ms = (v: number | null) => (v === null ? '-' : String(Number(v.toPrecision(3))));

function metStats(c: ConditionRow): string {
  const met = STATS.filter((s) => c.checks[s].met).map((s) => s.replace('_ms', ''));
  return met.length === STATS.length ? 'all' : met.length === 0 ? 'none' : met.join(', ');
}

/**
 * README's table of the added latency against A/B truth, condition by condition, from the
 * same run as renderResultsTable's: truth / Tollgate (each the median over the condition's
 * rounds), the noise floor and which figures met their targets. Empty when the run has no
 * such conditions.
 */
export function renderAccuracyTable(report: BenchReport): string {
  const accuracy = report.results.accuracy;
  const rows = Array.isArray(accuracy?.added_latency)
    ? accuracy.added_latency.filter(isConditionRow)
    : [];
  if (rows.length === 0) return '';
  // By letter; a condition without one after those with.
  const order = (c: ConditionRow) => letterOf(c.name)?.charCodeAt(0) ?? Infinity;
  rows.sort((x, y) => order(x) - order(y));
  const lines = [
    `From the run of ${report.ran_at.slice(0, 10)}${report.commit ? ` at ${report.commit.slice(0, 7)}` : ''}; ms, truth / Tollgate, each the median over the rounds.`,
    '',
    '| condition | p50 | p90 | p99 | mean | noise floor (p50, mean) | requests | paired | met |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of rows) {
    const letter = letterOf(c.name);
    const name = letter ? `(${letter}) ` : '';
    const cells = STATS.map((s) => `${ms(c.truth[s])} / ${ms(c.reported[s])}`);
    const paired = c.share_paired === null ? '-' : `${Number((c.share_paired * 100).toFixed(1))}%`;
    lines.push(
      `| ${name}\`${c.name}\`: ${c.description}, ${c.rate_rps.toLocaleString('en-US')} req/s | ${cells.join(' | ')} | ${ms(c.noise_floor_ms.p50_ms)}, ${ms(c.noise_floor_ms.mean_ms)} | ${c.requests.toLocaleString('en-US')} | ${paired} | ${metStats(c)} |`,
    );
  }
  return lines.join('\n');
}
