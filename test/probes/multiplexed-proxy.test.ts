// A sidecar between HTTP/2-like connections and request/response ones, on the real kernel:
// the inbound side, one downstream connection carrying many requests at once, each
// forwarded on a pool of request/response upstreams (an app's HTTP/1.1); the outbound
// side, request/response downstreams gathered onto one upstream connection, the frames
// of one turn of the proxy's event loop sent in one write (a multiplexer's flush). No
// protocol is parsed by the probes: the frames are the proxies' own (100 bytes, a stream
// id in the first four). What the proxies and clients count is the truth: every request
// forwarded once, every reply written back once.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { waitForLine } from '../../lab/spawn.js';
import type { HopRecord } from '../../probes/records.js';
import { totalCount } from '../../proto/histogram.js';
import { collect, exited, serverBehindProxy } from './fixture.js';

const SERVER_PORT = 7350;
const PROXY_PORT = 15006;
const FRAME = 100;

/** Echoes what it reads: a frame comes back with its stream id. */
const echoServer = `require('node:net').createServer({ noDelay: true }, (s) => s.on('data', (d) => s.write(d)))
  .listen(${SERVER_PORT}, '0.0.0.0', () => console.log('ready'));`;

/**
 * Reads frames into `onFrame` as they complete; `d` may hold several or part of one.
 * Shared by the proxies and the clients below (inlined into each as source).
 */
const framer = `const framer = (onFrame) => { let buf = Buffer.alloc(0);
    return (d) => { buf = Buffer.concat([buf, d]);
      while (buf.length >= ${FRAME}) { onFrame(buf.subarray(0, ${FRAME})); buf = buf.subarray(${FRAME}); } }; };`;

/**
 * Inbound: frames read on any downstream each go out on an idle upstream of a pool of
 * POOL request/response connections (queued while none is idle); a reply goes back on
 * the frame's downstream, with its stream id. Prints on SIGTERM how many it forwarded and
 * replied, and the sum of each request's wait from its read to its forward (a wait for a
 * free upstream included).
 */
const POOL = 4;
const demuxingProxy = `const net = require('node:net');
  ${framer}
  const idle = [], queue = [];
  let forwarded = 0, replied = 0, open = 0, heldNs = 0n;
  const forward = (up, down, frame, readAt) => {
    up.job = { down, id: frame.readUInt32BE(0) }; forwarded++; up.write(frame);
    heldNs += process.hrtime.bigint() - readAt;
  };
  for (let i = 0; i < ${POOL}; i++) {
    const up = net.connect({ port: ${SERVER_PORT}, host: '127.0.0.1', noDelay: true }, () => {
      idle.push(up);
      if (++open === ${POOL}) net.createServer({ noDelay: true }, (down) => {
        down.on('data', framer((frame) => {
          const free = idle.shift(), at = process.hrtime.bigint();
          if (free) forward(free, down, Buffer.from(frame), at); else queue.push([down, Buffer.from(frame), at]);
        }));
        down.on('error', () => {});
      }).listen(${PROXY_PORT}, '0.0.0.0', () => console.log('ready'));
    });
    up.on('data', framer(() => {
      const { down, id } = up.job;
      const reply = Buffer.alloc(${FRAME}, 2);
      reply.writeUInt32BE(id, 0);
      down.write(reply); replied++;
      const next = queue.shift();
      if (next) forward(up, next[0], next[1], next[2]); else idle.push(up);
    }));
  }
  process.on('SIGTERM', () => {
    console.log(JSON.stringify({ forwarded, replied, heldMs: Number(heldNs) / 1e6 }));
    process.exit(0);
  });`;

/**
 * Outbound: frames read on request/response downstreams go out on one upstream connection,
 * each under a stream id of the proxy's; the frames read within HOLD_MS of the first go in
 * one write (a multiplexer's flush, held so that the hop is long and known). Replies are
 * demultiplexed by id back to their downstreams. Prints on SIGTERM how many it forwarded,
 * in how many writes, and the sum of each request's wait from its read to that write.
 */
const HOLD_MS = 3;
const muxingProxy = `const net = require('node:net');
  ${framer}
  const streams = new Map();
  let next = 1, pending = [], readAt = [], forwarded = 0, writes = 0, heldNs = 0n;
  const flush = () => {
    up.write(Buffer.concat(pending)); writes++;
    const now = process.hrtime.bigint();
    for (const at of readAt) heldNs += now - at;
    pending = []; readAt = [];
  };
  const up = net.connect({ port: ${SERVER_PORT}, host: '127.0.0.1', noDelay: true }, () =>
    net.createServer({ noDelay: true }, (down) => {
      down.on('data', framer((frame) => {
        const id = next++;
        streams.set(id, down);
        const out = Buffer.from(frame);
        out.writeUInt32BE(id, 0);
        if (pending.length === 0) setTimeout(flush, ${HOLD_MS});
        pending.push(out); readAt.push(process.hrtime.bigint()); forwarded++;
      }));
      down.on('error', () => {});
    }).listen(${PROXY_PORT}, '0.0.0.0', () => console.log('ready')));
  up.on('data', framer((frame) => {
    const id = frame.readUInt32BE(0);
    const down = streams.get(id);
    streams.delete(id);
    down.write(Buffer.alloc(${FRAME}, 2));
  }));
  process.on('SIGTERM', () => {
    console.log(JSON.stringify({ forwarded, writes, heldMs: Number(heldNs) / 1e6 }));
    process.exit(0);
  });`;

/**
 * `connections` client connections, each keeping `inFlight` requests outstanding (a new
 * one as each reply comes) until it has sent `requests`; prints the replies it had.
 */
const clients = (
  address: string,
  connections: number,
  inFlight: number,
  requests: number,
) => `const net = require('node:net');
  ${framer}
  let replies = 0;
  Promise.all(Array.from({ length: ${connections} }, () => new Promise((resolve) => {
    const s = net.connect({ port: ${PROXY_PORT}, host: '${address}', noDelay: true });
    let sent = 0, got = 0;
    const send = () => { const f = Buffer.alloc(${FRAME}); f.writeUInt32BE(++sent, 0); s.write(f); };
    s.on('connect', () => { for (let i = 0; i < ${inFlight}; i++) send(); });
    s.on('data', framer(() => {
      replies++;
      if (++got === ${requests}) { s.end(); resolve(); } else if (sent < ${requests}) send();
    }));
  }))).then(() => console.log('replies ' + replies));`;

async function throughProxy(
  t: TestContext,
  what: string,
  source: string,
  shape: { connections: number; inFlight: number; requests: number },
) {
  const { lab, probes, proxy } = await serverBehindProxy(t, echoServer, what, source);
  const client = lab.exec('client', 'clients', process.execPath, [
    '-e',
    clients(lab.pod('server').address, shape.connections, shape.inFlight, shape.requests),
  ]);
  const replies = Number(
    (await waitForLine(client, /^replies \d+$/, 'clients', 60_000)).split(' ')[1],
  );
  await exited(client);
  const counted = waitForLine(proxy, /^\{/, what);
  proxy.kill('SIGTERM');
  const own = JSON.parse(await counted) as Record<string, number>;
  const got = await collect(probes);
  const hops = got.records.filter(
    (r): r is HopRecord =>
      r.type === 'hop' && r.key.tgid === proxy.pid && r.key.servicePort === PROXY_PORT,
  );
  const sum = (k: 'exchanges' | 'unpaired' | 'unmatchedForwards' | 'requestNsSum') =>
    hops.reduce((n, r) => n + r[k], 0);
  const count = (metric: 'hop_request' | 'hop_response' | 'hop_added') =>
    totalCount(got.histogram(proxy.pid!, metric, PROXY_PORT));
  const seen = {
    requestHops: count('hop_request'),
    responseHops: count('hop_response'),
    added: count('hop_added'),
    exchanges: sum('exchanges'),
    unpaired: sum('unpaired'),
    unmatchedForwards: sum('unmatchedForwards'),
    requestMs: sum('requestNsSum') / 1e6,
  };
  t.diagnostic(
    `client replies ${replies}; proxy ${JSON.stringify(own)}; seen ${JSON.stringify(seen)}`,
  );
  return { replies, own, seen };
}

/**
 * The mean request hop the kernel timed against the proxy's own mean wait from a request's
 * read to its forward: no shorter (50 us for the two clocks' reads), and longer by the
 * wait before the read, which the proxy's clock does not see, up to `aboveMs`.
 */
function requestHopsAgainstOwnWait(
  t: TestContext,
  own: Record<string, number>,
  seen: { requestMs: number; requestHops: number },
  aboveMs: number,
) {
  const ownMean = own.heldMs! / own.forwarded!;
  const seenMean = seen.requestMs / seen.requestHops;
  t.diagnostic(
    `request hop mean ${seenMean.toFixed(3)} ms, the proxy's own wait ${ownMean.toFixed(3)} ms`,
  );
  assert.ok(
    seenMean >= ownMean - 0.05 && seenMean <= ownMean + aboveMs,
    `request hop mean ${seenMean} ms against the proxy's own ${ownMean} ms`,
  );
}

test('a multiplexed downstream (HTTP/2 from another sidecar) onto a pool of request/response upstreams: every request paired', async (t) => {
  const shape = { connections: 1, inFlight: 8, requests: 400 };
  const { replies, own, seen } = await throughProxy(t, 'demuxing proxy', demuxingProxy, shape);
  assert.equal(replies, shape.requests);
  assert.equal(own.forwarded, shape.requests);
  // The downstream is taken for one carrying several requests at once within its first
  // exchanges (the proxy's second request forwarded while its first is out); until then
  // the FIFO keeps one request of it, and the rest are neither paired nor counted. Before
  // (one request pending per downstream): 25-36 of 400 paired.
  const early = 16;
  assert.ok(seen.exchanges >= shape.requests - early, `${seen.exchanges} paired`);
  assert.ok(seen.exchanges + seen.unpaired <= shape.requests);
  assert.ok(seen.requestHops <= shape.requests && seen.responseHops <= shape.requests);
  assert.equal(seen.added, seen.exchanges);
  // Each request's hop runs from the arrival of the downstream's bytes the proxy read last
  // before its forward to that forward: at least the proxy's own wait from its read (a
  // request queued for a free upstream included), plus the wait before the read. A
  // request left queued past a later read of the downstream would be dated by that read,
  // short by the gap: this proxy reads the downstream only as replies free it.
  requestHopsAgainstOwnWait(t, own, seen, 1);
});

test('request/response downstreams gathered onto one upstream, each write carrying several: every request paired', async (t) => {
  const shape = { connections: 8, inFlight: 1, requests: 50 };
  const total = shape.connections * shape.requests;
  const { replies, own, seen } = await throughProxy(t, 'muxing proxy', muxingProxy, shape);
  assert.equal(replies, total);
  assert.equal(own.forwarded, total);
  assert.ok(own.writes! < total / 2, `${own.writes} writes carried ${total} requests`);
  // Every downstream exchange ends at a reply: paired, or counted unpaired. Those of the
  // first writes are unpaired, until the upstream is known to carry several at once and
  // its downstreams linked to it (mark_carrier): some `connections`; before, the FIFO
  // paired one request per write (39-50 of 400).
  assert.equal(seen.exchanges + seen.unpaired, total);
  assert.ok(seen.unpaired <= 2 * shape.connections, `${seen.unpaired} unpaired`);
  assert.equal(seen.requestHops, seen.exchanges);
  assert.equal(seen.unmatchedForwards, seen.unpaired);
  // Each request's hop ends at the write that carried it: the proxy's own wait from its
  // read to that write (the hold, less the frames read after the first), plus the wait
  // before its read, which the proxy's clock does not see. A hop ended at the next write
  // would be HOLD_MS longer.
  requestHopsAgainstOwnWait(t, own, seen, 0.5);
});
