// A burst of replies: a proxy busy while the replies to several of a client's requests
// come in writes them out together, and the client, one event loop, reads them one after
// another, each waiting while the ones before it are handled. Without the proxy they would
// have come as the server wrote them. So a reply written to a client that its thread's
// earlier reply of the same burst keeps busy has its hop carried on to the client's read
// (handoff.bpf.h). Ground truth from the ends' own clocks (CLOCK_MONOTONIC, as the
// kernel's): the server's just before each reply's write, which delivers it to the proxy's
// socket within the write on loopback, and the client's as each reply's read returns.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitForLine } from '../../lab/spawn.js';
import type { ProbeRecord } from '../../probes/records.js';
import { totalCount } from '../../proto/histogram.js';
import { clientServerWithProbes, collect } from './fixture.js';

const SERVER_PORT = 7311;
const PROXY_PORT = 15007;
/** Connections of the client, each with one request in flight per round. */
const CONNECTIONS = 4;
const ROUNDS = 50;
const REPLIES = CONNECTIONS * ROUNDS;
/** The proxy's busy time after each turn that forwarded requests, and the client's per reply. */
const PROXY_BUSY_MS = 3;
const CLIENT_WORK_MS = 1;

/** An echo server that answers at once; its clock just before each reply's write, by tag. */
const echoServer = `const writes = {};
  require('node:net').createServer({ noDelay: true }, (s) => s.on('data', (d) => {
    for (let i = 0; i + 16 <= d.length; i += 16) {
      const m = d.subarray(i, i + 16);
      writes[m.toString().trim()] = String(process.hrtime.bigint());
      s.write(m);
    }
  })).listen(${SERVER_PORT}, '127.0.0.1', () => console.log('ready'));
  process.on('SIGTERM', () => { console.log(JSON.stringify(writes)); process.exit(0); });`;

/**
 * A pass-through proxy that, after each turn of its loop that forwarded requests, is busy
 * for PROXY_BUSY_MS (as one its CPU limit throttles): the replies come while it is busy, and
 * it writes them out in its next turn.
 */
const busyProxy = `const net = require('node:net');
  let busyQueued = false;
  const busy = () => { busyQueued = false; const end = Date.now() + ${PROXY_BUSY_MS}; while (Date.now() < end); };
  net.createServer({ noDelay: true }, (down) => {
    const up = net.connect({ port: ${SERVER_PORT}, host: '127.0.0.1', noDelay: true });
    down.on('data', (d) => { up.write(d); if (!busyQueued) { busyQueued = true; setImmediate(busy); } });
    up.on('data', (d) => down.write(d));
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
    down.on('error', () => {});
    up.on('error', () => {});
  }).listen(${PROXY_PORT}, '0.0.0.0', () => console.log('ready'));`;

/**
 * CONNECTIONS connections in one loop; ROUNDS rounds of one 16-byte request on each, the
 * next round 20 ms after the last reply. Each reply's read is timed, then handled for
 * CLIENT_WORK_MS. Bounded by the count and a deadline.
 */
const burstClient = `const net = require('node:net');
  const [host, port] = process.argv.slice(1);
  const reads = {};
  const deadline = setTimeout(() => { console.error('no replies'); process.exit(1); }, 30000);
  let round = 0, pending = 0;
  const socks = [];
  const send = () => {
    if (round === ${ROUNDS}) { clearTimeout(deadline); console.log(JSON.stringify(reads)); socks.forEach((s) => s.destroy()); return; }
    pending = ${CONNECTIONS};
    socks.forEach((s, i) => s.write(('c' + i + 'r' + round).padEnd(16)));
    round++;
  };
  let up = 0;
  for (let i = 0; i < ${CONNECTIONS}; i++) {
    const s = net.connect({ host, port: Number(port), noDelay: true }, () => { if (++up === ${CONNECTIONS}) send(); });
    s.on('data', (d) => {
      const at = String(process.hrtime.bigint());
      for (let j = 0; j + 16 <= d.length; j += 16) reads[d.subarray(j, j + 16).toString().trim()] = at;
      const end = performance.now() + ${CLIENT_WORK_MS};
      while (performance.now() < end);
      if (--pending === 0) setTimeout(send, 20);
    });
    socks.push(s);
  }`;

const sumOf = (
  records: readonly ProbeRecord[],
  tgid: number,
  k: 'replyHandoffs' | 'exchanges' | 'responseNsSum',
) => records.reduce((n, r) => n + (r.type === 'hop' && r.key.tgid === tgid ? r[k] : 0), 0);

test("replies a busy proxy writes out together run to the client's reads", async (t) => {
  const { lab, probes } = await clientServerWithProbes(t);
  const server = lab.exec('server', 'echo', process.execPath, ['-e', echoServer]);
  await waitForLine(server, /^ready$/, 'echo');
  const proxy = lab.exec('server', 'busy proxy', process.execPath, ['-e', busyProxy]);
  await waitForLine(proxy, /^ready$/, 'busy proxy');
  probes.addProxy(proxy.pid!);
  const client = lab.exec('client', 'client', process.execPath, [
    '-e',
    burstClient,
    lab.pod('server').address,
    String(PROXY_PORT),
  ]);
  const reads = JSON.parse(await waitForLine(client, /^\{/, 'client', 60_000)) as Record<
    string,
    string
  >;
  const line = waitForLine(server, /^\{/, 'echo');
  server.kill('SIGTERM');
  const writes = JSON.parse(await line) as Record<string, string>;
  await new Promise((r) => setTimeout(r, 500));
  const got = await collect(probes);
  const pid = proxy.pid!;

  assert.equal(Object.keys(reads).length, REPLIES, 'the client read every reply');
  assert.equal(Object.keys(writes).length, REPLIES, 'the server wrote every reply');
  // From the reply's arrival at the proxy (the server's write) to the client's read.
  const truthNs =
    Object.entries(reads).reduce(
      (s, [tag, at]) => s + Number(BigInt(at) - BigInt(writes[tag]!)),
      0,
    ) / REPLIES;
  const response = got.histogram(pid, 'hop_response', PROXY_PORT);
  const responseNs = sumOf(got.records, pid, 'responseNsSum') / totalCount(response);
  const carried = sumOf(got.records, pid, 'replyHandoffs');
  t.diagnostic(
    `${carried} of ${totalCount(response)} replies ran to the client's read; response hop ${(responseNs / 1e3).toFixed(1)} us, the server's write to the client's read by their clocks ${(truthNs / 1e3).toFixed(1)} us`,
  );
  assert.equal(totalCount(response), REPLIES, 'every reply a hop');
  assert.equal(sumOf(got.records, pid, 'exchanges'), REPLIES, 'every exchange paired');
  // The first reply of each burst wakes the client, which waited: not carried, its hop to
  // the write's delivery (the client's wake-up stays out, as it would without the proxy).
  assert.ok(carried >= REPLIES / 2, `${carried} of ${REPLIES} carried`);
  // What stays out: the client's wake-up for the first reply of each burst, and the
  // clocks read a few microseconds after the kernel's events. Without the carry the hops
  // end at the deliveries, some CLIENT_WORK_MS a reply short.
  assert.ok(
    Math.abs(responseNs - truthNs) <= Math.max(0.1 * truthNs, 100_000),
    `response hop ${responseNs} ns, clocks ${truthNs} ns`,
  );
});
