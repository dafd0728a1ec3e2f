// `tollgate bench scale`: many agents against one collector. N simulated nodes, each the
// agent's real Shipper with its own agent id, boot id, node name and connection, ship one
// batch of a busy node's interval (bench/scale-node.ts) per interval, on a schedule that
// does not wait for the collector, from a process of their own (bench/scale-sender.ts);
// the collector runs as it does in a cluster, a process started through the CLI.
//
// Measured: records stored per second (wall) and per second of collector CPU (/proc),
// time to acknowledgement of every batch, the collector's memory, what the store grows
// by, whether the collector kept up, and exact counts: every batch made is in the store
// once, and the topology served is the one the simulated nodes' connections make. Then a
// model of `modelNodes` nodes from those figures (bench/scale-model.ts).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { edgeId, externalId, processId } from '../collector/model/ids.js';
import { readProcessResources } from '../daemonset/proc-resources.js';
import { nodeEntry } from '../lab/spawn.js';
import type { TopologyResponse } from '../proto/api.js';
import { percentile } from './ingest.js';
import { type ScaleModel, type StoreSizes, scaleModel, writtenBytesPerS } from './scale-model.js';
import {
  BUSY_NODE,
  checkShape,
  type ExpectedEdge,
  expectedEdges,
  MAX_INTERVALS,
  type NodeShape,
  nodeName,
  recordsPerInterval,
} from './scale-node.js';
import type { SenderConfig, SenderMessage, SenderTotals } from './scale-sender.js';
import { type StoreBytes, storeBytes, storedBatches } from './scale-store.js';
import { type CollectorProcess, startCollectorProcess } from './tollgate-processes.js';

export interface ScaleBenchOptions {
  agents: number;
  /** Seconds measured (one interval each, in real time), after one of warm-up. */
  intervals: number;
  shape: NodeShape;
  /** How long the collector may take to acknowledge what is left after the last interval. */
  drainTimeoutMs: number;
  /** The cluster the model extrapolates to. */
  modelNodes: number;
  /** Where to write the collector's CPU profiles (node --cpu-prof) and its flame graph, if anywhere. */
  profileDir?: string;
}

export const DEFAULT_SCALE_BENCH: ScaleBenchOptions = {
  agents: 200,
  intervals: 30,
  shape: BUSY_NODE,
  drainTimeoutMs: 900_000,
  modelNodes: 5_000,
};

export interface TopologyCheck {
  processes: number;
  processes_expected: number;
  edges: number;
  edges_expected: number;
  /** Expected edges the collector did not serve, and edges it served that no connection made (first 5 of each). */
  edges_missing: string[];
  edges_unexpected: string[];
  /** Expected edges served with another join than expected (tuple or none). */
  edges_joined_otherwise: number;
  /** Processes of the node with the fewest and of the one with the most. */
  processes_per_node: { min: number; max: number };
  /** Edges from the processes of the node with the fewest and of the one with the most. */
  edges_per_node: { min: number; max: number };
  read_ms: number;
}

export interface ScaleBenchResult {
  agents: number;
  intervals: number;
  pods_per_node: number;
  upstreams_per_pod: number;
  records_per_node_per_interval: number;
  /** What the agents offered: agents x records per interval per wall second. */
  records_per_s_offered: number;
  records_per_s_wall: number;
  records_per_s_per_core: number;
  records: number;
  collector_cpu_s: number;
  collector_cores: number;
  /** Of the collector's CPU, what the kernel spent for it (I/O, memory). */
  collector_system_cpu_s: number;
  collector_rss_mb: number;
  collector_peak_rss_mb: number;
  ack_p50_ms: number;
  ack_p99_ms: number;
  ack_max_ms: number;
  /** Acknowledgements timed: one per measured batch. */
  acks_timed: number;
  /**
   * Batches acknowledged more than ROLLUP_GRACE_MS after they were sent (and their
   * interval ended): stored by a collector behind, whose rollups are held below them.
   */
  acks_past_rollup_grace: number;
  /** Batches made but not acknowledged when the last interval had been sent. */
  backlog_at_end_batches: number;
  /** The backlog was at most the last two intervals' batches, and everything was acknowledged. */
  kept_up: boolean;
  /** From the last interval sent to the last acknowledgement. */
  drain_s: number;
  batches_sent: number;
  batches_acked: number;
  /** In the store's batch table, and as the collector counts them (its /metrics). */
  batches_stored: number;
  batches_stored_collector: number;
  duplicates: number;
  rejected: number;
  lost: number;
  /** Bytes sent, summed over every connection end's stored rows, warm-up included. */
  stored_bytes_sent: number;
  reconnects: number;
  /** Pages in use grown over the run, per record: everything, and the raw series rows alone. */
  store_bytes_per_record: number;
  store_raw_bytes_per_record: number;
  store_rollup_bytes_per_row: number;
  store_growth_mb: number;
  /** What the store grows by in an hour at the offered rate (scale-model.ts: writtenBytesPerS). */
  store_mb_per_hour: number;
  /** The file and its log on disk, grown over the run, per simulated hour. */
  file_growth_mb_per_sim_hour: number;
  store_growth_by_kind_mb: Record<'raw' | 'rollups' | 'tuples' | 'batches' | 'identities', number>;
  sender_cpu_s: number;
  sender_cores: number;
  sender_rss_mb: number;
  sender_event_loop_delay_p99_ms: number;
  /** How late the sender was, at most, against its schedule. */
  sender_late_max_ms: number;
  /** TCP connections to the collector's gRPC port once the agents had connected. */
  connections: number;
  topology: TopologyCheck | { error: string };
  model: ScaleModel;
  /** Where the figures are distorted by the machine or the simulation. */
  notes: string[];
}

const MB = 2 ** 20;
/**
 * How long after a bucket ends the collector rolls it up (the store's default grace,
 * collector/store/store.ts): a row that arrives later is merged into each rollup it
 * missed, one by one, which costs the collector more per record.
 */
const ROLLUP_GRACE_MS = 10_000;
const round = (x: number, digits = 1) => Number(x.toFixed(digits));

/** user + system CPU seconds of a process from /proc, or NaN once it has exited. */
function cpuSeconds(pid: number): number {
  const r = readProcessResources(pid);
  return r ? (r.cpuUserNs + r.cpuSystemNs) / 1e9 : Number.NaN;
}

/** System (kernel) CPU seconds alone. */
function systemCpuSeconds(pid: number): number {
  const r = readProcessResources(pid);
  return r ? r.cpuSystemNs / 1e9 : Number.NaN;
}

/** Established TCP connections whose local end is `port` on this host (IPv4). */
function establishedTo(port: number): number {
  const lines = readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1);
  return lines.filter((line) => {
    const f = line.trim().split(/\s+/);
    return f[3] === '01' && Number.parseInt(f[1]?.split(':')[1] ?? '', 16) === port;
  }).length;
}

/** The collector's own count of batches stored and found duplicate (its /metrics). */
async function collectorCounts(httpUrl: string): Promise<{ stored: number; duplicate: number }> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const sum = (pattern: RegExp) =>
    [...text.matchAll(pattern)].reduce((n, m) => n + Number(m[1]), 0);
  return {
    stored: sum(/^tollgate_collector_batches_total\{outcome="stored"\} (\S+)$/gm),
    duplicate: sum(/^tollgate_collector_batches_total\{outcome="duplicate"\} (\S+)$/gm),
  };
}

function expectedId(end: ExpectedEdge['source']): string {
  return 'external' in end
    ? externalId(end.external.split(':')[0]!, Number(end.external.split(':')[1]))
    : processId(end.node, { pid: end.pid, startTimeTicks: end.startTimeTicks });
}

/** The topology served against the edges the simulated connections make (scale-node.ts). */
export function checkTopology(
  topology: TopologyResponse,
  shape: NodeShape,
  agents: number,
  readMs: number,
): TopologyCheck {
  const expected = new Map(
    expectedEdges(shape, agents).map((e) => [
      edgeId(expectedId(e.source), expectedId(e.target), e.port),
      e.joined,
    ]),
  );
  const served = new Map(topology.edges.map((e) => [e.id, e.joined]));
  const nodeOf = new Map(topology.processes.map((p) => [p.id, p.node]));
  const perNode = (nodes: (string | undefined)[]) => {
    const counts = new Map<string, number>();
    for (const n of nodes) if (n !== undefined) counts.set(n, (counts.get(n) ?? 0) + 1);
    // Every node counts, those with none too.
    const all = Array.from({ length: agents }, (_, a) => counts.get(nodeName(a)) ?? 0);
    return { min: Math.min(...all), max: Math.max(...all) };
  };
  return {
    processes: topology.processes.length,
    processes_expected: agents * shape.pods * 2,
    edges: topology.edges.length,
    edges_expected: expected.size,
    edges_missing: [...expected.keys()].filter((id) => !served.has(id)).slice(0, 5),
    edges_unexpected: [...served.keys()].filter((id) => !expected.has(id)).slice(0, 5),
    edges_joined_otherwise: [...expected].filter(
      ([id, joined]) => served.has(id) && served.get(id) !== joined,
    ).length,
    processes_per_node: perNode(topology.processes.map((p) => p.node)),
    edges_per_node: perNode(topology.edges.map((e) => nodeOf.get(e.source))),
    read_ms: Math.round(readMs),
  };
}

/** The sender's messages in order; each awaited by type, failing on an error, an exit or a timeout. */
function inbox(child: ChildProcess) {
  const queue: SenderMessage[] = [];
  let wake: (() => void) | undefined;
  let exited = false;
  child.on('message', (m: SenderMessage) => {
    queue.push(m);
    wake?.();
  });
  child.on('exit', () => {
    exited = true;
    wake?.();
  });
  return async function expect<T extends SenderMessage['type']>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<SenderMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = queue.shift();
      if (m?.type === 'error') throw new Error(`simulated agents: ${m.message}`);
      if (m?.type === type) return m as Extract<SenderMessage, { type: T }>;
      if (m) throw new Error(`simulated agents said ${m.type}, not ${type}`);
      if (exited) throw new Error('the simulated agents exited');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type} from the simulated agents within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  };
}

function startSender(config: SenderConfig): ChildProcess {
  return spawn(
    process.execPath,
    [...nodeEntry(import.meta.url, 'scale-sender-main'), JSON.stringify(config)],
    { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
  );
}

async function stopSender(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.send({ type: 'stop' });
  else child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

const acked = (t: SenderTotals) => t.stored + t.duplicates + t.rejected;

export async function benchScale(
  options: ScaleBenchOptions = DEFAULT_SCALE_BENCH,
  log: (line: string) => void = () => {},
): Promise<ScaleBenchResult> {
  const { agents, intervals, shape } = options;
  checkShape(shape, agents);
  if (!Number.isInteger(intervals) || intervals < 1 || intervals > MAX_INTERVALS)
    throw new RangeError(`intervals must be 1 to ${MAX_INTERVALS}`);
  const perInterval = recordsPerInterval(shape);
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-bench-scale-'));
  const dbPath = join(dataDir, 'tollgate.db');
  let collector: CollectorProcess | undefined;
  let sender: ChildProcess | undefined;
  let sampler: NodeJS.Timeout | undefined;
  try {
    collector = await startCollectorProcess({
      dataDir,
      nodeArgs: options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [],
    });
    const port = Number(collector.grpcTarget.split(':').pop());
    const started = Date.now();
    sender = startSender({
      target: collector.grpcTarget,
      agents,
      shape,
      intervals,
      drainTimeoutMs: options.drainTimeoutMs,
    });
    const senderPid = sender.pid!;
    const expect = inbox(sender);
    log(`${agents} agents of ${perInterval} records per interval: warm-up`);
    const warm = await expect('warm', Math.max(180_000, options.drainTimeoutMs) + 60_000);
    const connections = establishedTo(port);
    const storeBefore = storeBytes(dbPath);
    const peak = { collector: 0, sender: 0 };
    sampler = setInterval(() => {
      peak.collector = Math.max(peak.collector, collector?.resources()?.rssBytes ?? 0);
      peak.sender = Math.max(peak.sender, readProcessResources(senderPid)?.rssBytes ?? 0);
    }, 500);
    const collectorCpu0 = cpuSeconds(collector.pid);
    const collectorSys0 = systemCpuSeconds(collector.pid);
    const senderCpu0 = cpuSeconds(senderPid);
    log(`warm-up acknowledged in ${Math.round(warm.warmupMs)} ms; ${intervals} intervals of 1 s`);
    sender.send({ type: 'go' });
    const sent = await expect('sent', intervals * 1000 * 4 + 120_000);
    const backlog = sent.totals.made - acked(sent.totals);
    log(`sent in ${Math.round(sent.sendingMs)} ms; ${backlog} batches not yet acknowledged`);
    const done = await expect('done', options.drainTimeoutMs + 60_000);
    const collectorCpuS = cpuSeconds(collector.pid) - collectorCpu0;
    const collectorSysS = systemCpuSeconds(collector.pid) - collectorSys0;
    const senderCpuS = cpuSeconds(senderPid) - senderCpu0;
    clearInterval(sampler);
    const collectorPeak = collector.peakRss() ?? 0;
    const counted = await collectorCounts(collector.httpUrl);
    const stored = storedBatches(dbPath);
    const storeAfter = storeBytes(dbPath);
    log(`drained: ${done.drained}; reading the topology`);
    let topology: ScaleBenchResult['topology'];
    try {
      const t = performance.now();
      const from = started - intervals * 1000 - 5_000;
      const response = await fetch(
        `${collector.httpUrl}/api/topology?from=${from}&to=${Date.now() + 1000}`,
      );
      if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
      const body = (await response.json()) as TopologyResponse;
      topology = checkTopology(body, shape, agents, performance.now() - t);
    } catch (error) {
      topology = { error: (error as Error).message };
    }

    const totals = done.totals;
    const wallS = done.wallMs / 1000;
    // The measured intervals' records: all stored less the warm-up's (all stored, above).
    const records = stored.records - agents * perInterval;
    const ackMs = done.ackMs.sort((a, b) => a - b);
    const growth = (k: keyof StoreBytes) => storeAfter[k] - storeBefore[k];
    const offered = agents * perInterval;
    const sizes: StoreSizes = {
      rawBytesPerRecord: growth('raw') / records,
      // Per row of what the run rolled up (raw's per record where it rolled up nothing).
      rollupBytesPerRow:
        storeAfter.rollupRows > 0
          ? storeAfter.rollups / storeAfter.rollupRows
          : growth('raw') / records,
      batchBytesPerRecord: growth('batches') / records,
      tupleBytesPerRecord: growth('tuples') / records,
    };
    const collectorCores = collectorCpuS / wallS;
    const senderCores = senderCpuS / wallS;
    const keptUp = backlog <= 2 * agents && done.drained;
    const result: Omit<ScaleBenchResult, 'model' | 'notes'> = {
      agents,
      intervals,
      pods_per_node: shape.pods,
      upstreams_per_pod: shape.upstreams,
      records_per_node_per_interval: perInterval,
      records_per_s_offered: Math.round(offered),
      records_per_s_wall: Math.round(records / wallS),
      records_per_s_per_core: Math.round(records / collectorCpuS),
      records,
      collector_cpu_s: round(collectorCpuS, 2),
      collector_cores: round(collectorCores, 2),
      collector_system_cpu_s: round(collectorSysS, 2),
      collector_rss_mb: round(peak.collector / MB),
      collector_peak_rss_mb: round(collectorPeak / MB),
      ack_p50_ms: round(percentile(ackMs, 0.5)),
      ack_p99_ms: round(percentile(ackMs, 0.99)),
      ack_max_ms: round(ackMs[ackMs.length - 1] ?? Number.NaN),
      acks_timed: ackMs.length,
      acks_past_rollup_grace: ackMs.filter((ms) => ms > ROLLUP_GRACE_MS).length,
      backlog_at_end_batches: backlog,
      kept_up: keptUp,
      drain_s: round((done.wallMs - sent.sendingMs) / 1000),
      batches_sent: totals.made,
      batches_acked: acked(totals),
      batches_stored: stored.batches,
      batches_stored_collector: counted.stored,
      duplicates: totals.duplicates,
      rejected: totals.rejected,
      lost: totals.made - stored.batches,
      stored_bytes_sent: stored.endBytesSent,
      reconnects: totals.reconnects,
      store_bytes_per_record: Math.round(growth('total') / records),
      store_raw_bytes_per_record: Math.round(sizes.rawBytesPerRecord),
      store_rollup_bytes_per_row: Math.round(sizes.rollupBytesPerRow),
      store_growth_mb: round(growth('total') / MB),
      store_mb_per_hour: round((writtenBytesPerS(offered, sizes) * 3600) / MB),
      file_growth_mb_per_sim_hour: round((growth('fileBytes') * 3600) / intervals / MB),
      store_growth_by_kind_mb: {
        raw: round(growth('raw') / MB),
        rollups: round(growth('rollups') / MB),
        tuples: round(growth('tuples') / MB),
        batches: round(growth('batches') / MB),
        identities: round(growth('identities') / MB),
      },
      sender_cpu_s: round(senderCpuS, 2),
      sender_cores: round(senderCores, 2),
      sender_rss_mb: round(peak.sender / MB),
      sender_event_loop_delay_p99_ms: done.eventLoopDelayMs.p99,
      sender_late_max_ms: Math.round(done.lateMaxMs),
      connections,
      topology,
    };
    const model = scaleModel({
      nodes: options.modelNodes,
      recordsPerNodePerS: perInterval,
      recordsPerSPerCore: result.records_per_s_per_core,
      saturatedRecordsPerS: keptUp ? undefined : result.records_per_s_wall,
      ...sizes,
    });
    const notes: string[] = [];
    const cores = cpus().length;
    if (collectorCores + senderCores > 0.9 * cores)
      notes.push(
        `the ${cores} cores were busy (collector ${round(collectorCores, 2)} + simulated agents ${round(senderCores, 2)}): records/s wall is the machine's, not the collector's alone; records/s per core is its own CPU`,
      );
    if (done.eventLoopDelayMs.p99 > 20)
      notes.push(
        `ack times include the simulated agents' own event loop delay (p99 ${done.eventLoopDelayMs.p99} ms, max ${done.eventLoopDelayMs.max} ms)`,
      );
    if (done.lateMaxMs > 1000)
      notes.push(
        `the simulated agents fell behind their schedule by up to ${Math.round(done.lateMaxMs)} ms: less was offered than planned`,
      );
    if (connections !== agents)
      notes.push(`${connections} connections for ${agents} agents: some agents shared one`);
    if (result.acks_past_rollup_grace > 0)
      notes.push(
        `${result.acks_past_rollup_grace} of ${ackMs.length} batches were stored more than ${ROLLUP_GRACE_MS / 1000} s after their interval: the collector was behind, so its rollups were held below what was still arriving (collector/store/rollup-pacing.ts) and reads of the backlog's span came from raw rows (the topology's read time); rows of buckets rolled up before it fell behind are merged into those rollups one by one, which costs more per record`,
      );
    if (totals.reconnects > 0)
      notes.push(
        `${totals.reconnects} reconnects (${done.lastErrors.join('; ')}): replays were sent again, and dropped as duplicates`,
      );
    if (!done.drained) notes.push('not every batch was acknowledged within the drain timeout');
    return { ...result, model, notes };
  } finally {
    clearInterval(sampler);
    if (sender) await stopSender(sender);
    await collector?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export function renderScaleBench(r: ScaleBenchResult): string {
  const t = r.topology;
  const m = r.model;
  return [
    `Scale: ${r.agents} simulated agents against one collector, ${r.intervals} intervals of 1 s, ${r.records_per_node_per_interval} records per node per interval (${r.pods_per_node} meshed pods)`,
    `  records per second, wall        ${r.records_per_s_wall}  (offered ${r.records_per_s_offered})`,
    `  records per second per core     ${r.records_per_s_per_core}  (collector CPU ${r.collector_cpu_s} s, ${r.collector_cores} cores)`,
    `  time to acknowledgement         p50 ${r.ack_p50_ms} ms, p99 ${r.ack_p99_ms} ms, max ${r.ack_max_ms} ms`,
    `  kept up                         ${r.kept_up ? 'yes' : 'no'}  (${r.backlog_at_end_batches} batches behind at the last interval, drained in ${r.drain_s} s)`,
    `  batches                         ${r.batches_sent} sent, ${r.batches_acked} acknowledged, ${r.batches_stored} stored (collector: ${r.batches_stored_collector}), ${r.duplicates} duplicates, ${r.lost} lost`,
    `  collector memory                ${r.collector_rss_mb} MB RSS (peak ${r.collector_peak_rss_mb} MB)`,
    `  store                           ${r.store_bytes_per_record} bytes per record (raw rows ${r.store_raw_bytes_per_record}); ${r.store_mb_per_hour} MB per hour; file ${r.file_growth_mb_per_sim_hour} MB per simulated hour`,
    `  simulated agents                ${r.sender_cpu_s} s CPU (${r.sender_cores} cores), ${r.sender_rss_mb} MB, event loop p99 ${r.sender_event_loop_delay_p99_ms} ms, ${r.connections} connections`,
    'error' in t
      ? `  topology                        not read: ${t.error}`
      : `  topology                        ${t.processes}/${t.processes_expected} processes, ${t.edges}/${t.edges_expected} edges, ${t.edges_missing.length} missing, ${t.edges_unexpected.length} unexpected (read in ${t.read_ms} ms)`,
    `Model, ${m.nodes} nodes at ${m.records_per_node_per_s} records/s each (${m.records_per_s} records/s):`,
    `  collector CPU                   ${m.collector_cores} cores; ${m.collector_replicas} replicas of ${m.replica_records_per_s} records/s`,
    `  store                           ${m.store_gb_per_hour} GB per hour, ${m.store_gb_per_day} GB per day, ${m.store_gb_retained} GB retained`,
    ...m.assumptions.map((a) => `  - ${a}`),
    ...r.notes.map((n) => `note: ${n}`),
  ].join('\n');
}
