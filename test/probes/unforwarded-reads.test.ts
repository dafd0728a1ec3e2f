// A proxy's downstream peers that send, after each reply, a few bytes the proxy forwards
// nothing for: what an HTTP/2 peer's WINDOW_UPDATE or PING after a reply looks like inside
// TLS, where the probes cannot read the frames (a sidecar's inbound end in Istio's mutual
// TLS). Such a read leaves a request pending that is none; the request that follows it on
// its connection comes as more bytes of it. With several such connections and requests
// that do not come round in turn, a forward took another connection's older read, each
// request the one before it, and every hop ran about one connection's request spacing
// long (rounds whose added latency came out 4.7-9.7 ms against 0.3-0.4 in bench
// accuracy's h2_tls_sidecars). Held here to A/B truth, the clients' own round trips with
// and without the proxy, and to the proxy's own counts. One connection goes idle early in
// each round, its last read one the proxy forwards nothing for: left at the head of the
// thread's queue, it would hold it for a hop's age (2 s) while the others' reads filled it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitForLine } from '../../lab/spawn.js';
import { mean, quantile, totalCount } from '../../proto/histogram.js';
import { abTruth, collect, lastAllowedCpu, lostOf, serverBehindProxy } from './fixture.js';

const SERVER_PORT = 7310;
const PROXY_PORT = 15006;
const CONNECTIONS = 4;
const REQUESTS = 80; // per round, one at a time over the connections
// From this request of a round on, the last connection is no longer picked (with the fixed
// sequence it was last at the 15th): it stays open and idle, its last read a control
// message, while the others carry the rest of the round, 65 requests of two reads each,
// more than the queue's 64 entries.
const IDLE_FROM = 20;
// From a reply (and its control bytes) to the next request: long enough that a busy
// machine rarely holds the proxy until the request is there too (then the two come in one
// read, and that request's entry is tentative: a forward may pass it over).
const SPACING_MS = 10;
const ROUNDS = 3;
// The client, the proxy and the app all on one CPU (the last allowed), in A and B alike.
// A hop leaves out the proxy's own pickup of what it waited for, as a stand-in for the
// app's (or the client's) wake-up without it (probes/src/handoff.bpf.h); with the three
// free to run anywhere on this 2-CPU VM, the two differ by where each process happens to
// wake: over nine runs the truth ran 0.15-0.40 ms while the reported mean ran 0.17-0.25,
// and in one CI run it came out 0.17 short, beyond the bound below. On one CPU each
// wake-up is on its waker's CPU, alike in A and B, so the stand-in holds: seven runs gave
// a truth of 0.14-0.19 ms and the reported mean within 0.05 ms of it (-0.011 to +0.045).
// What is tested here, pairing, does not depend on where the processes run.
const CPU = lastAllowedCpu();

/**
 * Framed messages: 'R' and 99 bytes, a request (its reply is 100 bytes); 'C' and 9 bytes,
 * a control message that asks for nothing. The stream is cut into frames whatever the
 * reads bring.
 */
const framing = `
  const frames = (onFrame) => {
    let buffered = Buffer.alloc(0);
    return (d) => {
      buffered = Buffer.concat([buffered, d]);
      for (;;) {
        const size = buffered[0] === 0x52 ? 100 : 10;
        if (buffered.length === 0 || buffered.length < size) return;
        onFrame(buffered.subarray(0, size));
        buffered = buffered.subarray(size);
      }
    };
  };`;

/** The app: answers each request, takes control messages in silence. */
const server = `const net = require('node:net');
  ${framing}
  net.createServer({ noDelay: true }, (s) => {
    s.on('data', frames((f) => { if (f[0] === 0x52) s.write(Buffer.alloc(100, 1)); }));
    s.on('error', () => {});
  }).listen(${SERVER_PORT}, '0.0.0.0', () => console.log('ready'));`;

/**
 * The proxy: one upstream per downstream, forwards each request whole and each reply as
 * it comes, and keeps the control messages to itself, as a sidecar keeps HTTP/2's
 * connection-level frames. On SIGTERM it prints how many of each it read.
 */
const proxy = `const net = require('node:net');
  ${framing}
  let requests = 0, controls = 0;
  net.createServer({ noDelay: true }, (down) => {
    const up = net.connect({ port: ${SERVER_PORT}, host: '127.0.0.1', noDelay: true });
    down.on('data', frames((f) => {
      if (f[0] === 0x52) { requests++; up.write(f); } else controls++;
    }));
    up.on('data', (d) => down.write(d));
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
    down.on('error', () => {});
    up.on('error', () => {});
  }).listen(${PROXY_PORT}, '0.0.0.0', () => console.log('ready'));
  process.on('SIGTERM', () => { console.log(JSON.stringify({ requests, controls })); process.exit(0); });`;

/**
 * The client: CONNECTIONS connections, REQUESTS requests one at a time, each on a
 * connection picked by a fixed pseudo-random sequence (not in turn: in turn, the oldest
 * pending read is always the next request's own connection's, and nothing goes wrong),
 * the last connection only before IDLE_FROM, each reply followed at once by a control
 * message on its connection, then SPACING_MS before the next request. Prints the mean
 * round trip of the requests in ns.
 */
const client = (address: string, port: number) => `
  const net = require('node:net');
  const sockets = Array.from({ length: ${CONNECTIONS} }, () =>
    net.connect({ port: ${port}, host: '${address}', noDelay: true }));
  let seed = 12345;
  const next = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 16) % n; };
  const reply = (s) => new Promise((resolve) => {
    let got = 0;
    const on = (d) => { got += d.length; if (got >= 100) { s.off('data', on); resolve(); } };
    s.on('data', on);
  });
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  (async () => {
    await Promise.all(sockets.map((s) => new Promise((resolve) => s.once('connect', resolve))));
    let sum = 0n;
    for (let i = 0; i < ${REQUESTS}; i++) {
      const s = sockets[next(i < ${IDLE_FROM} ? ${CONNECTIONS} : ${CONNECTIONS - 1})];
      const at = process.hrtime.bigint();
      const answered = reply(s);
      s.write(Buffer.concat([Buffer.from('R'), Buffer.alloc(99)]));
      await answered;
      sum += process.hrtime.bigint() - at;
      s.write(Buffer.concat([Buffer.from('C'), Buffer.alloc(9)]));
      await sleep(${SPACING_MS});
    }
    for (const s of sockets) s.end();
    console.log(String(Number(sum) / ${REQUESTS}));
  })();`;

test('reads a proxy forwards nothing for, after replies on several connections, leave every request its own hop', async (t) => {
  const {
    lab,
    probes,
    proxy: sidecar,
  } = await serverBehindProxy(t, server, 'swallowing proxy', proxy, CPU);
  const pid = sidecar.pid!;

  const address = lab.pod('server').address;
  const { addedNs: truth, spreadNs: spread } = await abTruth(
    lab,
    ROUNDS,
    SERVER_PORT,
    PROXY_PORT,
    (port) => client(address, port),
    CPU,
  );
  const own = waitForLine(sidecar, /^\{/, 'swallowing proxy');
  sidecar.kill('SIGTERM');
  const counts = JSON.parse(await own) as { requests: number; controls: number };
  const got = await collect(probes);

  const hopAdded = got.histogram(pid, 'hop_added', PROXY_PORT);
  const requestHop = got.histogram(pid, 'hop_request', PROXY_PORT);
  const reported = mean(hopAdded)!;
  const hops = got.records.filter((r) => r.type === 'hop' && r.key.tgid === pid);
  const sum = (k: 'exchanges' | 'unpaired' | 'unmatchedForwards') =>
    hops.reduce((n, r) => n + (r.type === 'hop' ? r[k] : 0), 0);
  const queueFull = lostOf(got.records, 'hopQueueFull');
  t.diagnostic(
    `A/B: +${(truth / 1e6).toFixed(3)} ms (spread ${(spread / 1e6).toFixed(3)}); reported mean ${(reported / 1e6).toFixed(3)} ms, p99 ${(quantile(hopAdded, 0.99)! / 1e6).toFixed(3)} ms; request hop p90 ${(quantile(requestHop, 0.9)! / 1e6).toFixed(3)} ms, p99 ${(quantile(requestHop, 0.99)! / 1e6).toFixed(3)} ms; ${sum('exchanges')} paired, ${sum('unpaired')} unpaired, ${sum('unmatchedForwards')} unmatched; the proxy read ${JSON.stringify(counts)}; hop queue full ${queueFull} times`,
  );
  // The proxy's own count: every request and every control message went through it.
  assert.deepEqual(counts, { requests: ROUNDS * REQUESTS, controls: ROUNDS * REQUESTS });
  // Every request forwarded had a hop.
  assert.equal(totalCount(requestHop), ROUNDS * REQUESTS);
  // Every request forwarded paired with its own arrival, but for about one per connection:
  // a connection's first read after a reply is not known for one the proxy forwards
  // nothing for until a request has come behind it, and another connection's forward may
  // take it (12 of 240 in each of four runs, one per connection of each round), which
  // leaves that request to be queued again and the other's exchange unmatched and
  // unpaired: counted, not guessed. Some room beyond it for a busy machine (above).
  const firstReads = ROUNDS * CONNECTIONS;
  const total = ROUNDS * REQUESTS;
  assert.ok(
    sum('unmatchedForwards') <= firstReads + 0.05 * total,
    `${sum('unmatchedForwards')} unmatched`,
  );
  assert.equal(totalCount(hopAdded) + sum('unpaired'), total, 'every exchange paired or counted');
  assert.ok(sum('unpaired') <= firstReads + 0.05 * total, `${sum('unpaired')} unpaired`);
  // The idle connection's last read, passed over by the others' forwards, did not hold the
  // thread's queue: no read was pushed out of it.
  assert.equal(queueFull, 0, 'hop queue full');
  // And none ran on to another request's spacing: the added latency is the A/B truth's.
  assert.ok(
    Math.abs(reported - truth) <= 0.1 * truth + spread + 100_000,
    `reported ${reported} ns vs A/B ${truth} ns`,
  );
  // Before, every hop ran about a request's spacing long; now all but those first reads'.
  assert.ok(
    quantile(requestHop, 0.9)! < (SPACING_MS / 4) * 1e6,
    `request hop p90 ${quantile(requestHop, 0.9)} ns, a request's spacing is ${SPACING_MS} ms`,
  );
});
