// The collector's end of the wire contract (proto/tollgate/v1/agent.proto): one
// bidirectional stream per agent, hello first, then batches, each acknowledged after its
// commit. Bearer token, optional TLS and mTLS, a message size limit; invalid batches are
// acknowledged REJECTED with the reason and nothing of them is written.
import * as grpc from '@grpc/grpc-js';
import {
  AgentIngestService,
  type AgentMessage,
  type Batch,
  type CollectorMessage,
  type Hello,
  type Init,
  type KernelFilter,
  type LoadOrder,
  type TraceTarget,
} from '../../proto/gen/tollgate/v1.js';
import { bearerToken, grants } from '../auth.js';
import type { CollectorStore } from '../store/collector-store.js';
import { isDiskFull } from '../store/disk-guard.js';
import type { CommitQueue } from './commit-queue.js';
import { validateBatch, validateHello } from './validate-batch.js';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  /** With a CA, agents must present a certificate it signed (mTLS). */
  ca?: Buffer;
}

export interface IngestOptions {
  host: string;
  port: number;
  store: CollectorStore;
  queue: CommitQueue;
  token?: string;
  tls?: TlsFiles;
  /** Largest message accepted (default 16 MiB); larger ones fail with RESOURCE_EXHAUSTED. */
  maxMessageBytes?: number;
  /** Called after each batch is settled, for metrics and live updates. */
  onBatch?: (outcome: 'stored' | 'duplicate' | 'rejected', error?: string, batch?: Batch) => void;
  /** Why batches may not be stored now (a full disk), or undefined: asked before each. */
  admit?: () => string | undefined;
  /** A commit or a hello's write failed (the agent sends it again on a new stream). */
  onStoreError?: (error: Error) => void;
}

type Stream = grpc.ServerDuplexStream<AgentMessage, Init<CollectorMessage>>;

/** Each decoded message's size on the wire, for the commit queue's byte bound. */
const wireBytes = new WeakMap<AgentMessage, number>();

/** The generated service, but remembering how many bytes each message came in. */
const MeasuredIngest = {
  connect: {
    ...AgentIngestService.connect,
    requestDeserialize: (bytes: Buffer): AgentMessage => {
      const message = AgentIngestService.connect.requestDeserialize(bytes);
      wireBytes.set(message, bytes.length);
      return message;
    },
  },
};

export class IngestServer {
  private readonly streams = new Set<Stream>();
  /** The agent behind each stream, once its hello arrived. */
  private readonly agentOf = new Map<Stream, string>();
  private filter: KernelFilter | undefined;
  private target: TraceTarget | undefined;

  private constructor(
    private readonly server: grpc.Server,
    readonly port: number,
  ) {}

  static async start(options: IngestOptions): Promise<IngestServer> {
    const limit = options.maxMessageBytes ?? 16 * 2 ** 20;
    const server = new grpc.Server({
      'grpc.max_receive_message_length': limit,
      'grpc.max_send_message_length': 4 * 2 ** 20,
    });
    let ingest: IngestServer | undefined;
    server.addService(MeasuredIngest, {
      connect: (call: Stream) => ingest!.handle(call, options),
    });
    const credentials = options.tls
      ? grpc.ServerCredentials.createSsl(
          options.tls.ca ?? null,
          [{ cert_chain: options.tls.cert, private_key: options.tls.key }],
          options.tls.ca !== undefined,
        )
      : grpc.ServerCredentials.createInsecure();
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${options.port}`, credentials, (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    ingest = new IngestServer(server, port);
    return ingest;
  }

  /** Agents connected now. */
  get connected(): number {
    return this.streams.size;
  }

  /** Sends a kernel filter to every agent now, and to each agent that connects later. */
  setKernelFilter(filter: KernelFilter): void {
    this.filter = filter;
    for (const stream of this.streams) stream.write({ control: { kernelFilter: filter } });
  }

  /** Agents connected now (after their hello), by agent id. */
  connectedAgents(): string[] {
    return [...new Set(this.agentOf.values())].sort();
  }

  /** Sends a trace target to every agent now, and to each agent that connects later. */
  setTarget(target: TraceTarget): void {
    this.target = target;
    for (const stream of this.agentOf.keys()) stream.write({ control: { target } });
  }

  /** Sends a load order to one agent; false when it is not connected. */
  sendLoadOrder(agentId: string, order: LoadOrder): boolean {
    const stream = [...this.agentOf].find(([, id]) => id === agentId)?.[0];
    stream?.write({ control: { load: order } });
    return stream !== undefined;
  }

  async stop(): Promise<void> {
    for (const stream of this.streams) stream.end();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 2000);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private handle(call: Stream, options: IngestOptions): void {
    if (!grants(bearerToken(headerOf(call.metadata)), 'ingest', { ingest: options.token })) {
      call.emit('error', {
        code: grpc.status.UNAUTHENTICATED,
        details: 'missing or wrong bearer token',
      });
      return;
    }
    let hello: Hello | undefined;
    this.streams.add(call);
    const forget = () => {
      this.streams.delete(call);
      this.agentOf.delete(call);
    };
    call.on('close', forget);
    call.on('error', forget);
    call.on('cancelled', forget);
    call.on('end', () => {
      forget();
      call.end();
    });
    const storeFailed = (error: Error) =>
      call.emit('error', {
        code: isDiskFull(error) ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.UNAVAILABLE,
        details: `store: ${error.message}`,
      });
    call.on('data', (message: AgentMessage) => {
      if (message.body === 'hello' && message.hello) {
        const problem = hello
          ? 'a stream has one hello, and this one has had it'
          : validateHello(message.hello);
        if (problem) {
          call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: problem });
          return;
        }
        hello = message.hello;
        options.store
          .hello(hello.agentId, hello.node, hello.bootId, hello.agentVersion, hello.nodeInfo)
          .catch((error: Error) => {
            // Not recorded: the stream fails, and the agent says hello again on its next.
            options.onStoreError?.(error);
            storeFailed(error);
          });
        this.agentOf.set(call, hello.agentId);
        if (this.filter) call.write({ control: { kernelFilter: this.filter } });
        if (this.target) call.write({ control: { target: this.target } });
        return;
      }
      const batch = message.batch;
      if (!hello || !batch) {
        call.emit('error', {
          code: grpc.status.FAILED_PRECONDITION,
          details: hello
            ? 'after the hello, every message must be a batch'
            : 'a stream must start with a hello',
        });
        return;
      }
      const ack = (
        status: 'ACK_STATUS_STORED' | 'ACK_STATUS_DUPLICATE' | 'ACK_STATUS_REJECTED',
        error = '',
      ) => call.write({ ack: { bootId: batch.bootId, sequence: batch.sequence, status, error } });
      const problem = validateBatch(batch, hello);
      if (problem) {
        ack('ACK_STATUS_REJECTED', problem);
        options.onBatch?.('rejected', problem);
        return;
      }
      const refused = options.admit?.();
      if (refused) {
        // Not stored, so not acknowledged: the agent keeps it and sends it again later.
        call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: refused });
        return;
      }
      options.queue.submit(batch, wireBytes.get(message) ?? 0).then(
        (status) => {
          ack(status === 'stored' ? 'ACK_STATUS_STORED' : 'ACK_STATUS_DUPLICATE');
          options.onBatch?.(status, undefined, batch);
        },
        (error: Error) => {
          // Not committed, so not acknowledged: the agent keeps it and replays it.
          options.onStoreError?.(error);
          storeFailed(error);
        },
      );
      if (!options.queue.hasRoom()) {
        call.pause();
        options.queue.once('drain', () => call.resume());
      }
    });
  }
}

function headerOf(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  return typeof value === 'string' ? value : undefined;
}
