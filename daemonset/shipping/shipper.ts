// The agent's end of the wire contract: numbers each batch, keeps it in the bounded
// spool until the collector acknowledges it, and replays the spool after every
// reconnect (the collector drops duplicates). At most `window` batches are in flight;
// a collector that stops acknowledging for `ackTimeoutMs` is treated as gone.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs/light.js';
import {
  AgentIngestService,
  Batch,
  type CollectorMessage,
  type Control,
  type Hello,
  type Init,
  type KernelFilter,
} from '../../proto/gen/tollgate/v1.js';
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from './backoff.js';
import { Spool, type SpoolLimits } from './spool.js';

export interface ShipperTls {
  /** CA that signed the collector's certificate. */
  ca?: Buffer;
  /** The agent's own certificate and key, for mTLS. */
  cert?: Buffer;
  key?: Buffer;
  /** The name the collector's certificate must carry, when not the address dialled. */
  serverName?: string;
}

export interface ShipperOptions {
  /**
   * host:port of the collector; or several, comma-separated: replicas sharing one store.
   * The agent ships to one at a time, starting at a random one so that agents spread
   * over them, and moves to the next when its stream is lost (its unacknowledged
   * batches replayed there: the shared store keeps each once).
   */
  target: string;
  hello: Init<Omit<Hello, 'bootId'>> & { agentId: string };
  token?: string;
  tls?: ShipperTls;
  spool?: Partial<SpoolLimits>;
  backoff?: BackoffOptions;
  window?: number;
  ackTimeoutMs?: number;
}

export interface ShipperStats {
  sent: number;
  stored: number;
  duplicates: number;
  rejected: number;
  spoolDropped: number;
  spoolBatches: number;
  spoolBytes: number;
  reconnects: number;
  connected: boolean;
  /** The collector address shipped to now (or tried next). */
  target: string;
  lastError: string | null;
}

/**
 * AgentMessage{batch} around a batch encoded once, when it was spooled: the body's field
 * (2, length-delimited) written by protobufjs's own writer, so a replay or a resend never
 * decodes and encodes the batch again. (The generated request serializer takes a message
 * object: sending through it would re-encode every batch on every send.)
 */
export function batchMessage(bytes: Uint8Array): Buffer {
  const BATCH_FIELD = 2;
  const LENGTH_DELIMITED = 2;
  return Buffer.from(
    protobuf.Writer.create()
      .uint32((BATCH_FIELD << 3) | LENGTH_DELIMITED)
      .bytes(bytes)
      .finish(),
  );
}

/** The generated method: its path and its reply decoder; requests go out pre-encoded. */
const CONNECT = AgentIngestService.connect;

export interface ShipperEvents {
  control: [Control];
  ack: [{ sequence: number; status: string; error: string }];
  connected: [];
  disconnected: [string];
}

export class Shipper extends EventEmitter<ShipperEvents> {
  readonly bootId = randomUUID();
  private readonly spool: Spool;
  private readonly backoff: Backoff;
  private client: grpc.Client;
  /** The collector addresses (ShipperOptions.target) and which one is shipped to. */
  private readonly targets: string[];
  private targetIndex: number;
  private readonly window: number;
  private readonly ackTimeoutMs: number;
  private stream: grpc.ClientDuplexStream<Buffer, CollectorMessage> | undefined;
  /** Index in the spool of the next batch to write on the current stream. */
  private nextToWrite = 0;
  private inFlight = 0;
  private sequence = 0;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private ackTimer: NodeJS.Timeout | undefined;
  private readonly counts = { sent: 0, stored: 0, duplicates: 0, rejected: 0, reconnects: 0 };
  private lastError: string | null = null;
  private helloMessage: Buffer;

  constructor(private readonly options: ShipperOptions) {
    super();
    this.spool = new Spool({
      maxBatches: options.spool?.maxBatches ?? 10_000,
      maxBytes: options.spool?.maxBytes ?? 64 * 2 ** 20,
    });
    this.backoff = new Backoff(options.backoff);
    this.window = options.window ?? 64;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 30_000;
    this.targets = options.target
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    if (this.targets.length === 0) throw new Error('no collector address to ship to');
    this.targetIndex = Math.floor(Math.random() * this.targets.length);
    this.client = this.makeClient(this.targets[this.targetIndex]!);
    this.helloMessage = this.encodeHello();
  }

  private makeClient(target: string): grpc.Client {
    const tls = this.options.tls;
    const credentials = tls
      ? grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null)
      : grpc.credentials.createInsecure();
    return new grpc.Client(target, credentials, {
      'grpc.max_send_message_length': 64 * 2 ** 20,
      // The channel keeps its own reconnect backoff (up to 120 s by default), under
      // ours: bound it by ours, or an agent would wait minutes after a collector restart.
      'grpc.initial_reconnect_backoff_ms':
        this.options.backoff?.initialMs ?? DEFAULT_BACKOFF.initialMs,
      'grpc.max_reconnect_backoff_ms': this.options.backoff?.maxMs ?? DEFAULT_BACKOFF.maxMs,
      ...(tls?.serverName
        ? {
            'grpc.ssl_target_name_override': tls.serverName,
            'grpc.default_authority': tls.serverName,
          }
        : {}),
    });
  }

  /** Moves to the next collector address, when there are several. */
  private nextTarget(): void {
    if (this.targets.length < 2) return;
    this.client.close();
    this.targetIndex = (this.targetIndex + 1) % this.targets.length;
    this.client = this.makeClient(this.targets[this.targetIndex]!);
  }

  private encodeHello(filter?: Init<KernelFilter>): Buffer {
    const hello = { ...this.options.hello, bootId: this.bootId };
    if (filter) hello.kernelFilter = filter;
    return CONNECT.requestSerialize({ hello });
  }

  /** The filter the agent applies now: said in the hello of every later stream. */
  setAppliedFilter(filter: Init<KernelFilter>): void {
    this.helloMessage = this.encodeHello(filter);
  }

  start(): void {
    this.connect();
  }

  /** Numbers a batch, spools it and sends it when the window allows. Returns its sequence. */
  send(batch: Init<Omit<Batch, 'agentId' | 'bootId' | 'sequence'>>): number {
    const sequence = ++this.sequence;
    const bytes = Batch.encode({
      ...batch,
      agentId: this.options.hello.agentId,
      bootId: this.bootId,
      sequence,
    });
    const dropped = this.spool.push({ sequence, bytes });
    // Dropped batches were oldest: if they had been written, later indexes shift down.
    if (dropped > 0) {
      const written = Math.min(dropped, this.nextToWrite);
      this.nextToWrite -= written;
      this.inFlight = Math.max(0, this.inFlight - written);
    }
    this.pump();
    return sequence;
  }

  stats(): ShipperStats {
    return {
      ...this.counts,
      spoolDropped: this.spool.dropped,
      spoolBatches: this.spool.batches,
      spoolBytes: this.spool.bytes,
      connected: this.stream !== undefined,
      target: this.targets[this.targetIndex]!,
      lastError: this.lastError,
    };
  }

  /** Waits until the spool is empty (everything acknowledged) or the timeout passes. */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.spool.batches > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    return this.spool.batches === 0;
  }

  async stop(flushTimeoutMs = 0): Promise<void> {
    if (flushTimeoutMs > 0) await this.flush(flushTimeoutMs);
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.ackTimer);
    this.stream?.cancel();
    this.stream = undefined;
    this.client.close();
  }

  private connect(): void {
    if (this.stopped) return;
    const metadata = new grpc.Metadata();
    if (this.options.token) metadata.set('authorization', `Bearer ${this.options.token}`);
    const stream = this.client.makeBidiStreamRequest<Buffer, CollectorMessage>(
      CONNECT.path,
      (encoded) => encoded,
      CONNECT.responseDeserialize,
      metadata,
    );
    this.stream = stream;
    this.nextToWrite = 0;
    this.inFlight = 0;
    stream.on('data', (message: CollectorMessage) => this.receive(message));
    const lost = (reason: string) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      clearTimeout(this.ackTimer);
      this.lastError = reason;
      this.emit('disconnected', reason);
      stream.cancel();
      if (this.stopped) return;
      this.counts.reconnects++;
      this.nextTarget();
      this.reconnectTimer = setTimeout(() => this.connect(), this.backoff.next());
    };
    stream.on('error', (error: grpc.ServiceError) => lost(error.details || error.message));
    stream.on('end', () => lost('the collector ended the stream'));
    stream.write(this.helloMessage);
    this.emit('connected');
    this.pump();
  }

  private pump(): void {
    const stream = this.stream;
    if (!stream) return;
    while (this.inFlight < this.window) {
      const entry = this.spool.at(this.nextToWrite);
      if (!entry) break;
      stream.write(batchMessage(entry.bytes));
      this.nextToWrite++;
      this.inFlight++;
      this.counts.sent++;
    }
    if (this.inFlight > 0 && !this.ackTimer) this.armAckTimer();
  }

  private armAckTimer(): void {
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      if (this.inFlight > 0) this.stream?.emit('error', { details: 'no acknowledgement in time' });
    }, this.ackTimeoutMs);
  }

  private receive(message: CollectorMessage): void {
    if (message.body === 'control' && message.control) {
      this.emit('control', message.control);
      return;
    }
    const ack = message.ack;
    if (!ack || ack.bootId !== this.bootId) return;
    const index = this.spool.indexOf(ack.sequence);
    if (index < 0) return;
    this.spool.remove(ack.sequence);
    if (index < this.nextToWrite) {
      this.nextToWrite--;
      this.inFlight = Math.max(0, this.inFlight - 1);
    }
    if (ack.status === 'ACK_STATUS_STORED') this.counts.stored++;
    else if (ack.status === 'ACK_STATUS_DUPLICATE') this.counts.duplicates++;
    else this.counts.rejected++;
    this.backoff.reset();
    this.emit('ack', { sequence: ack.sequence, status: ack.status, error: ack.error });
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.pump();
  }
}
