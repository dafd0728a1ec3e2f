// A small binary request/response protocol for the lab, so a sidecar's added latency can
// be checked on traffic that is not HTTP: a request is a 4-byte big-endian length and that
// many bytes; the server answers every request with a reply of a fixed size, framed the
// same way. The client is the lab's open-loop generator (latency from when each request
// was due and from when it was issued, exact quantiles) over its connection pool, with
// this framing in place of HTTP's.
import { createServer, type Server } from 'node:net';
import {
  ConnectionPool,
  type PoolTarget,
  type ReplyFramer,
} from '../daemonset/load/connection-pool.js';
import { type LoadResult, openLoop } from '../daemonset/load/load.js';
import { nodeEntry } from './spawn.js';
import { type TransportLoadOptions, validateTransportLoad } from './transport-load.js';

/** Larger frames are not what this protocol carries: refuse rather than buffer on. */
export const MAX_FRAME_BYTES = 1 << 20;

/** One frame: the length prefix and `payloadBytes` of `fill`. */
export function frame(payloadBytes: number, fill: number): Buffer {
  if (!Number.isInteger(payloadBytes) || payloadBytes < 0 || payloadBytes > MAX_FRAME_BYTES)
    throw new RangeError(`frame of ${payloadBytes} bytes`);
  const bytes = Buffer.alloc(4 + payloadBytes, fill);
  bytes.writeUInt32BE(payloadBytes, 0);
  return bytes;
}

/** Splits a byte stream, arriving in any pieces, into frames; returns their payload sizes. */
export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): number[] {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const sizes: number[] = [];
    let at = 0;
    while (this.buffered.length - at >= 4) {
      const size = this.buffered.readUInt32BE(at);
      if (size > MAX_FRAME_BYTES) throw new RangeError(`frame of ${size} bytes`);
      if (this.buffered.length - at - 4 < size) break;
      sizes.push(size);
      at += 4 + size;
    }
    this.buffered = this.buffered.subarray(at);
    return sizes;
  }
}

export interface BinaryRrServerConfig {
  port: number;
  replyBytes: number;
}

/** Listens on every address; each complete request is answered at once, in order. */
export function serveBinaryRr(config: BinaryRrServerConfig): Promise<Server> {
  const reply = frame(config.replyBytes, 0x72);
  const server = createServer({ noDelay: true }, (socket) => {
    const reader = new FrameReader();
    socket.on('data', (chunk: Buffer) => {
      let sizes: number[];
      try {
        sizes = reader.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (let i = 0; i < sizes.length; i++) socket.write(reply);
    });
    socket.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(config.port, '0.0.0.0', () => resolve(server)));
}

export interface BinaryRrLoadOptions extends TransportLoadOptions {
  requestBytes: number;
  replyBytes: number;
}

export function validateBinaryRrLoad(o: BinaryRrLoadOptions): void {
  validateTransportLoad(o, 1000);
  for (const size of [o.requestBytes, o.replyBytes]) frame(size, 0);
}

/** A pool target speaking this protocol: a reply is ok when it has the expected size. */
export function binaryRrTarget(o: BinaryRrLoadOptions): PoolTarget {
  return {
    host: o.host,
    port: o.port,
    request: frame(o.requestBytes, 0x71),
    framer: (): ReplyFramer => {
      const reader = new FrameReader();
      return {
        push: (chunk) =>
          reader.push(chunk).map((size) => ({ ok: size === o.replyBytes, close: false })),
      };
    },
  };
}

/** The open-loop load over this protocol; `url` in the result is tcp://host:port. */
export function binaryRrLoad(o: BinaryRrLoadOptions): Promise<LoadResult> {
  validateBinaryRrLoad(o);
  const pool = new ConnectionPool(binaryRrTarget(o), o.connections, o.timeoutMs);
  return openLoop(`tcp://${o.host}:${o.port}`, o, pool);
}

/** node arguments that run the server as a process of its own: it prints "ready". */
export function binaryRrServerArgs(config: BinaryRrServerConfig): string[] {
  return [...nodeEntry(import.meta.url, 'binary-rr-main'), 'server', JSON.stringify(config)];
}

/** node arguments that run the load as a process of its own: one LoadResult JSON line. */
export function binaryRrLoadArgs(options: BinaryRrLoadOptions): string[] {
  return [...nodeEntry(import.meta.url, 'binary-rr-main'), 'load', JSON.stringify(options)];
}
