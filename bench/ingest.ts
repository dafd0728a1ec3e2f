// `tollgate bench ingest`: the collector end to end, gRPC decode to SQLite commit, as a
// separate process fed by the agent's own shipper. Records per second per core are the
// records stored over the CPU time the collector process used (from /proc), so the
// sender's cost is not counted; time to acknowledgement is measured per batch.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Shipper } from '../daemonset/shipping/shipper.js';
import type { Batch, Init } from '../proto/gen/tollgate/v1.js';
import { fromValues } from '../proto/histogram.js';
import { type CpuProfile, callTree, flameGraphSvg } from './flame-graph.js';
import { overRounds, type Spread } from './rounds.js';
import { type CollectorProcess, startCollectorProcess } from './tollgate-processes.js';

export interface IngestBenchOptions {
  /** The burst: this many batches sent at once, for records per second per core. */
  batches: number;
  edgesPerBatch: number;
  window: number;
  /** Then a steady load at this many records per second, for the time to acknowledgement. */
  pacedRecordsPerS: number;
  pacedSeconds: number;
  /** Rounds, each with a collector of its own; the figures are their medians. */
  rounds: number;
  /** Where to write the collector's CPU profiles (node --cpu-prof; the first round's), if anywhere. */
  profileDir?: string;
}

/** The figures one round measures. */
type IngestRound = Pick<
  IngestBenchResult,
  | 'records_per_s_per_core'
  | 'records'
  | 'paced_ack_p99_ms'
  | 'paced_ack_p50_ms'
  | 'paced_records_per_s'
  | 'paced_records_per_s_stored'
  | 'paced_us_per_record'
  | 'burst_ack_p99_ms'
  | 'burst_ack_p50_ms'
  | 'records_per_s_wall'
  | 'collector_cpu_s'
>;

/** The figures whose spread over the rounds is given. */
const SPREAD_KEYS = [
  'records_per_s_per_core',
  'paced_ack_p99_ms',
  'paced_us_per_record',
  'paced_records_per_s_stored',
  'burst_ack_p99_ms',
] as const;

export interface IngestBenchResult {
  records_per_s_per_core: number;
  /** Time to acknowledgement under the steady load (pacedRecordsPerS). */
  paced_ack_p99_ms: number;
  paced_ack_p50_ms: number;
  /** The rate of that steady load, records per second offered. */
  paced_records_per_s: number;
  /** Records per second it stored over the steady load's time (it kept up if equal). */
  paced_records_per_s_stored: number;
  /** Its collector CPU per record, microseconds. */
  paced_us_per_record: number;
  /** Time to acknowledgement in the burst: the queue of everything sent at once. */
  burst_ack_p99_ms: number;
  burst_ack_p50_ms: number;
  records: number;
  records_per_s_wall: number;
  collector_cpu_s: number;
  batches: number;
  edges_per_batch: number;
  rounds: number;
  /** Each headline figure's median, min and max over the rounds, and each round's value. */
  spreads: Record<(typeof SPREAD_KEYS)[number], Spread>;
  /** The directory of the collector's CPU profiles (one per thread, CPU.*.cpuprofile), when asked for. */
  profile?: string;
}

export const DEFAULT_INGEST_BENCH: IngestBenchOptions = {
  batches: 400,
  edgesPerBatch: 250,
  window: 64,
  pacedRecordsPerS: 50_000,
  pacedSeconds: 10,
  rounds: 3,
};

/** A node's interval: processes each with client ends to distinct peers, histograms and tuples. */
export function syntheticBatch(k: number, edges: number, endMs = Date.now()): Init<Batch> {
  const processes = Array.from({ length: 10 }, (_, p) => ({
    ref: { pid: 1000 + p, startTimeTicks: 1 },
    comm: `app-${p}`,
    exe: `/usr/bin/app-${p}`,
    cmdline: [`app-${p}`, '--port', '8080'],
    netnsInode: 4_000_000 + p,
    pod: { namespace: 'bench', name: `pod-${p}`, source: 'POD_SOURCE_NETNS' as const },
    role: 'ROLE_APP' as const,
  }));
  return {
    node: 'bench-node',
    intervalStartUnixMs: endMs - 1000,
    intervalEndUnixMs: endMs,
    processes,
    edges: Array.from({ length: edges }, (_, e) => ({
      process: processes[e % processes.length]!.ref,
      side: 'CONNECTION_SIDE_CLIENT' as const,
      local: { address: `10.3.0.${e % 10}` },
      remote: { address: `10.4.${(e >> 8) & 255}.${e & 255}`, port: 8080 },
      connects: 1,
      closes: 1,
      bytesSent: 1000 + e,
      bytesReceived: 5000 + e,
      sendOps: 10,
      recvOps: 10,
      exchanges: 10,
      exchangeLatency: fromValues(Array.from({ length: 10 }, (_, i) => 1e6 + i * 97_000 + e)),
      srtt: fromValues([50_000, 60_000]),
      connections: [
        {
          client: { address: `10.3.0.${e % 10}`, port: 30_000 + ((k * 7 + e) % 30_000) },
          server: { address: `10.4.${(e >> 8) & 255}.${e & 255}`, port: 8080 },
        },
      ],
    })),
  };
}

/** CPU seconds the process has used, user and system. */
function cpuSeconds(collector: CollectorProcess): number {
  const r = collector.resources();
  if (!r) throw new Error('the collector exited');
  return (r.cpuUserNs + r.cpuSystemNs) / 1e9;
}

export const percentile = (sorted: number[], q: number) =>
  sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Acknowledgement times of what a shipper sends through `send`, from when it was sent. */
class AckClock {
  private readonly sentAt = new Map<number, number>();
  readonly ms: number[] = [];

  constructor(private readonly shipper: Shipper) {
    shipper.on('ack', (a) => {
      const at = this.sentAt.get(a.sequence);
      if (at === undefined) return;
      this.sentAt.delete(a.sequence);
      this.ms.push(performance.now() - at);
    });
  }

  /** Sends `batch` as the interval that just ended, as an agent ships each interval. */
  send(batch: Init<Batch>): void {
    const now = Date.now();
    const stamped = { ...batch, intervalStartUnixMs: now - 1000, intervalEndUnixMs: now };
    this.sentAt.set(this.shipper.send(stamped), performance.now());
  }

  /** p50 and p99 of what was acknowledged since the last call, and forgets them. */
  take(): { p50: number; p99: number } {
    const sorted = this.ms.splice(0).sort((a, b) => a - b);
    if (sorted.length === 0) throw new Error('no batch was acknowledged');
    return {
      p50: Number(percentile(sorted, 0.5).toFixed(1)),
      p99: Number(percentile(sorted, 0.99).toFixed(1)),
    };
  }
}

/** One round: a collector of its own, the burst, then the steady load. */
async function ingestRound(
  options: IngestBenchOptions,
  profileDir: string | undefined,
): Promise<IngestRound> {
  let collector: CollectorProcess | undefined;
  let shipper: Shipper | undefined;
  try {
    collector = await startCollectorProcess({
      nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
    });
    shipper = new Shipper({
      target: collector.grpcTarget,
      hello: { agentId: 'bench', node: 'bench-node' },
      window: options.window,
    });
    // Encode everything first: the sender must not be what limits the collector.
    const batches = Array.from({ length: options.batches }, (_, k) =>
      syntheticBatch(k, options.edgesPerBatch),
    );
    const acks = new AckClock(shipper);
    shipper.start();
    // Warm up (JIT, prepared statements) on a few batches outside the measurement.
    for (let k = 0; k < 10; k++) acks.send(batches[k]!);
    await shipper.flush(30_000);
    acks.take();

    // The burst: every batch at once, the collector as busy as it can be.
    const cpuBefore = cpuSeconds(collector);
    const wallStart = performance.now();
    for (const b of batches) acks.send(b);
    if (!(await shipper.flush(300_000)))
      throw new Error('the collector did not acknowledge every batch');
    const wallS = (performance.now() - wallStart) / 1000;
    const cpuS = cpuSeconds(collector) - cpuBefore;
    const burst = acks.take();
    const records = options.batches * options.edgesPerBatch;

    // The steady load: batches spread evenly at the offered rate, as agents' intervals
    // spread over time; the same batches again, under new sequence numbers and times.
    const perSecond = options.pacedRecordsPerS / options.edgesPerBatch;
    const count = Math.round(perSecond * options.pacedSeconds);
    const pacedCpuBefore = cpuSeconds(collector);
    const pacedStart = performance.now();
    for (let k = 0; k < count; k++) {
      const due = pacedStart + (k * 1000) / perSecond;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      acks.send(batches[k % batches.length]!);
    }
    if (!(await shipper.flush(300_000)))
      throw new Error('the collector did not acknowledge every paced batch');
    const pacedWallS = (performance.now() - pacedStart) / 1000;
    const pacedCpuS = cpuSeconds(collector) - pacedCpuBefore;
    const paced = acks.take();
    const pacedRecords = count * options.edgesPerBatch;
    return {
      records_per_s_per_core: Math.round(records / cpuS),
      records,
      paced_ack_p99_ms: paced.p99,
      paced_ack_p50_ms: paced.p50,
      paced_records_per_s: options.pacedRecordsPerS,
      paced_records_per_s_stored: Math.round(pacedRecords / pacedWallS),
      paced_us_per_record: Number(((pacedCpuS / pacedRecords) * 1e6).toFixed(2)),
      burst_ack_p99_ms: burst.p99,
      burst_ack_p50_ms: burst.p50,
      records_per_s_wall: Math.round(records / wallS),
      collector_cpu_s: Number(cpuS.toFixed(2)),
    };
  } finally {
    await shipper?.stop();
    await collector?.stop();
  }
}

/**
 * The collector's ingest over `rounds` rounds (each a fresh collector and store): the
 * median of each figure, with the spread of the headline ones.
 */
export async function benchIngest(options = DEFAULT_INGEST_BENCH): Promise<IngestBenchResult> {
  const rounds: IngestRound[] = [];
  for (let r = 0; r < options.rounds; r++)
    rounds.push(await ingestRound(options, r === 0 ? options.profileDir : undefined));
  if (options.profileDir) writeFlameGraph(options.profileDir);
  const median = (key: keyof IngestRound) => overRounds(rounds.map((x) => x[key])).median;
  const medians = Object.fromEntries(
    Object.keys(rounds[0]!).map((k) => [k, median(k as keyof IngestRound)]),
  ) as IngestRound;
  return {
    ...medians,
    batches: options.batches,
    edges_per_batch: options.edgesPerBatch,
    rounds: options.rounds,
    spreads: Object.fromEntries(
      SPREAD_KEYS.map((k) => [k, overRounds(rounds.map((x) => x[k]))]),
    ) as IngestBenchResult['spreads'],
    ...(options.profileDir ? { profile: options.profileDir } : {}),
  };
}

/**
 * The flame graph of the collector's main thread (its profile's thread id is 0: node
 * names them CPU.<date>.<time>.<pid>.<thread>.<sequence>.cpuprofile), beside it.
 */
function writeFlameGraph(dir: string): void {
  // The newest, should the directory hold an earlier run's too (names sort by time).
  const main = readdirSync(dir)
    .filter((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f))
    .sort()
    .at(-1);
  if (!main) throw new Error(`no profile of the collector's main thread in ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, main), 'utf8')) as CpuProfile;
  writeFileSync(
    join(dir, 'collector-flame.svg'),
    flameGraphSvg(callTree(profile), {
      title: `The collector's main thread under tollgate bench ingest (busy time; ${main})`,
    }),
  );
}

const range = (s: Spread) => `${s.min} to ${s.max}`;

export function renderIngestBench(r: IngestBenchResult): string {
  return [
    `Collector ingest: ${r.batches} batches x ${r.edges_per_batch} edge reports, gRPC decode to SQLite commit; medians of ${r.rounds} rounds (min to max)`,
    `  records per second per core   ${r.records_per_s_per_core} (${range(r.spreads.records_per_s_per_core)}; collector CPU ${r.collector_cpu_s} s)`,
    `  records per second, wall      ${r.records_per_s_wall}`,
    `  time to acknowledgement       p50 ${r.paced_ack_p50_ms} ms, p99 ${r.paced_ack_p99_ms} ms (${range(r.spreads.paced_ack_p99_ms)}) at ${r.paced_records_per_s} records/s offered (${r.paced_records_per_s_stored} stored/s, ${r.paced_us_per_record} us of collector CPU each)`,
    `  in the burst                  p50 ${r.burst_ack_p50_ms} ms, p99 ${r.burst_ack_p99_ms} ms (everything sent at once)`,
    ...(r.profile
      ? [
          `  collector CPU profiles in     ${r.profile} (the first round's; its flame graph: collector-flame.svg)`,
        ]
      : []),
  ].join('\n');
}
