// Decoder of tollgate-runner's output (layout in probes/src/tollgate.h). Pure: bytes in,
// typed records out. The stream is split into records by their headers, so a chunk may
// end anywhere; a wrong magic or version is an error that names the offset.

export const RECORD_MAGIC = 0x31524754;
export const FORMAT_VERSION = 1;

/** Sizes and offsets this decoder assumes; a test compares them with `tollgate-runner --layout`. */
export const LAYOUT = {
  header: 16,
  edgeKey: 48,
  edgeStats: 88,
  edgeRecord: 136,
  histRecord: 64,
  intervalRecord: 48,
  offsets: {
    'key.service_port': 40,
    'key.remote_addr': 24,
    'stats.bytes_received': 40,
    'stats.exchange_ns_sum': 80,
    'hist.metric': 48,
    'hist.bucket': 52,
    'hist.count': 56,
    'interval.lost': 16,
    'interval.edges': 40,
    'interval.hists': 44,
  },
} as const;

export type Side = 'client' | 'server' | 'unknown';

export interface EdgeKey {
  tgid: number;
  family: 4 | 6;
  side: Side;
  localAddress: string;
  remoteAddress: string;
  servicePort: number;
}

export interface EdgeRecord {
  type: 'edge';
  key: EdgeKey;
  connects: number;
  connectErrors: number;
  accepts: number;
  closes: number;
  bytesSent: number;
  bytesReceived: number;
  sendOps: number;
  recvOps: number;
  exchanges: number;
  connectNsSum: number;
  exchangeNsSum: number;
}

export type Metric = 'connect_latency' | 'exchange_latency';

export interface HistRecord {
  type: 'hist';
  key: EdgeKey;
  metric: Metric;
  bucket: number;
  count: number;
}

export interface IntervalRecord {
  type: 'interval';
  monotonicNs: number;
  realtimeMs: number;
  lost: { edgeMapFull: number; histMapFull: number; sockMapFull: number };
  edges: number;
  hists: number;
}

export interface HelloRecord {
  type: 'hello';
  formatVersion: number;
  kernel: string;
  programs: { name: string; attach: string }[];
}

export type ProbeRecord = HelloRecord | EdgeRecord | HistRecord | IntervalRecord;

export class RecordFormatError extends Error {
  override name = 'RecordFormatError';
}

const sides: Record<number, Side> = { 0: 'unknown', 1: 'client', 2: 'server' };
const metrics: Record<number, Metric> = { 1: 'connect_latency', 2: 'exchange_latency' };

function u64(view: DataView, offset: number): number {
  return Number(view.getBigUint64(offset, true));
}

function address(bytes: Uint8Array, family: 4 | 6): string {
  if (family === 4) return Array.from(bytes.subarray(0, 4)).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

function edgeKey(view: DataView, at: number): EdgeKey {
  const family = view.getUint16(at + 4, true) === 10 ? 6 : 4;
  const bytes = new Uint8Array(view.buffer, view.byteOffset + at, LAYOUT.edgeKey);
  return {
    tgid: view.getUint32(at, true),
    family,
    side: sides[view.getUint8(at + 6)] ?? 'unknown',
    localAddress: address(bytes.subarray(8, 24), family),
    remoteAddress: address(bytes.subarray(24, 40), family),
    servicePort: view.getUint16(at + LAYOUT.offsets['key.service_port'], true),
  };
}

function decodePayload(type: number, view: DataView, at: number, length: number): ProbeRecord {
  const need = (size: number) => {
    if (length !== size)
      throw new RecordFormatError(`record type ${type} has ${length} bytes, expected ${size}`);
  };
  switch (type) {
    case 1: {
      const text = new TextDecoder().decode(
        new Uint8Array(view.buffer, view.byteOffset + at, length),
      );
      const hello = JSON.parse(text) as {
        format_version: number;
        kernel: string;
        programs: HelloRecord['programs'];
      };
      return {
        type: 'hello',
        formatVersion: hello.format_version,
        kernel: hello.kernel,
        programs: hello.programs,
      };
    }
    case 2: {
      need(LAYOUT.edgeRecord);
      const s = at + LAYOUT.edgeKey;
      return {
        type: 'edge',
        key: edgeKey(view, at),
        connects: u64(view, s),
        connectErrors: u64(view, s + 8),
        accepts: u64(view, s + 16),
        closes: u64(view, s + 24),
        bytesSent: u64(view, s + 32),
        bytesReceived: u64(view, s + 40),
        sendOps: u64(view, s + 48),
        recvOps: u64(view, s + 56),
        exchanges: u64(view, s + 64),
        connectNsSum: u64(view, s + 72),
        exchangeNsSum: u64(view, s + 80),
      };
    }
    case 3: {
      need(LAYOUT.histRecord);
      const metric = metrics[view.getUint32(at + LAYOUT.offsets['hist.metric'], true)];
      if (!metric) throw new RecordFormatError('histogram record with an unknown metric');
      return {
        type: 'hist',
        key: edgeKey(view, at),
        metric,
        bucket: view.getUint32(at + LAYOUT.offsets['hist.bucket'], true),
        count: u64(view, at + LAYOUT.offsets['hist.count']),
      };
    }
    case 4: {
      need(LAYOUT.intervalRecord);
      const lost = at + LAYOUT.offsets['interval.lost'];
      return {
        type: 'interval',
        monotonicNs: u64(view, at),
        realtimeMs: Math.floor(u64(view, at + 8) / 1e6),
        lost: {
          edgeMapFull: u64(view, lost),
          histMapFull: u64(view, lost + 8),
          sockMapFull: u64(view, lost + 16),
        },
        edges: view.getUint32(at + LAYOUT.offsets['interval.edges'], true),
        hists: view.getUint32(at + LAYOUT.offsets['interval.hists'], true),
      };
    }
    default:
      throw new RecordFormatError(`unknown record type ${type}`);
  }
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
