// `tollgate bench ingest`: the collector end to end, gRPC decode to SQLite commit, as a
// separate process fed by the agent's own shipper. Records per second per core are the
// records stored over the CPU time the collector process used (from /proc), so the
// sender's cost is not counted; time to acknowledgement is measured per batch.
import { Shipper } from '../daemonset/shipping/shipper.js';
import type { Batch, Init } from '../proto/gen/tollgate/v1.js';
import { fromValues } from '../proto/histogram.js';
import { type CollectorProcess, startCollectorProcess } from './tollgate-processes.js';

export interface IngestBenchOptions {
  batches: number;
  edgesPerBatch: number;
  window: number;
}

export interface IngestBenchResult {
  records_per_s_per_core: number;
  ack_p99_ms: number;
  ack_p50_ms: number;
  records: number;
  records_per_s_wall: number;
  collector_cpu_s: number;
  batches: number;
  edges_per_batch: number;
}

export const DEFAULT_INGEST_BENCH: IngestBenchOptions = {
  batches: 400,
  edgesPerBatch: 250,
  window: 64,
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

export async function benchIngest(options = DEFAULT_INGEST_BENCH): Promise<IngestBenchResult> {
  let collector: CollectorProcess | undefined;
  let shipper: Shipper | undefined;
  try {
    collector = await startCollectorProcess();
    const target = collector.grpcTarget;
    shipper = new Shipper({
      target,
      hello: { agentId: 'bench', node: 'bench-node' },
      window: options.window,
    });
    // Encode everything first: the sender must not be what limits the collector.
    const batches = Array.from({ length: options.batches }, (_, k) =>
      syntheticBatch(k, options.edgesPerBatch),
    );
    const sentAt = new Map<number, number>();
    const ackMs: number[] = [];
    shipper.on('ack', (a) => ackMs.push(performance.now() - sentAt.get(a.sequence)!));
    shipper.start();
    // Warm up (JIT, prepared statements) on a few batches outside the measurement.
    for (let k = 0; k < 10; k++) sentAt.set(shipper.send(batches[k]!), performance.now());
    await shipper.flush(30_000);
    ackMs.length = 0;
    const cpuBefore = cpuSeconds(collector);
    const wallStart = performance.now();
    for (const b of batches) sentAt.set(shipper.send(b), performance.now());
    if (!(await shipper.flush(300_000)))
      throw new Error('the collector did not acknowledge every batch');
    const wallS = (performance.now() - wallStart) / 1000;
    const cpuS = cpuSeconds(collector) - cpuBefore;
    const records = options.batches * options.edgesPerBatch;
    ackMs.sort((a, b) => a - b);
    return {
      records_per_s_per_core: Math.round(records / cpuS),
      ack_p99_ms: Number(percentile(ackMs, 0.99).toFixed(1)),
      ack_p50_ms: Number(percentile(ackMs, 0.5).toFixed(1)),
      records,
      records_per_s_wall: Math.round(records / wallS),
      collector_cpu_s: Number(cpuS.toFixed(2)),
      batches: options.batches,
      edges_per_batch: options.edgesPerBatch,
    };
  } finally {
    await shipper?.stop();
    await collector?.stop();
  }
}

export function renderIngestBench(r: IngestBenchResult): string {
  return [
    `Collector ingest: ${r.batches} batches x ${r.edges_per_batch} edge reports, gRPC decode to SQLite commit`,
    `  records per second per core   ${r.records_per_s_per_core}  (collector CPU ${r.collector_cpu_s} s)`,
    `  records per second, wall      ${r.records_per_s_wall}`,
    `  time to acknowledgement       p50 ${r.ack_p50_ms} ms, p99 ${r.ack_p99_ms} ms`,
  ].join('\n');
}
