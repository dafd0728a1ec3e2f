// Decoder of tollgate-runner's output (layout in probes/src/tollgate.h). Pure: bytes in,
// typed records out. The stream is split into records by their headers, so a chunk may
// end anywhere; a wrong magic or version is an error that names the offset.

import { EDGE_COUNTERS, type EdgeCounter } from '../proto/edge-metrics.js';
import type { Layout } from '../proto/histogram.js';
import { HOP_COUNTERS, type HopCounter } from '../proto/hop-metrics.js';
import { LOSS_CAUSES, type LostCounters } from '../proto/loss-metrics.js';

export const RECORD_MAGIC = 0x31524754;
export const FORMAT_VERSION = 11;

/** Counters of an edge, in the order of struct tg_edge_stats (proto/edge-metrics.ts). */
/** Counters of a proxy's hops per listener, in the order of struct tg_hop_stats. */
export { EDGE_COUNTERS, type EdgeCounter, HOP_COUNTERS, type HopCounter };

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Where struct tg_interval_record's five counts begin: after the clocks and struct tg_lost. */
const INTERVAL_COUNTS = 16 + LOSS_CAUSES.length * 8;

/** tg_interval_record.flags: the interval's hand-offs ran from wake-up to wake-up. */
const TG_INTERVAL_HANDOFF_WAKE_UPS = 1;

/** Sizes and offsets this decoder assumes; a test compares them with `tollgate-runner --layout`. */
export const LAYOUT = {
  header: 16,
  edgeKey: 48,
  edgeStats: EDGE_COUNTERS.length * 8,
  edgeRecord: 48 + EDGE_COUNTERS.length * 8,
  histRecord: 64,
  tupleRecord: 80,
  hopRecord: 48 + HOP_COUNTERS.length * 8,
  // Five 32-bit counts and the flags after them.
  intervalRecord: INTERVAL_COUNTS + 24,
  processRecord: 48,
  offsets: {
    'key.tgid': 0,
    'key.family': 4,
    'key.side': 6,
    'key.local_addr': 8,
    'key.remote_addr': 24,
    'key.service_port': 40,
    'key.netns_inode': 44,
    ...Object.fromEntries(EDGE_COUNTERS.map((name, i) => [`stats.${snake(name)}`, i * 8])),
    'hist.metric': 48,
    'hist.bucket': 52,
    'hist.count': 56,
    'tuple.local_port': 48,
    'tuple.remote_port': 50,
    'tuple.client_isn': 52,
    'tuple.remote_addr': 56,
    'tuple.first_seen_ns': 72,
    'interval.realtime_ns': 8,
    'interval.lost': 16,
    'interval.edges': INTERVAL_COUNTS,
    'interval.hists': INTERVAL_COUNTS + 4,
    'interval.tuples': INTERVAL_COUNTS + 8,
    'interval.filter_generation': INTERVAL_COUNTS + 12,
    'interval.hops': INTERVAL_COUNTS + 16,
    'interval.flags': INTERVAL_COUNTS + 20,
    'process.event': 4,
    'process.start_boottime_ns': 8,
    'process.cgroup_id': 16,
    'process.netns_inode': 24,
    'process.parent_tgid': 28,
    'process.comm': 32,
    ...Object.fromEntries(HOP_COUNTERS.map((name, i) => [`hop.${snake(name)}`, 48 + i * 8])),
    ...Object.fromEntries(LOSS_CAUSES.map((name, i) => [`lost.${snake(name)}`, i * 8])),
  } as Record<string, number>,
} as const;

export type Side = 'client' | 'server' | 'unknown';

export interface EdgeKey {
  tgid: number;
  family: 4 | 6;
  side: Side;
  localAddress: string;
  remoteAddress: string;
  servicePort: number;
  /**
   * The socket's network namespace (its inode): the process's own, but for a node proxy
   * (ambient mode), whose sockets are in each pod's. 0 from sources that do not know it
   * (the bpftrace fallback).
   */
  netnsInode: number;
}

export type EdgeRecord = { type: 'edge'; key: EdgeKey } & Record<EdgeCounter, number>;

export type Metric =
  | 'connect_latency'
  | 'exchange_latency'
  | 'srtt'
  | 'hop_request'
  | 'hop_response'
  | 'hop_added';

/**
 * One histogram bucket. For the hop metrics the key is the proxy's downstream side:
 * its tgid, side 'server', the listener's port as servicePort, addresses unset.
 */
export interface HistRecord {
  type: 'hist';
  key: EdgeKey;
  metric: Metric;
  /** The runner's is log-linear; the bpftrace fallback's is the coarser power-of-two. */
  layout: Layout;
  bucket: number;
  count: number;
}

/**
 * What one proxy's hops through one listener amounted to in the interval (keyed like its
 * hop histograms; servicePort 0 when the listener is unknown). See tg_hop_stats.
 */
export type HopRecord = { type: 'hop'; key: EdgeKey } & Record<HopCounter, number>;

/** A sampled connection of an edge, with both ports, for joining its two ends. */
export interface TupleRecord {
  type: 'tuple';
  /** The edge its counts went to: on a folded edge, the remote address is unspecified. */
  key: EdgeKey;
  /** The connection's own peer address, whatever its edge's key says. */
  remoteAddress: string;
  localPort: number;
  remotePort: number;
  /** The client's initial sequence number: the same at both ends of one connection. */
  clientIsn: number;
  firstSeenNs: number;
}

/** What the kernel could not account, by cause (proto/loss-metrics.ts). */
export type { LostCounters };

export interface IntervalRecord {
  type: 'interval';
  monotonicNs: number;
  realtimeMs: number;
  /** Cumulative since the runner started. */
  lost: LostCounters;
  edges: number;
  hists: number;
  tuples: number;
  hops: number;
  filterGeneration: number;
  /**
   * Whether the interval's handed-off hops ran from wake-up to wake-up (the runner's
   * TG_INTERVAL_HANDOFF_WAKE_UPS: its context-switch hook attached whenever a proxy was
   * listed); false: from read to read (no such hook, or its attach failed in the interval),
   * or a source with no hops (the bpftrace fallback).
   */
  handoffWakeUps: boolean;
}

/**
 * A process starts (exec, or a fork making a new process) or ends, as the kernel saw it
 * then: sent at once, not at a drain. See tg_process_record.
 */
export interface ProcessRecord {
  type: 'process';
  event: 'exec' | 'fork' | 'exit';
  tgid: number;
  /** As /proc/<pid>/stat's starttime: clock ticks (USER_HZ, 100) since boot. */
  startTimeTicks: number;
  cgroupId: number;
  netnsInode: number;
  /** fork: the process it was forked from; else 0. */
  parentTgid: number;
  /** The kernel's comm: the executable's name, at most 15 bytes. Untrusted. */
  comm: string;
}

export type AttachMode = 'tp_btf' | 'fentry' | 'fexit' | 'bpftrace' | 'none';

export interface HelloRecord {
  type: 'hello';
  formatVersion: number;
  kernel: string;
  intervalMs: number;
  /** Map sizes, in entries (0 from the bpftrace fallback, which has no such maps). */
  maps: { sockets: number; edges: number; histograms: number; tuples: number; handoffs: number };
  /**
   * Clients per listener that keep an edge of their own each interval; the others are
   * summed under the listener's edge with the remote address unspecified. Null: no limit.
   */
  clientsPerListener: number | null;
  /**
   * Whether connections that begin with HTTP/2's preface have their requests counted from
   * their frames (`http2_requests`): asked for (the runner's default) and possible there
   * (x86-64, a kernel with bpf_loop and bpf_task_pt_regs, 5.17 on). False: turned off
   * (`--no-http2-requests`), a kernel that cannot, or a source that never counts them (the
   * bpftrace fallback, a runner from before); then an HTTP/2 connection's requests are its
   * direction changes.
   */
  http2Requests: boolean;
  /**
   * Each hook and how it is attached; `while: 'proxies'` for one attached only while a
   * proxy is listed (the context switch's, for the neighbours' wait).
   */
  programs: {
    hook: string;
    name?: string;
    attach: AttachMode;
    target?: string;
    while?: 'proxies';
  }[];
  /**
   * Whether the kernel counted the programs' run time from the start (--run-time-stats,
   * and BPF_ENABLE_STATS granted); later `stats on|off` commands change it.
   */
  runTimeStats: boolean;
}

/** Each attached program's cost so far, as the kernel counts it (bpf_stats). */
export interface ProgramsRecord {
  type: 'programs';
  programs: { name: string; runCount: number; runTimeNs: number }[];
}

export type ProbeRecord =
  | HelloRecord
  | EdgeRecord
  | HistRecord
  | TupleRecord
  | HopRecord
  | IntervalRecord
  | ProgramsRecord
  | ProcessRecord;

export class RecordFormatError extends Error {
  override name = 'RecordFormatError';
}

const sides: Record<number, Side> = { 0: 'unknown', 1: 'client', 2: 'server' };
const metrics: Record<number, Metric> = {
  1: 'connect_latency',
  2: 'exchange_latency',
  3: 'srtt',
  4: 'hop_request',
  5: 'hop_response',
  6: 'hop_added',
};

const at = (name: string): number => {
  const offset = LAYOUT.offsets[name];
  if (offset === undefined) throw new Error(`no offset named ${name}`);
  return offset;
};

function u64(view: DataView, offset: number): number {
  return Number(view.getBigUint64(offset, true));
}

function address(bytes: Uint8Array, family: 4 | 6): string {
  if (family === 4) return Array.from(bytes.subarray(0, 4)).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

function tupleRemote(view: DataView, base: number, family: 4 | 6): string {
  const offset = view.byteOffset + base + at('tuple.remote_addr');
  return address(new Uint8Array(view.buffer, offset, 16), family);
}

function edgeKey(view: DataView, base: number): EdgeKey {
  const family = view.getUint16(base + at('key.family'), true) === 10 ? 6 : 4;
  const bytes = new Uint8Array(view.buffer, view.byteOffset + base, LAYOUT.edgeKey);
  const local = at('key.local_addr');
  const remote = at('key.remote_addr');
  return {
    tgid: view.getUint32(base + at('key.tgid'), true),
    family,
    side: sides[view.getUint8(base + at('key.side'))] ?? 'unknown',
    localAddress: address(bytes.subarray(local, local + 16), family),
    remoteAddress: address(bytes.subarray(remote, remote + 16), family),
    servicePort: view.getUint16(base + at('key.service_port'), true),
    netnsInode: view.getUint32(base + at('key.netns_inode'), true),
  };
}

function decodeHello(text: string): HelloRecord {
  let hello: {
    format_version: number;
    kernel: string;
    interval_ms: number;
    maps: HelloRecord['maps'];
    programs: HelloRecord['programs'];
    run_time_stats?: boolean;
    clients_per_listener?: number;
    http2_requests?: boolean;
  };
  try {
    hello = JSON.parse(text);
  } catch {
    throw new RecordFormatError('hello record is not JSON');
  }
  return {
    type: 'hello',
    formatVersion: hello.format_version,
    kernel: hello.kernel,
    intervalMs: hello.interval_ms,
    maps: hello.maps,
    programs: hello.programs,
    runTimeStats: hello.run_time_stats === true,
    clientsPerListener: hello.clients_per_listener ?? null,
    http2Requests: hello.http2_requests === true,
  };
}

function decodePrograms(text: string): ProgramsRecord {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    throw new RecordFormatError('programs record is not JSON');
  }
  if (!Array.isArray(list)) throw new RecordFormatError('programs record is not a list');
  return {
    type: 'programs',
    programs: list.map((p: { name?: unknown; run_cnt?: unknown; run_time_ns?: unknown }) => ({
      name: String(p.name),
      runCount: Number(p.run_cnt) || 0,
      runTimeNs: Number(p.run_time_ns) || 0,
    })),
  };
}

const text = (view: DataView, base: number, length: number) =>
  new TextDecoder().decode(new Uint8Array(view.buffer, view.byteOffset + base, length));

function decodePayload(type: number, view: DataView, base: number, length: number): ProbeRecord {
  const need = (size: number) => {
    if (length !== size)
      throw new RecordFormatError(`record type ${type} has ${length} bytes, expected ${size}`);
  };
  switch (type) {
    case 1:
      return decodeHello(text(view, base, length));
    case 2: {
      need(LAYOUT.edgeRecord);
      const stats = base + LAYOUT.edgeKey;
      const record = { type: 'edge', key: edgeKey(view, base) } as EdgeRecord;
      for (const name of EDGE_COUNTERS)
        record[name] = u64(view, stats + at(`stats.${snake(name)}`));
      return record;
    }
    case 3: {
      need(LAYOUT.histRecord);
      const metric = metrics[view.getUint32(base + at('hist.metric'), true)];
      if (!metric) throw new RecordFormatError('histogram record with an unknown metric');
      return {
        type: 'hist',
        key: edgeKey(view, base),
        metric,
        layout: 'HISTOGRAM_LAYOUT_LOG_LINEAR_16',
        bucket: view.getUint32(base + at('hist.bucket'), true),
        count: u64(view, base + at('hist.count')),
      };
    }
    case 4: {
      need(LAYOUT.intervalRecord);
      const lostAt = base + at('interval.lost');
      const lost = {} as LostCounters;
      for (const name of LOSS_CAUSES) lost[name] = u64(view, lostAt + at(`lost.${snake(name)}`));
      return {
        type: 'interval',
        monotonicNs: u64(view, base),
        realtimeMs: Math.floor(u64(view, base + at('interval.realtime_ns')) / 1e6),
        lost,
        edges: view.getUint32(base + at('interval.edges'), true),
        hists: view.getUint32(base + at('interval.hists'), true),
        tuples: view.getUint32(base + at('interval.tuples'), true),
        hops: view.getUint32(base + at('interval.hops'), true),
        filterGeneration: view.getUint32(base + at('interval.filter_generation'), true),
        handoffWakeUps:
          (view.getUint32(base + at('interval.flags'), true) & TG_INTERVAL_HANDOFF_WAKE_UPS) !== 0,
      };
    }
    case 5: {
      need(LAYOUT.tupleRecord);
      const key = edgeKey(view, base);
      return {
        type: 'tuple',
        key,
        remoteAddress: tupleRemote(view, base, key.family),
        localPort: view.getUint16(base + at('tuple.local_port'), true),
        remotePort: view.getUint16(base + at('tuple.remote_port'), true),
        clientIsn: view.getUint32(base + at('tuple.client_isn'), true),
        firstSeenNs: u64(view, base + at('tuple.first_seen_ns')),
      };
    }
    case 6:
      return decodePrograms(text(view, base, length));
    case 7: {
      need(LAYOUT.hopRecord);
      const record = { type: 'hop', key: edgeKey(view, base) } as HopRecord;
      for (const name of HOP_COUNTERS) record[name] = u64(view, base + at(`hop.${snake(name)}`));
      return record;
    }
    case 8:
      need(LAYOUT.processRecord);
      return decodeProcess(view, base);
    default:
      throw new RecordFormatError(`unknown record type ${type}`);
  }
}

const processEvents: Record<number, ProcessRecord['event']> = { 1: 'exec', 2: 'fork', 3: 'exit' };
/** Nanoseconds per clock tick of /proc's starttime (USER_HZ is 100 on Linux). */
const NS_PER_TICK = 10_000_000n;

function decodeProcess(view: DataView, base: number): ProcessRecord {
  const event = processEvents[view.getUint32(base + at('process.event'), true)];
  if (!event) throw new RecordFormatError('process record with an unknown event');
  const comm = new Uint8Array(view.buffer, view.byteOffset + base + at('process.comm'), 16);
  const end = comm.indexOf(0);
  return {
    type: 'process',
    event,
    tgid: view.getUint32(base, true),
    startTimeTicks: Number(
      view.getBigUint64(base + at('process.start_boottime_ns'), true) / NS_PER_TICK,
    ),
    cgroupId: u64(view, base + at('process.cgroup_id')),
    netnsInode: view.getUint32(base + at('process.netns_inode'), true),
    parentTgid: view.getUint32(base + at('process.parent_tgid'), true),
    comm: new TextDecoder().decode(comm.subarray(0, end < 0 ? 16 : end)),
  };
}

/** Splits a byte stream into records; feed it chunks as they come. */
export class RecordDecoder {
  private pending = new Uint8Array(0);
  private consumed = 0;

  push(chunk: Uint8Array): ProbeRecord[] {
    const data = new Uint8Array(this.pending.length + chunk.length);
    data.set(this.pending);
    data.set(chunk, this.pending.length);
    const view = new DataView(data.buffer);
    const records: ProbeRecord[] = [];
    let at = 0;
    while (data.length - at >= LAYOUT.header) {
      const magic = view.getUint32(at, true);
      const version = view.getUint16(at + 4, true);
      if (magic !== RECORD_MAGIC)
        throw new RecordFormatError(`bad magic at byte ${this.consumed + at}`);
      if (version !== FORMAT_VERSION) {
        throw new RecordFormatError(
          `record format version ${version}, this decoder reads ${FORMAT_VERSION}`,
        );
      }
      const length = view.getUint32(at + 8, true);
      if (data.length - at - LAYOUT.header < length) break;
      records.push(decodePayload(view.getUint16(at + 6, true), view, at + LAYOUT.header, length));
      at += LAYOUT.header + length;
    }
    this.consumed += at;
    this.pending = data.slice(at);
    return records;
  }

  /** Bytes of an unfinished record at the end of the stream. */
  get leftover(): number {
    return this.pending.length;
  }
}
