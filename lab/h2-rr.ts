// HTTP/2 end to end for the lab, as gRPC runs through a mesh: an HTTP/2 (h2c) server that
// answers every request at once with a reply of a fixed size, and the lab's open-loop
// generator (latency from when each request was due and from when it was issued, exact
// quantiles) over HTTP/2 sessions, each request a stream of one of them, taken in turn,
// with a body of a fixed size as a gRPC call's message (a POST; none: a GET). Streams of a
// session are in flight together whenever the load's requests overlap.
import http2 from 'node:http2';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Outcome } from '../daemonset/load/connection-pool.js';
import { type LoadResult, openLoop, type RequestTransport } from '../daemonset/load/load.js';
import { nodeEntry } from './spawn.js';
import { type TransportLoadOptions, validateTransportLoad } from './transport-load.js';

/** Larger requests and replies are not what this lab serves. */
const MAX_BODY_BYTES = 1 << 20;

const validBody = (bytes: number) =>
  Number.isInteger(bytes) && bytes >= 0 && bytes <= MAX_BODY_BYTES;

export interface H2ServerConfig {
  port: number;
  /** The body each request must carry: another size is answered 400, with no reply. */
  requestBytes: number;
  replyBytes: number;
}

/** Listens on every address; each request's body is read and answered at once. */
export function serveH2(config: H2ServerConfig): Promise<http2.Http2Server> {
  for (const [name, bytes] of [
    ['request', config.requestBytes],
    ['reply', config.replyBytes],
  ] as const)
    if (!validBody(bytes)) return Promise.reject(new RangeError(`${name} of ${bytes} bytes`));
  const reply = Buffer.alloc(config.replyBytes, 0x72);
  const server = http2.createServer((req, res) => {
    let got = 0;
    req.on('data', (chunk: Buffer) => {
      got += chunk.length;
    });
    req.on('end', () => {
      if (got !== config.requestBytes) {
        res.writeHead(400);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(reply);
    });
  });
  server.on('sessionError', () => {});
  return new Promise((resolve) => server.listen(config.port, '0.0.0.0', () => resolve(server)));
}

/** `connections`: HTTP/2 sessions; requests are streams of them, taken in turn. */
export interface H2LoadOptions extends TransportLoadOptions {
  /** Each request's body (0: a GET without one). */
  requestBytes: number;
  replyBytes: number;
}

export function validateH2Load(o: H2LoadOptions): void {
  validateTransportLoad(o, 64);
  for (const [name, bytes] of [
    ['request', o.requestBytes],
    ['reply', o.replyBytes],
  ] as const)
    if (!validBody(bytes)) throw new RangeError(`${name} of ${bytes} bytes`);
}

/**
 * Each request a stream of the next session in turn, a POST with its body (a GET when
 * there is none); ok when its status is 200 (the server had the whole body) and the
 * reply's body has the expected size. A session that fails is opened anew for later
 * requests.
 */
export class H2Transport implements RequestTransport {
  private readonly sessions: (http2.ClientHttp2Session | undefined)[];
  private readonly body: Buffer | undefined;
  private next = 0;

  constructor(private readonly o: H2LoadOptions) {
    this.body = o.requestBytes > 0 ? Buffer.alloc(o.requestBytes, 0x71) : undefined;
    this.sessions = Array.from({ length: o.connections }, () => undefined);
    for (let i = 0; i < o.connections; i++) this.session(i);
  }

  private session(i: number): http2.ClientHttp2Session {
    const open = this.sessions[i];
    if (open && !open.closed && !open.destroyed) return open;
    // Without Nagle's wait, as the HTTP/1.1 pool's sockets.
    const s = http2.connect(`http://${this.o.host}:${this.o.port}`, {
      createConnection: () => connect({ host: this.o.host, port: this.o.port, noDelay: true }),
    });
    s.on('error', () => {});
    this.sessions[i] = s;
    return s;
  }

  send(dueAt: number, end: (outcome: Outcome) => void): void {
    let done = false;
    const finish = (outcome: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      end(outcome);
    };
    const left = Math.max(0, dueAt + this.o.timeoutMs - performance.now());
    const timer = setTimeout(() => {
      finish('timeout');
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }, left);
    const i = this.next;
    this.next = (this.next + 1) % this.sessions.length;
    const stream = this.session(i).request({
      ':method': this.body ? 'POST' : 'GET',
      ':path': '/',
    });
    let status = 0;
    let bytes = 0;
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    stream.on('end', () => finish(status === 200 && bytes === this.o.replyBytes ? 'ok' : 'error'));
    stream.on('error', () => finish('error'));
    stream.end(this.body);
  }

  destroy(): void {
    for (const s of this.sessions) s?.destroy();
  }
}

/** The open-loop load over HTTP/2; `url` in the result is h2c://host:port. */
export function h2Load(o: H2LoadOptions): Promise<LoadResult> {
  validateH2Load(o);
  return openLoop(`h2c://${o.host}:${o.port}`, o, new H2Transport(o));
}

/** node arguments that run the server as a process of its own: it prints "ready". */
export function h2ServerArgs(config: H2ServerConfig): string[] {
  return [...nodeEntry(import.meta.url, 'h2-rr-main'), 'server', JSON.stringify(config)];
}

/** node arguments that run the load as a process of its own: one LoadResult JSON line. */
export function h2LoadArgs(options: H2LoadOptions): string[] {
  return [...nodeEntry(import.meta.url, 'h2-rr-main'), 'load', JSON.stringify(options)];
}
