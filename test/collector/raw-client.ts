// A gRPC client of the ingest service that sends raw bytes, so tests can send what a
// correct agent never would: garbage, oversized messages, replays, other tokens.
import * as grpc from '@grpc/grpc-js';
import {
  AgentIngestService,
  AgentMessage,
  type CollectorMessage,
  type Init,
} from '../../proto/gen/tollgate/v1.js';

const RawIngest = {
  connect: { ...AgentIngestService.connect, requestSerialize: (value: Buffer) => value },
};
const Client = grpc.makeGenericClientConstructor(RawIngest, 'AgentIngest');

export interface RawResult {
  messages: CollectorMessage[];
  /** The status the stream ended with (0 = OK). */
  code: number;
  details: string;
}

export function encode(message: Init<AgentMessage>): Buffer {
  return Buffer.from(AgentMessage.encode(message));
}

/** Opens a stream, writes the messages, half-closes, and gathers everything until it ends. */
export async function exchange(
  target: string,
  messages: readonly Buffer[],
  options: {
    token?: string;
    waitForAcks?: number;
    /** Half-close after this long even if fewer acks came (a message that gets none). */
    ackTimeoutMs?: number;
    credentials?: grpc.ChannelCredentials;
  } = {},
): Promise<RawResult> {
  const client = new Client(target, options.credentials ?? grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  if (options.token !== undefined) metadata.set('authorization', `Bearer ${options.token}`);
  const stream = (
    client as unknown as {
      connect(m: grpc.Metadata): grpc.ClientDuplexStream<Buffer, CollectorMessage>;
    }
  ).connect(metadata);
  const received: CollectorMessage[] = [];
  try {
    return await new Promise<RawResult>((resolve) => {
      const acks = () => received.filter((m) => m.body === 'ack').length;
      stream.on('data', (m: CollectorMessage) => {
        received.push(m);
        if (options.waitForAcks !== undefined && acks() >= options.waitForAcks) stream.end();
      });
      stream.on('status', (s: grpc.StatusObject) =>
        resolve({ messages: received, code: s.code, details: s.details }),
      );
      stream.on('error', () => {});
      for (const m of messages) stream.write(m);
      if (options.waitForAcks === undefined) stream.end();
      else if (options.ackTimeoutMs !== undefined) {
        const timer = setTimeout(() => stream.end(), options.ackTimeoutMs);
        stream.on('status', () => clearTimeout(timer));
      }
    });
  } finally {
    client.close();
  }
}
