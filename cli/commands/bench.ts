import { resolve } from 'node:path';
import {
  type AccuracyBenchOptions,
  benchAccuracy,
  DEFAULT_ACCURACY_BENCH,
  renderAccuracyBench,
} from '../../bench/accuracy.js';
import { CONDITIONS } from '../../bench/added-latency.js';
import { benchAll } from '../../bench/all.js';
import { benchChaos, renderChaosBench } from '../../bench/chaos.js';
import { benchIngest, DEFAULT_INGEST_BENCH, renderIngestBench } from '../../bench/ingest.js';
import {
  benchOverhead,
  DEFAULT_OVERHEAD_BENCH,
  renderOverheadBench,
} from '../../bench/overhead.js';
import { benchProbes, renderProbesBench } from '../../bench/probes.js';
import { renderResultsTable } from '../../bench/results-table.js';
import { benchScale, DEFAULT_SCALE_BENCH, renderScaleBench } from '../../bench/scale.js';
import { benchUi, renderUiBench } from '../../bench/ui.js';
import {
  type Command,
  numberOption,
  type Parsed,
  requireOneOf,
  stringOption,
  UsageError,
} from '../command.js';

const benchmarks = [
  'overhead',
  'accuracy',
  'ingest',
  'ui',
  'probes',
  'chaos',
  'scale',
  'all',
] as const;
type Log = (line: string) => void;
const placements = ['cluster', 'equal'] as const;
type Placement = (typeof placements)[number];

/** Each benchmark: how to run it, and its human table (--json prints the object itself). */
interface Flags {
  placement: Placement;
  /** ingest and scale: where the collector writes its CPU profiles. */
  profile?: string;
  /** The command line, for a benchmark's own options (scale: --agents, --intervals). */
  args: Parsed;
}

function runner<T>(run: (log: Log, flags: Flags) => Promise<T>, render: (result: T) => string) {
  return { run, render: render as (result: unknown) => string };
}

const runners = {
  overhead: runner(
    (log, { placement }) => benchOverhead({ ...DEFAULT_OVERHEAD_BENCH, placement }, log),
    renderOverheadBench,
  ),
  accuracy: runner(
    (log, { args }) => benchAccuracy(accuracyOptions(args), log),
    renderAccuracyBench,
  ),
  ingest: runner(
    (_log, { profile, args }) =>
      benchIngest({
        ...DEFAULT_INGEST_BENCH,
        profileDir: profile,
        ...ingestStore(args),
      }),
    renderIngestBench,
  ),
  ui: runner(() => benchUi(), renderUiBench),
  probes: runner(() => benchProbes(), renderProbesBench),
  chaos: runner((log) => benchChaos(undefined, log), renderChaosBench),
  scale: runner(
    (log, { args, profile }) =>
      benchScale(
        {
          ...DEFAULT_SCALE_BENCH,
          agents: numberOption(args, 'agents', DEFAULT_SCALE_BENCH.agents),
          intervals: numberOption(args, 'intervals', DEFAULT_SCALE_BENCH.intervals),
          profileDir: profile,
        },
        log,
      ),
    renderScaleBench,
  ),
  all: runner(
    (log) => benchAll(log),
    ({ report, path }) => `${renderResultsTable(report)}\n\nwritten to ${path}`,
  ),
};

export const bench: Command = {
  name: 'bench',
  usage: `Usage: tollgate bench NAME [--json]

Benchmarks:
  overhead    throughput and latency with vs without Tollgate, A/B interleaved
  accuracy    added latency vs A/B truth, exchange latency, byte counts, retransmits
  ingest      collector records per second per core, time to acknowledgement
  ui          frames per second panning a 1,000-process graph in Chromium
  probes      kernel events per second and kernel time per event
  chaos       the collector killed and stalled under load and a million short
              connections: nothing lost, nothing doubled, memory bounded
  scale       many simulated agents (the real shipper, a busy node's batches)
              against one collector: records per second, acknowledgement times,
              store growth, and a model of 5,000 nodes
  all         all of the above; writes bench/results/latest.json

Progress goes to stderr. Needs root (network namespaces, eBPF).

Options:
  --json        one JSON object on stdout (default: a table)
  --placement cluster|equal
                overhead: where Tollgate's processes run beside the workload.
                cluster (default): the agent in a cgroup with the CPU its DaemonSet
                asks for, the collector at the least CPU weight (in a cluster it
                runs elsewhere); equal: both as plain processes
  --profile DIR ingest, scale: the collector writes a CPU profile of each of its
                threads there (node --cpu-prof; open in Chrome's DevTools or
                speedscope); ingest also a flame graph of its main thread
  --store sqlite|postgres
                ingest: one collector on SQLite (default), or collectors on one
                PostgreSQL server (a throwaway one, writes forced to disk)
  --replicas N  ingest --store postgres: collector processes (default 3)
  --conditions A,B
                accuracy: the added-latency conditions to run, by name (default
                all: ${CONDITIONS.join(', ')})
  --rounds N    accuracy: A/B rounds per condition (default 6)
  --rate N      accuracy: offered requests/s of the low-load conditions
                (default ${DEFAULT_ACCURACY_BENCH.addedLatency.lowRate}), to hold them to the truth under more load
  --agents N    scale: simulated agents (default 200)
  --intervals N scale: seconds measured, one batch per agent each (default 30)
  -h, --help    this text`,
  options: {
    json: { type: 'boolean' },
    placement: { type: 'string' },
    profile: { type: 'string' },
    agents: { type: 'string' },
    intervals: { type: 'string' },
    store: { type: 'string' },
    replicas: { type: 'string' },
    conditions: { type: 'string' },
    rounds: { type: 'string' },
    rate: { type: 'string' },
  },
  async run(args) {
    if (args.positionals.length !== 1)
      throw new UsageError('exactly one benchmark NAME is required');
    const name = requireOneOf(args.positionals[0]!, benchmarks, 'NAME');
    const given = args.values.placement;
    const placement = requireOneOf(
      typeof given === 'string' ? given : 'cluster',
      placements,
      '--placement',
    );
    const { run, render } = runners[name];
    const profile = args.values.profile;
    if (
      profile !== undefined &&
      (typeof profile !== 'string' || (name !== 'ingest' && name !== 'scale'))
    )
      throw new UsageError('--profile DIR is for bench ingest and bench scale');
    if (
      (args.values.store !== undefined || args.values.replicas !== undefined) &&
      name !== 'ingest'
    )
      throw new UsageError('--store and --replicas are for bench ingest');
    if (
      (args.values.conditions !== undefined ||
        args.values.rounds !== undefined ||
        args.values.rate !== undefined) &&
      name !== 'accuracy'
    )
      throw new UsageError('--conditions, --rounds and --rate are for bench accuracy');
    const result = await run((line) => console.error(`bench ${name}: ${line}`), {
      placement,
      profile: profile === undefined ? undefined : resolve(profile),
      args,
    });
    const json = name === 'all' ? (result as { report: unknown }).report : result;
    console.log(args.values.json ? JSON.stringify(json) : render(result));
    return 0;
  },
};

/** bench ingest's --store and --replicas. */
function ingestStore(args: Parsed): { store: 'sqlite' | 'postgres'; replicas: number } {
  const given = args.values.store;
  const store = requireOneOf(typeof given === 'string' ? given : 'sqlite', stores, '--store');
  const text = args.values.replicas;
  if (text !== undefined && store !== 'postgres')
    throw new UsageError('--replicas is for --store postgres (SQLite has one writer)');
  const replicas = text === undefined ? (store === 'postgres' ? 3 : 1) : Number(text);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 16)
    throw new UsageError(`--replicas must be a whole number from 1 to 16, got '${text}'`);
  return { store, replicas };
}

const stores = ['sqlite', 'postgres'] as const;

/** bench accuracy's --conditions, --rounds and --rate, over its defaults. */
function accuracyOptions(args: Parsed): AccuracyBenchOptions {
  const defaults = DEFAULT_ACCURACY_BENCH.addedLatency;
  const text = stringOption(args, 'conditions');
  const conditions =
    text === undefined
      ? defaults.conditions
      : [...new Set(text.split(',').map((c) => c.trim()))].map((c) =>
          requireOneOf(c, CONDITIONS, '--conditions'),
        );
  const rounds = numberOption(args, 'rounds', defaults.rounds);
  // Two at least: the noise floor is the spread of B - A over the rounds.
  if (!Number.isInteger(rounds) || rounds < 2 || rounds > 100)
    throw new UsageError(`--rounds must be a whole number from 2 to 100, got '${rounds}'`);
  const lowRate = numberOption(args, 'rate', defaults.lowRate);
  if (!Number.isInteger(lowRate) || lowRate < 10 || lowRate > 20_000)
    throw new UsageError(`--rate must be a whole number from 10 to 20000, got '${lowRate}'`);
  return {
    ...DEFAULT_ACCURACY_BENCH,
    addedLatency: { ...defaults, conditions, rounds, lowRate },
  };
}
