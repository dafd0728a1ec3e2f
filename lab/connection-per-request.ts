// HTTP GETs at a constant rate, each on a connection of its own (opened for it, closed
// after it): traffic in which every request is a new connection, so a change of path
// that only new connections take (capture rules switched on, a pod enrolled) shows in the
// very next requests. The load generator keeps its connections open, which would hide it.
// A script for `node -e`, run inside a pod; bounded in count and in time. It prints one
// JSON line, ConnectionPerRequestResult, when every request has ended.

export interface ConnectionPerRequestOptions {
  url: string;
  count: number;
  /** Requests per second; request i starts at i / rate seconds, whatever earlier ones did. */
  rate: number;
  /** A request not answered this long after it started counts as a timeout. */
  timeoutMs: number;
}

export interface ConnectionPerRequestResult {
  ok: number;
  failed: number;
  /** Each request's start, epoch milliseconds (this machine's clock, as the caller's). */
  starts: number[];
  outcomes: ('ok' | 'error' | 'timeout')[];
  /** Why each request that erred did, by its index: the socket error's code, or the HTTP status. */
  errors: Record<string, string>;
}

export const CONNECTION_PER_REQUEST_LIMITS = { maxCount: 100_000, maxDurationS: 600 };

export function connectionPerRequestScript(o: ConnectionPerRequestOptions): string {
  const url = new URL(o.url);
  if (url.protocol !== 'http:') throw new RangeError(`${o.url} is not an http:// URL`);
  if (!Number.isInteger(o.count) || o.count < 1 || o.count > CONNECTION_PER_REQUEST_LIMITS.maxCount)
    throw new RangeError(`count ${o.count} outside 1..${CONNECTION_PER_REQUEST_LIMITS.maxCount}`);
  if (!(o.rate > 0) || o.count / o.rate > CONNECTION_PER_REQUEST_LIMITS.maxDurationS)
    throw new RangeError(`${o.count} requests at ${o.rate}/s: bad rate or too long`);
  if (!(o.timeoutMs > 0 && o.timeoutMs <= 60_000))
    throw new RangeError(`bad timeout ${o.timeoutMs}`);
  return `
  const http = require('node:http');
  const count = ${o.count}, timeoutMs = ${o.timeoutMs};
  const starts = new Array(count).fill(0), outcomes = new Array(count).fill('timeout');
  const errors = {};
  let ended = 0, reported = false;
  function report() {
    if (reported) return;
    reported = true;
    const ok = outcomes.filter((x) => x === 'ok').length;
    console.log(JSON.stringify({ ok, failed: count - ok, starts, outcomes, errors }));
    process.exit(0);
  }
  function one(i) {
    starts[i] = Date.now();
    let done = false;
    const end = (outcome) => {
      if (done) return;
      done = true;
      outcomes[i] = outcome;
      if (++ended === count) report();
    };
    // agent: false is a connection of its own, closed after the reply (Connection: close).
    const req = http.get(${JSON.stringify(url.href)}, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 200) errors[i] = 'HTTP ' + res.statusCode;
        end(res.statusCode === 200 ? 'ok' : 'error');
      });
      res.on('error', (e) => { errors[i] = e.code || e.message; end('error'); });
    });
    const timer = setTimeout(() => { end('timeout'); req.destroy(); }, timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', (e) => { errors[i] = e.code || e.message; end('error'); });
  }
  for (let i = 0; i < count; i++) setTimeout(() => one(i), (i * 1000) / ${o.rate});
  // Whatever happens, a result by then: requests still open count as timeouts.
  setTimeout(report, (count * 1000) / ${o.rate} + timeoutMs + 1000);`;
}
