// Bursts: a proxy busy while several messages come in lets them go together, and the one
// event loop it hands them to (a client taking replies, an app taking requests) reads them
// one after another, each waiting while the ones before it are handled. Messages that
// came to the proxy spread out would not have queued so without it: that wait is the
// proxy's, and the hop is carried on to the reader's read. Messages that came to it
// together (a client's own fan-out) would have queued at the reader anyway, and are not
// (handoff.bpf.h, carry_bound). Ground truth is A/B: the same client through the proxy (B)
// and straight to the server (A), interleaved, its own mean from each request's write to
// its reply's read; against it, the proxy's added latency as the probes give it.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { waitForLine } from '../../lab/spawn.js';
import type { ProbeRecord } from '../../probes/records.js';
import { totalCount } from '../../proto/histogram.js';
import { abRounds, clientServerWithProbes, collect, exited, passThroughProxy } from './fixture.js';

const SERVER_PORT = 7311;
const PROXY_PORT = 15007;
/** Connections of the client, each with one request in flight per round. */
const CONNECTIONS = 6;
const ROUNDS = 40;
const MESSAGES = CONNECTIONS * ROUNDS;
/** A/B rounds: runs of each, interleaved, the order flipped each round. */
const AB_ROUNDS = 5;
/** The proxy's busy time after each turn of its loop that forwarded requests. */
const PROXY_BUSY_MS = 6;

/** Busy for `ms` (an expression) in the process's own loop. */
const busyFor = (ms: string) =>
  `{ const end = performance.now() + (${ms}); while (performance.now() < end); }`;

/**
 * An echo server: each 16-byte message handled for `work` ms, its reply written `spacing`
 * ms times the connection's index after it came (the index is in the tag).
 */
const echoServer = `const [work, spacing] = process.argv.slice(1).map(Number);
  require('node:net').createServer({ noDelay: true }, (s) => s.on('data', (d) => {
    for (let i = 0; i + 16 <= d.length; i += 16) {
      const m = Buffer.from(d.subarray(i, i + 16));
      if (work) ${busyFor('work')}
      const index = Number(/^c(\\d+)/.exec(m.toString())[1]);
      if (spacing && index) setTimeout(() => s.write(m), spacing * index); else s.write(m);
    }
  })).listen(${SERVER_PORT}, '0.0.0.0', () => console.log('ready'));`;

/**
 * A pass-through proxy that, after each turn of its loop that forwarded requests, is busy
 * for PROXY_BUSY_MS (as one its CPU limit throttles): what comes meanwhile, it writes out in
 * its next turn.
 */
const busyProxy = passThroughProxy({
  listenPort: PROXY_PORT,
  upstreamPort: SERVER_PORT,
  prelude: `let busyQueued = false;
    const busy = () => { busyQueued = false; ${busyFor(String(PROXY_BUSY_MS))} };`,
  onRequest: 'up.write(d); if (!busyQueued) { busyQueued = true; setImmediate(busy); }',
});

/**
 * CONNECTIONS connections in one loop; ROUNDS rounds of one 16-byte request on each, written
 * `spacing` ms apart by a timer (the loop free for replies meanwhile), the next round 20 ms
 * after the last reply; each reply handled for `work` ms. Prints the mean from each
 * request's write to its reply's read, ns. Bounded by the count and a deadline.
 */
const burstClient = `const net = require('node:net');
  const [host, port, work, spacing] = process.argv.slice(1);
  const writes = new Map();
  let sum = 0, n = 0, round = 0, pending = 0, up = 0;
  const deadline = setTimeout(() => { console.error('no replies'); process.exit(1); }, 30000);
  const socks = [];
  const send = () => {
    if (round === ${ROUNDS}) {
      clearTimeout(deadline);
      console.log(String(sum / n));
      socks.forEach((s) => s.destroy());
      return;
    }
    pending = ${CONNECTIONS};
    const r = round++;
    const write = (i) => {
      const tag = 'c' + i + 'r' + r;
      writes.set(tag, process.hrtime.bigint());
      socks[i].write(tag.padEnd(16));
      if (i + 1 < ${CONNECTIONS}) {
        if (Number(spacing)) setTimeout(() => write(i + 1), Number(spacing)); else write(i + 1);
      }
    };
    write(0);
  };
  for (let i = 0; i < ${CONNECTIONS}; i++) {
    const s = net.connect({ host, port: Number(port), noDelay: true }, () => { if (++up === ${CONNECTIONS}) send(); });
    s.on('data', (d) => {
      const at = process.hrtime.bigint();
      for (let j = 0; j + 16 <= d.length; j += 16) {
        sum += Number(at - writes.get(d.subarray(j, j + 16).toString().trim()));
        n++;
      }
      if (Number(work)) ${busyFor('Number(work)')}
      if (--pending === 0) setTimeout(send, 20);
    });
    socks.push(s);
  }`;

const sumOf = (
  records: readonly ProbeRecord[],
  tgid: number,
  k: 'replyHandoffs' | 'handoffs' | 'addedNsSum' | 'exchanges',
) => records.reduce((n, r) => n + (r.type === 'hop' && r.key.tgid === tgid ? r[k] : 0), 0);

interface Load {
  /** Work per message, ms: the client's per reply, the server's per request. */
  clientWork: number;
  serverWork: number;
  /** Spacing, ms: between the client's requests of a round, between the server's replies. */
  requestSpacing: number;
  replySpacing: number;
}

/** AB_ROUNDS A/B rounds of the load; the truth's median B - A and spread, and the probes'. */
async function abThroughBusyProxy(t: TestContext, load: Load, relTolerance = 0.15) {
  const { lab, probes } = await clientServerWithProbes(t);
  const server = lab.exec('server', 'echo', process.execPath, [
    '-e',
    echoServer,
    String(load.serverWork),
    String(load.replySpacing),
  ]);
  await waitForLine(server, /^ready$/, 'echo');
  const proxy = lab.exec('server', 'busy proxy', process.execPath, ['-e', busyProxy]);
  await waitForLine(proxy, /^ready$/, 'busy proxy');
  probes.addProxy(proxy.pid!);
  const run = async (port: number) => {
    const client = lab.exec('client', 'client', process.execPath, [
      '-e',
      burstClient,
      lab.pod('server').address,
      String(port),
      String(load.clientWork),
      String(load.requestSpacing),
    ]);
    const line = await waitForLine(client, /^[0-9.]+$/, 'client', 60_000);
    await exited(client);
    return Number(line);
  };
  const { addedNs: truthNs, spreadNs } = await abRounds(AB_ROUNDS, SERVER_PORT, PROXY_PORT, run);
  await new Promise((r) => setTimeout(r, 500));
  const got = await collect(probes);
  const pid = proxy.pid!;
  const exchanges = sumOf(got.records, pid, 'exchanges');
  const reportedNs = sumOf(got.records, pid, 'addedNsSum') / exchanges;
  t.diagnostic(
    `A/B: +${(truthNs / 1e3).toFixed(1)} us (spread ${(spreadNs / 1e3).toFixed(1)}); reported ${(reportedNs / 1e3).toFixed(1)} us; ${sumOf(got.records, pid, 'handoffs')} request and ${sumOf(got.records, pid, 'replyHandoffs')} reply hops ran on to the reader`,
  );
  assert.equal(exchanges, AB_ROUNDS * MESSAGES, 'every exchange through the proxy paired');
  assert.equal(totalCount(got.histogram(pid, 'hop_added', PROXY_PORT)), AB_ROUNDS * MESSAGES);
  // What stays out: the reader's wake-up for the first message of a burst (it waited, as it
  // would have without the proxy), and the clocks read a few microseconds off the kernel's.
  // 15% of the truth, not 10: the carried replies come out short by 0.15 to 1.03 ms on some
  // 7.6 (seven runs), and 10% + 0.25 ms (about 1.0) left one of them 0.16 ms inside; without
  // the carry both bunched loads are 1.8-2.0 ms short, past 15% + 0.25 (about 1.4) unless
  // the rounds spread wider.
  assert.ok(
    Math.abs(reportedNs - truthNs) <= Math.max(spreadNs, relTolerance * truthNs) + 250_000,
    `reported ${reportedNs} ns, A/B ${truthNs} ns (spread ${spreadNs})`,
  );
}

test("a client's own fan-out, its replies queued at it with or without the proxy: not carried", (t) =>
  abThroughBusyProxy(t, { clientWork: 1, serverWork: 0, requestSpacing: 0, replySpacing: 0 }));

test('replies that came to the busy proxy spread out and left together: carried to the client', (t) =>
  abThroughBusyProxy(t, { clientWork: 0.9, serverWork: 0, requestSpacing: 0, replySpacing: 1 }));

test('requests that came to the busy proxy spread out and left together: carried to the app', (t) =>
  abThroughBusyProxy(t, { clientWork: 0, serverWork: 0.9, requestSpacing: 1, replySpacing: 0 }));

// The replies of a burst the proxy made of spread-out requests: the app answers the burst
// as it comes, so the replies reach the proxy together, and the client takes them one
// after another, where without the proxy they came as spread out as their requests. By the
// replies' own arrivals the proxy took nothing out of their spacing; by when they would
// have come without it (each reply's arrival less its request's hop, reply_spacing_time)
// it did. Held to 10% + 0.25 ms (about 1.32): bounded by the replies' arrivals alone, the
// carry came out 1.38-1.43 ms short here (three runs), with it 0.41-0.50.
test('requests held and let go together, their replies queued at the client: carried to the client', (t) =>
  abThroughBusyProxy(
    t,
    { clientWork: 0.9, serverWork: 0, requestSpacing: 1, replySpacing: 0 },
    0.1,
  ));
