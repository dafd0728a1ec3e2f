// `tollgate bench ingest`: the collector end to end, gRPC decode to commit, as a separate
// process fed by the agent's own shipper; or, with `store: 'postgres'`, several collector
// processes on one PostgreSQL server, fed by several shippers spread over them. Records
// per second per core are the records stored over the CPU time the collectors (and the
// database server, for PostgreSQL) used, from /proc, so the senders' cost is not
// counted; time to acknowledgement is measured per batch.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shipper } from '../daemonset/shipping/shipper.js';
import { type Postgres, startPostgres } from '../lab/postgres-server.js';
import type { Batch, Init } from '../proto/gen/tollgate/v1.js';
import { fromValues } from '../proto/histogram.js';
import { type CpuProfile, callTree, flameGraphSvg } from './flame-graph.js';
import { processTreeCpuSeconds } from './process-tree-cpu.js';
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
  /** The store: one collector on SQLite (default), or `replicas` collectors on one PostgreSQL. */
  store?: 'sqlite' | 'postgres';
  replicas?: number;
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
  | 'database_cpu_s'
  | 'records_per_s_per_collector_core'
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
  /** The collectors' CPU in the burst (all replicas'). */
  collector_cpu_s: number;
  /** The database server's CPU in the burst (PostgreSQL's postmaster and backends; 0 for SQLite, which runs inside the collector). */
  database_cpu_s: number;
  /** Records per second per core of the collectors' CPU alone (equal to records_per_s_per_core for SQLite). */
  records_per_s_per_collector_core: number;
  store: 'sqlite' | 'postgres';
  replicas: number;
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

/** CPU seconds a process has used, user and system. */
function cpuSeconds(collector: CollectorProcess): number {
  const r = collector.resources();
  if (!r) throw new Error('the collector exited');
  return (r.cpuUserNs + r.cpuSystemNs) / 1e9;
}

/** The collectors under test and their store: one on SQLite, or replicas on one PostgreSQL. */
interface Tier {
  collectors: CollectorProcess[];
  /** CPU seconds so far: the collectors', and the database server's. */
  cpu(): { collectors: number; database: number };
  stop(): Promise<void>;
}

async function startTier(
  options: IngestBenchOptions,
  profileDir: string | undefined,
): Promise<Tier> {
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  if ((options.store ?? 'sqlite') === 'sqlite') {
    const collector = await startCollectorProcess({ nodeArgs });
    return {
      collectors: [collector],
      cpu: () => ({ collectors: cpuSeconds(collector), database: 0 }),
      stop: () => collector.stop(),
    };
  }
  // A server as one is run: writes forced to the disk, and room to cache the tables.
  const server: Postgres = await startPostgres(undefined, {
    durable: true,
    sharedBuffers: '256MB',
  });
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-ingest-'));
  const collectors: CollectorProcess[] = [];
  const stop = async () => {
    for (const c of collectors) await c.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const file = join(dir, 'store.url');
    writeFileSync(file, `${await server.createDatabase('ingest')}\n`, { mode: 0o600 });
    for (let i = 0; i < (options.replicas ?? 1); i++)
      collectors.push(
        await startCollectorProcess({ storeUrlFile: file, nodeArgs: i === 0 ? nodeArgs : [] }),
      );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    collectors,
    cpu: () => ({
      collectors: collectors.reduce((n, c) => n + cpuSeconds(c), 0),
      database: processTreeCpuSeconds(server.pid),
    }),
    stop,
  };
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

  /** p50 and p99 of what these clocks saw acknowledged since the last call, and forgets it. */
  static merged(clocks: readonly AckClock[]): { p50: number; p99: number } {
    const sorted = clocks.flatMap((c) => c.ms.splice(0)).sort((a, b) => a - b);
    if (sorted.length === 0) throw new Error('no batch was acknowledged');
    return {
      p50: Number(percentile(sorted, 0.5).toFixed(1)),
      p99: Number(percentile(sorted, 0.99).toFixed(1)),
    };
  }
}

/** One round: collectors and a store of their own, the burst, then the steady load. */
async function ingestRound(
  options: IngestBenchOptions,
  profileDir: string | undefined,
): Promise<IngestRound> {
  let tier: Tier | undefined;
  const shippers: Shipper[] = [];
  try {
    tier = await startTier(options, profileDir);
    // One agent for one collector; several per replica, each on one of them (Shipper
    // picks one of the addresses at random), so that the load spreads as agents' does.
    const targets = tier.collectors.map((c) => c.grpcTarget).join(',');
    const agents = tier.collectors.length === 1 ? 1 : tier.collectors.length * 4;
    for (let a = 0; a < agents; a++)
      shippers.push(
        new Shipper({
          target: targets,
          hello: { agentId: `bench-${a}`, node: 'bench-node' },
          window: options.window,
        }),
      );
    // Encode everything first: the sender must not be what limits the collector.
    const batches = Array.from({ length: options.batches }, (_, k) =>
      syntheticBatch(k, options.edgesPerBatch),
    );
    const clocks = shippers.map((s) => new AckClock(s));
    let next = 0;
    const send = (b: Init<Batch>) => clocks[next++ % clocks.length]!.send(b);
    const flush = async (timeoutMs: number) =>
      (await Promise.all(shippers.map((s) => s.flush(timeoutMs)))).every(Boolean);
    const take = () => AckClock.merged(clocks);
    for (const s of shippers) s.start();
    // Warm up (JIT, prepared statements) on a few batches outside the measurement.
    for (let k = 0; k < 10 * agents; k++) send(batches[k % batches.length]!);
    await flush(30_000);
    take();

    // The burst: every batch at once, the collectors as busy as they can be.
    const cpuBefore = tier.cpu();
    const wallStart = performance.now();
    for (const b of batches) send(b);
    if (!(await flush(300_000))) throw new Error('the collector did not acknowledge every batch');
    const wallS = (performance.now() - wallStart) / 1000;
    const cpuAfter = tier.cpu();
    const collectorS = cpuAfter.collectors - cpuBefore.collectors;
    const databaseS = cpuAfter.database - cpuBefore.database;
    const burst = take();
    const records = options.batches * options.edgesPerBatch;

    // The steady load: batches spread evenly at the offered rate, as agents' intervals
    // spread over time; the same batches again, under new sequence numbers and times.
    const perSecond = options.pacedRecordsPerS / options.edgesPerBatch;
    const count = Math.round(perSecond * options.pacedSeconds);
    const pacedCpuBefore = tier.cpu();
    const pacedStart = performance.now();
    for (let k = 0; k < count; k++) {
      const due = pacedStart + (k * 1000) / perSecond;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      send(batches[k % batches.length]!);
    }
    if (!(await flush(300_000)))
      throw new Error('the collector did not acknowledge every paced batch');
    const pacedWallS = (performance.now() - pacedStart) / 1000;
    const pacedCpuAfter = tier.cpu();
    const pacedCpuS =
      pacedCpuAfter.collectors -
      pacedCpuBefore.collectors +
      (pacedCpuAfter.database - pacedCpuBefore.database);
    const paced = take();
    const pacedRecords = count * options.edgesPerBatch;
    return {
      records_per_s_per_core: Math.round(records / (collectorS + databaseS)),
      records_per_s_per_collector_core: Math.round(records / collectorS),
      records,
      paced_ack_p99_ms: paced.p99,
      paced_ack_p50_ms: paced.p50,
      paced_records_per_s: options.pacedRecordsPerS,
      paced_records_per_s_stored: Math.round(pacedRecords / pacedWallS),
      paced_us_per_record: Number(((pacedCpuS / pacedRecords) * 1e6).toFixed(2)),
      burst_ack_p99_ms: burst.p99,
      burst_ack_p50_ms: burst.p50,
      records_per_s_wall: Math.round(records / wallS),
      collector_cpu_s: Number(collectorS.toFixed(2)),
      database_cpu_s: Number(databaseS.toFixed(2)),
    };
  } finally {
    for (const s of shippers) await s.stop();
    await tier?.stop();
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
    store: options.store ?? 'sqlite',
    replicas: options.store === 'postgres' ? (options.replicas ?? 1) : 1,
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
    `Collector ingest: ${r.batches} batches x ${r.edges_per_batch} edge reports, gRPC decode to ${r.store === 'sqlite' ? 'SQLite commit' : `PostgreSQL commit, ${r.replicas} collectors`}; medians of ${r.rounds} rounds (min to max)`,
    `  records per second per core   ${r.records_per_s_per_core} (${range(r.spreads.records_per_s_per_core)}; collector CPU ${r.collector_cpu_s} s${r.store === 'postgres' ? `, database ${r.database_cpu_s} s; ${r.records_per_s_per_collector_core} per core of the collectors alone` : ''})`,
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
