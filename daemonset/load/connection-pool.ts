// Keep-alive HTTP/1.1 GETs of one URL (or any request/response protocol given as a
// PoolTarget) over at most N raw sockets, one request in flight on each: the transport of
// the constant-rate load generator. Requests that find every connection busy wait in a
// FIFO (bounded by the generator's own count), and that wait is part of their latency. A
// request ends exactly once: ok, error (a non-200 status, a broken or refused connection, a
// malformed response) or timeout (waiting plus in flight).
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { HttpResponseParser } from './http-response-parser.js';

export type Outcome = 'ok' | 'error' | 'timeout';

/** Finds where replies end in a connection's byte stream; throws on malformed input. */
export interface ReplyFramer {
  push(chunk: Buffer): { ok: boolean; close: boolean }[];
}

/** What the pool sends, where, and how it reads the replies. */
export interface PoolTarget {
  host: string;
  port: number;
  /** The same bytes for every request. */
  request: Buffer;
  /** One per connection: framing state is per byte stream. */
  framer(): ReplyFramer;
}

/** A keep-alive GET of `url`; a reply is ok when its status is 200. */
export function httpTarget(url: URL): PoolTarget {
  if (url.protocol !== 'http:') throw new RangeError(`${url.protocol} is not http:`);
  return {
    host: url.hostname,
    port: Number(url.port || 80),
    request: Buffer.from(
      `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n` +
        'User-Agent: tollgate-load\r\n\r\n',
      'latin1',
    ),
    framer: () => {
      const parser = new HttpResponseParser();
      return {
        push: (chunk) => parser.push(chunk).map((r) => ({ ok: r.status === 200, close: r.close })),
      };
    },
  };
}

interface Pending {
  /** When the request was due: its timeout counts from then. */
  dueAt: number;
  end: (outcome: Outcome) => void;
}

interface Connection {
  socket: Socket;
  parser: ReplyFramer;
  inflight: Pending | undefined;
  broken: boolean;
}

/** How often timeouts are looked for: one timer for the pool, not one per request. */
const SWEEP_MS = 20;

export class ConnectionPool {
  private readonly target: PoolTarget;
  private readonly connections = new Set<Connection>();
  private readonly idle: Connection[] = [];
  private waiting: Pending[] = [];
  private waitingHead = 0;
  private readonly sweeper: NodeJS.Timeout;
  private destroyed = false;

  constructor(
    target: URL | PoolTarget,
    private readonly maxConnections: number,
    private readonly timeoutMs: number,
    /**
     * Open every connection and use them in turn (the longest idle first), as many clients
     * with a connection each would, instead of the fewest the rate needs (the most
     * recently used first).
     */
    private readonly rotate = false,
  ) {
    this.target = target instanceof URL ? httpTarget(target) : target;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
  }

  send(dueAt: number, end: (outcome: Outcome) => void): void {
    let done = false;
    const once = (outcome: Outcome) => {
      if (done) return;
      done = true;
      end(outcome);
    };
    const pending: Pending = { dueAt, end: once };
    if (this.destroyed) {
      once('error');
      return;
    }
    const connection = this.rotate
      ? (this.open() ?? this.idle.shift())
      : (this.idle.pop() ?? this.open());
    if (connection) this.dispatch(connection, pending);
    else this.waiting.push(pending);
  }

  /** Closes every connection; requests still waiting or in flight end as timeouts. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    clearInterval(this.sweeper);
    for (const c of this.connections) {
      c.inflight?.end('timeout');
      c.socket.destroy();
    }
    for (let i = this.waitingHead; i < this.waiting.length; i++) this.waiting[i]!.end('timeout');
    this.waiting = [];
    this.connections.clear();
  }

  private open(): Connection | undefined {
    if (this.connections.size >= this.maxConnections) return undefined;
    const socket = connect({ host: this.target.host, port: this.target.port, noDelay: true });
    const connection: Connection = {
      socket,
      parser: this.target.framer(),
      inflight: undefined,
      broken: false,
    };
    this.connections.add(connection);
    socket.on('data', (chunk: Buffer) => this.onData(connection, chunk));
    socket.on('error', () => this.drop(connection));
    socket.on('close', () => this.drop(connection));
    return connection;
  }

  private dispatch(connection: Connection, pending: Pending): void {
    connection.inflight = pending;
    connection.socket.write(this.target.request);
  }

  private onData(connection: Connection, chunk: Buffer): void {
    let responses: ReturnType<ReplyFramer['push']>;
    try {
      responses = connection.parser.push(chunk);
    } catch {
      this.drop(connection);
      return;
    }
    for (const response of responses) {
      const pending = connection.inflight;
      // A response nobody asked for: the connection is out of step, so it goes.
      if (!pending) {
        this.drop(connection);
        return;
      }
      connection.inflight = undefined;
      pending.end(response.ok ? 'ok' : 'error');
      if (response.close) {
        this.drop(connection);
        return;
      }
    }
    if (!connection.inflight) this.release(connection);
  }

  /** A free connection takes the oldest waiting request, or goes idle. */
  private release(connection: Connection): void {
    const next = this.nextWaiting();
    if (next) this.dispatch(connection, next);
    else this.idle.push(connection);
  }

  /** A broken connection's request is an error; a fresh one takes over the queue. */
  private drop(connection: Connection): void {
    if (connection.broken) return;
    connection.broken = true;
    connection.socket.destroy();
    this.connections.delete(connection);
    const at = this.idle.indexOf(connection);
    if (at >= 0) this.idle.splice(at, 1);
    connection.inflight?.end('error');
    connection.inflight = undefined;
    if (this.destroyed || this.waitingHead >= this.waiting.length) return;
    const replacement = this.open();
    if (replacement) this.release(replacement);
  }

  private nextWaiting(): Pending | undefined {
    if (this.waitingHead >= this.waiting.length) return undefined;
    const next = this.waiting[this.waitingHead++];
    // Compact now and then, so the queue's array does not grow with the run.
    if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.waitingHead);
      this.waitingHead = 0;
    }
    return next;
  }

  private sweep(): void {
    const expired = performance.now() - this.timeoutMs;
    while (
      this.waitingHead < this.waiting.length &&
      this.waiting[this.waitingHead]!.dueAt < expired
    )
      this.nextWaiting()!.end('timeout');
    for (const c of [...this.connections]) {
      if (c.inflight && c.inflight.dueAt < expired) {
        const timedOut = c.inflight;
        c.inflight = undefined;
        timedOut.end('timeout');
        this.drop(c);
      }
    }
  }
}
