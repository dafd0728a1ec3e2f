// A test proxy with a known injected delay: forwards each chunk, in each direction, after
// holding it `delayMs`. It measures what it actually held (timers fire late), so tests
// compare the probes' hop delay with the proxy's own figure, not only the nominal delay.
// Usage: node delay-proxy.js '<DelayProxyConfig JSON>'; prints "ready", and on SIGTERM
// one JSON line of DelayProxyReport before it exits.
import { connect, createServer, type Socket } from 'node:net';

export interface DelayProxyConfig {
  listenPort: number;
  targetHost: string;
  targetPort: number;
  delayMs: number;
}

export interface DelayProxyReport {
  /** Chunks forwarded, and the held time's exact mean and p50 (ns), per direction. */
  request: { chunks: number; meanNs: number; p50Ns: number };
  response: { chunks: number; meanNs: number; p50Ns: number };
}

/** Samples kept per direction: enough for any test, bounded for a long demo. */
const MAX_SAMPLES = 200_000;

const config = JSON.parse(process.argv[2] ?? '{}') as DelayProxyConfig;
const held = { request: [] as number[], response: [] as number[] };

function forward(from: Socket, to: Socket, direction: keyof typeof held): void {
  // Chunks wait in order; one timer releases the head once its delay has passed. Timers
  // are set against the event loop's cached clock, which can be older than the read when
  // many chunks arrive in one turn, so a timer may fire early: whatever is left is waited
  // out, and the order of the bytes is kept.
  const queue: { chunk: Buffer; readAt: bigint; due: bigint }[] = [];
  let waiting = false;
  let ended = false;
  const pump = () => {
    waiting = false;
    const now = process.hrtime.bigint();
    while (queue.length > 0 && queue[0]!.due <= now) {
      const { chunk, readAt } = queue.shift()!;
      const samples = held[direction];
      if (samples.length < MAX_SAMPLES) samples.push(Number(now - readAt));
      to.write(chunk);
    }
    if (queue.length > 0) {
      waiting = true;
      setTimeout(pump, Math.ceil(Number(queue[0]!.due - now) / 1e6));
    } else if (ended) to.end();
  };
  from.on('data', (chunk: Buffer) => {
    const readAt = process.hrtime.bigint();
    queue.push({ chunk, readAt, due: readAt + BigInt(Math.round(config.delayMs * 1e6)) });
    if (!waiting) {
      waiting = true;
      setTimeout(pump, config.delayMs);
    }
  });
  // A half-close follows the data it comes after, delayed like data.
  from.on('end', () => {
    ended = true;
    if (!waiting) setTimeout(pump, config.delayMs);
  });
}

const server = createServer({ noDelay: true }, (downstream) => {
  const upstream = connect({ host: config.targetHost, port: config.targetPort, noDelay: true });
  forward(downstream, upstream, 'request');
  forward(upstream, downstream, 'response');
  downstream.on('error', () => upstream.destroy());
  upstream.on('error', () => downstream.destroy());
});

/** Exact figures from the samples: they are the ground truth a histogram is judged by. */
function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = samples.reduce((a, b) => a + b, 0);
  return {
    chunks: samples.length,
    meanNs: samples.length ? sum / samples.length : 0,
    p50Ns: sorted.length ? sorted[Math.ceil(sorted.length / 2) - 1]! : 0,
  };
}

process.on('SIGTERM', () => {
  const report: DelayProxyReport = {
    request: summary(held.request),
    response: summary(held.response),
  };
  process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
});

server.listen(config.listenPort, '0.0.0.0', () => console.log('ready'));
