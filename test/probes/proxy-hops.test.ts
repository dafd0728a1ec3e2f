// Proxy hop delay against A/B truth: the same clients, one request at a time per
// connection, straight to the server (A) and through a proxy (B), interleaved; the mean
// round trip B - A is what the proxy adds, measured by the clients alone. With one
// connection and with many on the proxy's one thread (where pairing "the last socket
// read" would fail), and with a proxy that holds nothing but is busy when requests arrive
// (the wait in its receive queue, which its own read-to-write time does not show).
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { runIn } from '../../lab/exec.js';
import type { Lab } from '../../lab/lab.js';
import { waitForLine } from '../../lab/spawn.js';
import type { ProbeSource } from '../../probes/probe-source.js';
import type { HopRecord, ProbeRecord } from '../../probes/records.js';
import { bucketValue, mean, quantile, totalCount } from '../../proto/histogram.js';
import { LOSS_CAUSES } from '../../proto/loss-metrics.js';
import {
  abTruth,
  clientServerWithProbes,
  collect,
  exited,
  lostOf,
  passThroughProxy,
  serverBehindProxy,
} from './fixture.js';

const SERVER_PORT = 7300;
const PROXY_PORT = 15006;
const DELAY_MS = 10;
const BUSY_MS = 4;

const echoServer = `require('node:net').createServer({ noDelay: true }, (s) => s.on('data', (d) => s.write(Buffer.alloc(d.length, 1))))
  .listen(${SERVER_PORT}, '0.0.0.0', () => console.log('ready'));`;

/**
 * A pass-through proxy that keeps its one thread busy for BUSY_MS after every reply it
 * forwards: the client's next request arrives while it is busy and waits, unread, in the
 * receive queue. Its own read-to-write time is near zero. It counts the requests it was
 * waiting for by its event loop's own idle time (libuv's, from its epoll_wait): idle for
 * more than WAITED_MS between its last reply (or the connection) and the request's read,
 * the loop slept before the request came. On SIGTERM it prints that count.
 */
const WAITED_MS = 0.02;
const busyProxy = passThroughProxy({
  listenPort: PROXY_PORT,
  upstreamPort: SERVER_PORT,
  prelude: `const { performance } = require('node:perf_hooks');
    const idle = () => performance.eventLoopUtilization().idle;
    let waited = 0, requests = 0;`,
  onConnection: 'let idleAt = idle();',
  onRequest: `requests++;
      if (idle() - idleAt > ${WAITED_MS}) waited++;
      up.write(d);`,
  onReply: `down.write(d);
      const until = Date.now() + ${BUSY_MS};
      while (Date.now() < until);
      idleAt = idle();`,
  epilogue: `process.on('SIGTERM', () => { console.log(JSON.stringify({ waited, requests })); process.exit(0); });`,
});

/**
 * \`connections\` clients at once, each \`requests\` 100-byte requests one after another;
 * prints the mean round trip in ns.
 */
const clients = (address: string, port: number, connections: number, requests: number) => `
  const net = require('node:net');
  let sum = 0n, n = 0;
  Promise.all(Array.from({ length: ${connections} }, () => new Promise((resolve) => {
    const s = net.connect({ port: ${port}, host: '${address}', noDelay: true });
    let k = 0, got = 0, at = 0n;
    const send = () => { at = process.hrtime.bigint(); s.write(Buffer.alloc(100)); };
    s.on('connect', send);
    s.on('data', (d) => {
      got += d.length;
      if (got < 100) return;
      got = 0;
      sum += process.hrtime.bigint() - at; n++;
      if (++k < ${requests}) send(); else { s.end(); resolve(); }
    });
  }))).then(() => console.log(String(Number(sum) / n)));`;

/** A proxy's hops that ran on to the next reader, over all its listeners: its request
 * hops (handoffs), or its response hops (replyHandoffs). */
const handoffsOf = (
  records: readonly ProbeRecord[],
  tgid: number,
  k: 'handoffs' | 'replyHandoffs' = 'handoffs',
) => records.reduce((n, r) => n + (r.type === 'hop' && r.key.tgid === tgid ? r[k] : 0), 0);

const cases = [
  { what: `a ${DELAY_MS} ms delay each way, 1 connection`, connections: 1, requests: 40 },
  {
    what: `a ${DELAY_MS} ms delay each way, 32 connections on one thread`,
    connections: 32,
    requests: 8,
  },
  {
    what: `a proxy busy ${BUSY_MS} ms after each reply, 1 connection`,
    connections: 1,
    requests: 60,
    busy: true,
  },
];
for (const c of cases) {
  test(`hop delay matches A/B truth: ${c.what}`, async (t) => {
    const { lab, probes } = await clientServerWithProbes(t);
    const server = lab.exec('server', 'echo', process.execPath, ['-e', echoServer]);
    await waitForLine(server, /^ready$/, 'echo');
    let pid: number;
    let held:
      | (() => Promise<{ request: { meanNs: number }; response: { meanNs: number } }>)
      | undefined;
    let ownWaits: (() => Promise<{ waited: number; requests: number }>) | undefined;
    if (c.busy) {
      const proxy = lab.exec('server', 'busy proxy', process.execPath, ['-e', busyProxy]);
      await waitForLine(proxy, /^ready$/, 'busy proxy');
      pid = proxy.pid!;
      ownWaits = async () => {
        const line = waitForLine(proxy, /^\{/, 'busy proxy');
        proxy.kill('SIGTERM');
        return JSON.parse(await line) as { waited: number; requests: number };
      };
    } else {
      const proxy = await lab.startDelayProxy('server', {
        listenPort: PROXY_PORT,
        targetHost: '127.0.0.1',
        targetPort: SERVER_PORT,
        delayMs: DELAY_MS,
      });
      pid = proxy.pid;
      held = proxy.report;
    }
    probes.addProxy(pid);
    const address = lab.pod('server').address;
    const truth = await abTruth(lab, 3, SERVER_PORT, PROXY_PORT, (port) =>
      clients(address, port, c.connections, c.requests),
    );
    const proxyHeld = await held?.();
    const waits = await ownWaits?.();
    const got = await collect(probes);

    const added = got.histogram(pid, 'hop_added', PROXY_PORT);
    const requestHop = mean(got.histogram(pid, 'hop_request', PROXY_PORT))!;
    const responseHop = mean(got.histogram(pid, 'hop_response', PROXY_PORT))!;
    const reported = mean(added)!;
    const handoffs = handoffsOf(got.records, pid);
    t.diagnostic(
      `A/B: +${(truth.addedNs / 1e6).toFixed(3)} ms (spread ${(truth.spreadNs / 1e6).toFixed(3)} ms); reported mean ${(reported / 1e6).toFixed(3)} ms, p50 ${(quantile(added, 0.5)! / 1e6).toFixed(3)} ms; hops ${(requestHop / 1e6).toFixed(3)} + ${(responseHop / 1e6).toFixed(3)} ms` +
        (proxyHeld
          ? `; the proxy held ${(proxyHeld.request.meanNs / 1e6).toFixed(3)} + ${(proxyHeld.response.meanNs / 1e6).toFixed(3)} ms`
          : '') +
        `; ${handoffs} request hops handed off to the server`,
    );
    // Every exchange through the proxy was paired: 3 rounds of B.
    assert.equal(totalCount(added), 3 * c.connections * c.requests);
    // The hand-off map (4,096 pending at the default) always had room.
    assert.equal(lostOf(got.records, 'handoffMapFull'), 0);
    // A request hop runs on to the server's wake-up only where the proxy waited for the
    // request and the server for the forward. The delay proxy waits in epoll for its
    // timers and sockets, the echo server for its one client: most requests of the one
    // connection are handed off (111 of 120 in a run; the client's next request can come
    // before the proxy is back in epoll after the reply, and then it waits for the proxy).
    // The busy proxy is spinning when most next requests arrive, and waits only for those
    // whose client came more than BUSY_MS late: few on a quiet machine (4 of 180 in a CI
    // run), more beside other work (49 of 180 in another). Its own loop says which; a
    // connection's first request may find it waiting though its loop had no time to idle.
    if (waits) {
      t.diagnostic(
        `the busy proxy waited for ${waits.waited} of ${waits.requests} requests, by its own loop`,
      );
      assert.equal(waits.requests, 3 * c.connections * c.requests);
      assert.ok(
        handoffs <= waits.waited + 3 * c.connections + 0.03 * waits.requests,
        `${handoffs} hand-offs from a busy proxy that waited for ${waits.waited} requests`,
      );
    } else if (c.connections === 1)
      assert.ok(handoffs >= 0.5 * 3 * c.requests, `${handoffs} of ${3 * c.requests} handed off`);
    assert.ok(
      Math.abs(reported - truth.addedNs) <= 0.1 * truth.addedNs + truth.spreadNs + 100_000,
      `reported ${reported} ns vs A/B ${truth.addedNs} ns`,
    );
    if (proxyHeld) {
      // The hops hold what the proxy held, and the wait before its reads besides.
      assert.ok(requestHop >= 0.97 * proxyHeld.request.meanNs);
      assert.ok(responseHop >= 0.97 * proxyHeld.response.meanNs);
    } else {
      // The busy proxy holds nothing itself: its added latency is the queueing.
      assert.ok(reported >= 0.5 * BUSY_MS * 1e6, `reported ${reported} ns for ${BUSY_MS} ms busy`);
    }
  });
}

test('haproxy as a sidecar behind REDIRECT: both ends joined, every request a hop each way', async (t) => {
  const CONNECTIONS = 8;
  const REQUESTS = 25;
  // Every connection's tuple sampled at both ends (by default the first 4 per edge per
  // interval, and the sidecar may take its first 4 in another order than the client made
  // them: a CI run found a client tuple the sidecar had not sampled), so that the join
  // below is asserted for each connection.
  const { lab, probes } = await clientServerWithProbes(t, { tupleSamples: 2 * CONNECTIONS }, [
    { name: 'web', service: 'web', meshed: true },
  ]);
  const web = lab.pod('web');
  probes.addProxy(web.sidecarPid!);
  const client = lab.exec('client', 'http clients', process.execPath, [
    '-e',
    `const http = require('node:http');
    const agent = new http.Agent({ keepAlive: true, maxSockets: ${CONNECTIONS} });
    const get = () => new Promise((resolve, reject) => http.get('http://${web.address}:${web.port}/', { agent }, (res) => {
      res.resume(); res.on('end', () => res.statusCode === 200 ? resolve() : reject(new Error(String(res.statusCode))));
    }).on('error', reject));
    Promise.all(Array.from({ length: ${CONNECTIONS} }, async () => { for (let i = 0; i < ${REQUESTS}; i++) await get(); }))
      .then(() => { agent.destroy(); console.log('done'); });`,
  ]);
  await waitForLine(client, /^done$/, 'http clients', 60_000);
  await exited(client);
  // A request hop still deferred at its downstream's close is recorded at that close: let
  // the sidecar close its ends of the client's connections before the runner's last drain.
  const open = () =>
    runIn(web.netns, 'ss', [
      '-Htn',
      'state',
      'established',
      'state',
      'close-wait',
      `( sport = :${PROXY_PORT} )`,
    ])
      .split('\n')
      .filter((line) => line.trim() !== '').length;
  for (let i = 0; open() > 0; i++) {
    assert.ok(i < 100, 'the sidecar closes its downstream connections within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const got = await collect(probes);
  const haproxy = web.sidecarPid!;
  const edges = got.records.filter((r) => r.type === 'edge');
  const sumOf = (
    pid: number,
    side: string,
    port: number,
    field: 'bytesSent' | 'bytesReceived' | 'exchanges' | 'exchangeNsSum' | 'multiplexedExchanges',
  ) =>
    edges
      .filter((e) => e.key.tgid === pid && e.key.side === side && e.key.servicePort === port)
      .reduce((s, e) => s + e[field], 0);

  // The client sees web:9080; the sidecar's downstream end (after REDIRECT) is port 15006.
  assert.ok(sumOf(client.pid!, 'client', web.port, 'bytesSent') > 0);
  assert.equal(
    sumOf(haproxy, 'server', PROXY_PORT, 'bytesReceived'),
    sumOf(client.pid!, 'client', web.port, 'bytesSent'),
    'request bytes equal at both ends of the client connection',
  );
  assert.equal(
    sumOf(haproxy, 'server', PROXY_PORT, 'bytesSent'),
    sumOf(client.pid!, 'client', web.port, 'bytesReceived'),
  );
  // One request at a time on every connection: none is taken for multiplexed.
  for (const [pid, side, port] of [
    [haproxy, 'server', PROXY_PORT],
    [haproxy, 'client', web.port],
  ] as const)
    assert.equal(
      sumOf(pid, side, port, 'multiplexedExchanges'),
      0,
      `${side} ${port}: not multiplexed`,
    );
  // Upstream: sidecar -> app over loopback, both ends too.
  assert.equal(
    sumOf(haproxy, 'client', web.port, 'bytesSent'),
    sumOf(web.appPid!, 'server', web.port, 'bytesReceived'),
  );
  // The join: the client's own (address, port) and initial sequence number are the
  // sidecar's remote end, through the REDIRECT.
  const sidecarRemotes = new Set(
    got
      .tuples(haproxy)
      .filter((x) => x.key.side === 'server')
      .map((x) => `${x.key.remoteAddress}:${x.remotePort}/${x.clientIsn}`),
  );
  const clientTuples = got.tuples(client.pid!);
  assert.ok(clientTuples.length >= 1);
  for (const x of clientTuples)
    assert.ok(
      sidecarRemotes.has(`${x.key.localAddress}:${x.localPort}/${x.clientIsn}`),
      'joined on the client tuple',
    );

  // Every request is one hop each way through the sidecar.
  const total = CONNECTIONS * REQUESTS;
  const hopRequest = got.histogram(haproxy, 'hop_request', PROXY_PORT);
  const hopResponse = got.histogram(haproxy, 'hop_response', PROXY_PORT);
  // What the runner says it lost (each cause's count over the run: lostOf), and the hops'
  // own counts, for a run that misses one.
  const lost = Object.fromEntries(
    LOSS_CAUSES.map((cause): [string, number] => [cause, lostOf(got.records, cause)]).filter(
      ([, n]) => n > 0,
    ),
  );
  const hopCounts = got.records.reduce(
    (s, r) =>
      r.type === 'hop' && r.key.tgid === haproxy
        ? `${s} [port ${r.key.servicePort}: ${r.exchanges} exchanges, ${r.unpaired} unpaired, ${r.handoffs} handed off]`
        : s,
    '',
  );
  t.diagnostic(
    `request hops ${totalCount(hopRequest)}, response hops ${totalCount(hopResponse)} of ${total}; lost ${JSON.stringify(lost)};${hopCounts}`,
  );
  assert.equal(totalCount(hopRequest), total);
  // Every reply a hop too, but for what the probes count instead of pairing: in two CI runs
  // (2026-12-05 at 7630377, 2026-12-06 at 41170bf) one reply of 200 found no read on its
  // upstream since its request, and was counted as an unmatched forward and unpaired, not
  // guessed. One way to it, found since: requests forwarded out of the order they were read
  // cross their links (crossed_reply mends them now; the crossing proxy's test below);
  // whether haproxy's were so is not known, so at most one such is still held here, and
  // every other reply must be a hop.
  const unmatched = got.records.reduce(
    (n, r) => (r.type === 'hop' && r.key.tgid === haproxy ? n + r.unmatchedForwards : n),
    0,
  );
  assert.ok(unmatched <= 1, `${unmatched} replies unmatched`);
  assert.equal(totalCount(hopResponse) + unmatched, total);
  // The hops run from the kernel's arrival of the bytes, not from haproxy's read: they
  // hold at least the sidecar's downstream exchange minus its upstream exchange (read to
  // write, request by request) and, beyond it, the wait before each read.
  const down =
    sumOf(haproxy, 'server', PROXY_PORT, 'exchangeNsSum') /
    sumOf(haproxy, 'server', PROXY_PORT, 'exchanges');
  const up =
    sumOf(haproxy, 'client', web.port, 'exchangeNsSum') /
    sumOf(haproxy, 'client', web.port, 'exchanges');
  const hops = mean(hopRequest)! + mean(hopResponse)!;
  const handedOff = handoffsOf(got.records, haproxy);
  t.diagnostic(
    `haproxy hop p50 request ${quantile(hopRequest, 0.5)! / 1e3} us, response ${quantile(hopResponse, 0.5)! / 1e3} us; read-to-write (exchange difference) ${(down - up) / 1e3} us, hop means ${hops / 1e3} us; ${handedOff} of ${total} request hops handed off`,
  );
  assert.ok(
    down - up > 0 && hops >= 0.97 * (down - up),
    `hops ${hops} vs read-to-write ${down - up}`,
  );

  // One request at a time per connection, one upstream per downstream: every exchange
  // pairs (but the one unmatched reply allowed above, which leaves its exchange unpaired),
  // each from a seen arrival, and its added latency is its two hops.
  const hopTotals = got.records
    .filter((r) => r.type === 'hop' && r.key.tgid === haproxy)
    .reduce(
      (s, r) => {
        if (r.type !== 'hop') return s;
        assert.equal(r.key.servicePort, PROXY_PORT, 'every hop keyed by the inbound listener');
        for (const k of Object.keys(s) as (keyof typeof s)[]) s[k] += r[k];
        return s;
      },
      {
        exchanges: 0,
        unpaired: 0,
        unmatchedForwards: 0,
        arrivalUnknown: 0,
        requestNsSum: 0,
        responseNsSum: 0,
        addedNsSum: 0,
      },
    );
  assert.deepEqual(
    {
      exchanges: hopTotals.exchanges,
      unpaired: hopTotals.unpaired,
      unmatchedForwards: hopTotals.unmatchedForwards,
      arrivalUnknown: hopTotals.arrivalUnknown,
    },
    {
      exchanges: total - unmatched,
      unpaired: unmatched,
      unmatchedForwards: unmatched,
      arrivalUnknown: 0,
    },
  );
  assert.equal(totalCount(got.histogram(haproxy, 'hop_added', PROXY_PORT)), total - unmatched);
  // An unpaired exchange's request hop is in the request hops' sum, not in the added sum.
  if (unmatched === 0)
    assert.equal(hopTotals.addedNsSum, hopTotals.requestNsSum + hopTotals.responseNsSum);
  else assert.ok(hopTotals.addedNsSum < hopTotals.requestNsSum + hopTotals.responseNsSum);
});

/**
 * The echo server and a proxy script (`source`, a node program printing "ready") in the
 * server pod, the proxy registered as such, then `connections` clients of `requests`
 * each through it; resolves once the clients are done.
 */
async function throughProxy(
  t: TestContext,
  what: string,
  source: string,
  connections: number,
  requests: number,
) {
  const { lab, probes, proxy } = await serverBehindProxy(t, echoServer, what, source);
  const client = lab.exec('client', 'clients', process.execPath, [
    '-e',
    clients(lab.pod('server').address, PROXY_PORT, connections, requests),
  ]);
  await waitForLine(client, /^[0-9.]+$/, 'clients', 60_000);
  await exited(client);
  return { probes, proxy };
}

/**
 * A proxy that pipelines every downstream connection's requests onto one upstream
 * connection and hands the replies back in order, and answers every fourth request itself
 * without forwarding it. No direction change on the upstream tells one reply from the
 * next, yet each reply's bytes arrive after its request left and before its write; the
 * requests it answers itself have no hop to pair.
 */
const pipeliningProxy = `const net = require('node:net');
  const up = net.connect({ port: ${SERVER_PORT}, host: '127.0.0.1', noDelay: true });
  const waiting = [];
  let pending = 0;
  let n = 0;
  up.on('data', (d) => {
    pending += d.length;
    while (pending >= 100) { pending -= 100; waiting.shift().write(Buffer.alloc(100, 2)); }
  });
  up.on('connect', () => net.createServer({ noDelay: true }, (down) => {
    down.on('data', (d) => {
      if (n++ % 4 === 3) return down.write(Buffer.alloc(d.length, 3));
      for (let i = 0; i < d.length / 100; i++) waiting.push(down);
      up.write(d);
    });
    down.on('error', () => {});
  }).listen(${PROXY_PORT}, '0.0.0.0', () => console.log('ready')));`;

test('a pipelining proxy: every forwarded request paired both ways, those it answered itself counted as unpaired', async (t) => {
  const CONNECTIONS = 16;
  const REQUESTS = 25;
  const { probes, proxy } = await throughProxy(
    t,
    'pipelining proxy',
    pipeliningProxy,
    CONNECTIONS,
    REQUESTS,
  );
  const got = await collect(probes);
  const hops = got.records.filter((r) => r.type === 'hop' && r.key.tgid === proxy.pid);
  const sum = (k: 'exchanges' | 'unpaired' | 'unmatchedForwards') =>
    hops.reduce((n, r) => n + (r.type === 'hop' ? r[k] : 0), 0);
  const requestHops = totalCount(got.histogram(proxy.pid!, 'hop_request', PROXY_PORT));
  const responseHops = totalCount(got.histogram(proxy.pid!, 'hop_response', PROXY_PORT));
  const total = CONNECTIONS * REQUESTS;
  // Each client waits for its reply before its next request: one request per read.
  const answeredHere = total / 4;
  t.diagnostic(
    `exchanges ${sum('exchanges')}, unpaired ${sum('unpaired')}, request hops ${requestHops}, response hops ${responseHops}, unmatched forwards ${sum('unmatchedForwards')}`,
  );
  // Each forwarded request goes out by its own write, after its own read.
  assert.equal(requestHops, total - answeredHere);
  // Each forwarded request's reply pairs, pipelined as it is; the replies the proxy wrote
  // itself follow no upstream read and end unpaired, each counted once.
  assert.equal(sum('exchanges'), total - answeredHere);
  assert.equal(responseHops, total - answeredHere);
  assert.equal(sum('unpaired'), answeredHere);
  assert.equal(sum('unmatchedForwards'), answeredHere);
  assert.equal(
    totalCount(got.histogram(proxy.pid!, 'hop_added', PROXY_PORT)),
    total - answeredHere,
  );
  // The upstream carried many requests at once: its exchanges are marked and not timed,
  // all but those before its first pipelined request; the downstreams are plain.
  const edges = got.records.filter((r) => r.type === 'edge' && r.key.tgid === proxy.pid);
  const ends = (side: 'client' | 'server', k: 'multiplexedExchanges' | 'exchanges') =>
    edges.reduce((n, e) => n + (e.type === 'edge' && e.key.side === side ? e[k] : 0), 0);
  t.diagnostic(
    `upstream exchanges ${ends('client', 'exchanges')}, multiplexed ${ends('client', 'multiplexedExchanges')}`,
  );
  assert.ok(
    ends('client', 'multiplexedExchanges') > 0,
    'the shared upstream is marked multiplexed',
  );
  assert.ok(
    ends('client', 'exchanges') < ends('client', 'multiplexedExchanges'),
    'most of its exchanges after the mark',
  );
  assert.equal(
    totalCount(got.histogram(proxy.pid!, 'exchange_latency', SERVER_PORT)),
    ends('client', 'exchanges'),
    'only the exchanges before the mark are timed',
  );
  assert.equal(ends('server', 'multiplexedExchanges'), 0);
  assert.equal(ends('server', 'exchanges'), total);
});

/**
 * A proxy that holds the replies of every other connection HOLD_MS and forwards the rest at
 * once, so a thread forwards replies out of the order they arrived in. It times what it
 * held each reply itself, and prints those times on SIGTERM.
 */
const HOLD_MS = 20;
const reorderingProxy = `const net = require('node:net');
  const held = [];
  let n = 0;
  net.createServer({ noDelay: true }, (down) => {
    const hold = n++ % 2 === 1 ? ${HOLD_MS} : 0;
    const up = net.connect({ port: ${SERVER_PORT}, host: '127.0.0.1', noDelay: true });
    down.on('data', (d) => up.write(d));
    up.on('data', (d) => {
      const readAt = process.hrtime.bigint();
      const forward = () => { down.write(d); held.push(Number(process.hrtime.bigint() - readAt)); };
      if (hold) setTimeout(forward, hold); else forward();
    });
    down.on('close', () => up.destroy());
    down.on('error', () => {});
    up.on('error', () => {});
  }).listen(${PROXY_PORT}, '0.0.0.0', () => console.log('ready'));
  process.on('SIGTERM', () => { console.log(JSON.stringify(held)); process.exit(0); });`;

test('replies forwarded out of arrival order pair with their own exchange', async (t) => {
  const CONNECTIONS = 8;
  const REQUESTS = 30;
  const { probes, proxy } = await throughProxy(
    t,
    'reordering proxy',
    reorderingProxy,
    CONNECTIONS,
    REQUESTS,
  );
  const heldLine = waitForLine(proxy, /^\[/, 'reordering proxy');
  proxy.kill('SIGTERM');
  const held = JSON.parse(await heldLine) as number[];
  const got = await collect(probes);
  const response = got.histogram(proxy.pid!, 'hop_response', PROXY_PORT);
  // The proxy's own times fall in two groups, about 0 and about HOLD_MS; a reply paired with
  // another connection's arrival would land in between.
  const SPLIT_NS = (HOLD_MS / 2) * 1e6;
  const [BETWEEN_FROM_NS, BETWEEN_TO_NS] = [(HOLD_MS / 4) * 1e6, (HOLD_MS - 1.5) * 1e6];
  const heldSlow = held.filter((ns) => ns >= SPLIT_NS).length;
  // Timers fire up to a millisecond early against the proxy's clock: some slow replies
  // are held a little under HOLD_MS, by the proxy's own count.
  const heldBetween = held.filter((ns) => ns >= BETWEEN_FROM_NS && ns < BETWEEN_TO_NS).length;
  let reportedSlow = 0;
  let between = 0;
  response.indexes.forEach((index, i) => {
    const ns = bucketValue(response.layout, index);
    if (ns >= SPLIT_NS) reportedSlow += response.counts[i]!;
    if (ns >= BETWEEN_FROM_NS && ns < BETWEEN_TO_NS) between += response.counts[i]!;
  });
  t.diagnostic(
    `held: ${heldSlow} of ${held.length} slow, ${heldBetween} between ${BETWEEN_FROM_NS / 1e6} and ${BETWEEN_TO_NS / 1e6} ms; reported: ${reportedSlow} of ${totalCount(response)} slow, ${between} between`,
  );
  assert.equal(held.length, CONNECTIONS * REQUESTS);
  // Every downstream exchange accounted for: paired both ways, or counted unpaired (one
  // in about a dozen runs loses a pairing to timing; never silently).
  const hops = got.records.filter(
    (r): r is HopRecord =>
      r.type === 'hop' && r.key.tgid === proxy.pid && r.key.servicePort === PROXY_PORT,
  );
  const hopSum = (k: 'exchanges' | 'unpaired' | 'responseNsSum') =>
    hops.reduce((n, r) => n + r[k], 0);
  assert.equal(hopSum('exchanges') + hopSum('unpaired'), CONNECTIONS * REQUESTS);
  assert.ok(hopSum('unpaired') <= 2, `${hopSum('unpaired')} unpaired`);
  // Every response hop timed is in the histogram: the kernel's exact sum is its buckets'
  // (here summed at their values) within their width.
  assert.ok(
    Math.abs(response.sumNs - hopSum('responseNsSum')) <= 0.04 * hopSum('responseNsSum'),
    `response hops' sum ${hopSum('responseNsSum')} ns vs ${response.sumNs} ns in the histogram`,
  );
  // A hop also holds the wait before the proxy's read, which the proxy's own clock does not
  // see: on a busy machine a fast reply now and then waits milliseconds in the receive
  // queue (with a 6 ms hold, up to 5 of 240 over 1.5 ms in CI-like runs, and 5 over 3 ms
  // in a CI run on a slow day), and lands between, or even slow, by the kernel's count
  // alone. A reply paired with another connection's arrival would land anywhere.
  const queued = Math.ceil(0.025 * held.length);
  // Every held reply is slow. A fast one is slow by the proxy's own clock too when its
  // thread is preempted between the read and the write (a CI run: 121 of 240), and then it
  // is slow for the kernel as well: the proxy's clock, not the design, is the truth here.
  assert.ok(
    heldSlow >= (CONNECTIONS / 2) * REQUESTS && heldSlow <= (CONNECTIONS / 2) * REQUESTS + queued,
    `${heldSlow} replies held ${SPLIT_NS / 1e6} ms or more by the proxy's clock`,
  );
  // The kernel's slow ones are the proxy's, and the fast replies that waited SPLIT_NS or more
  // unread.
  assert.ok(
    reportedSlow >= heldSlow - 2 && reportedSlow <= heldSlow + 2 + queued,
    `${reportedSlow} slow replies reported, ${heldSlow} by the proxy's clock`,
  );
  assert.ok(between <= heldBetween + 2 + queued, `${between} replies paired across connections`);
});

/**
 * A proxy with an upstream connection per downstream one that forwards requests out of the
 * order it read them: a request read while another downstream's waits is forwarded first,
 * the waiting one after it (as a proxy forwards a request whose upstream connection is
 * ready before an older one whose is not); a request with no partner goes after 5 ms.
 * Replies go straight back. Pairing each forward with the oldest request read crosses the
 * two downstreams' links. On SIGTERM it prints how many pairs it crossed.
 */
const crossingProxy = `const net = require('node:net');
  let held = null, crossed = 0;
  net.createServer({ noDelay: true }, (down) => {
    const up = net.connect({ port: ${SERVER_PORT}, host: '127.0.0.1', noDelay: true });
    up.on('data', (d) => down.write(d));
    down.on('data', (d) => {
      const mine = { up, d };
      if (held && held.up !== up) {
        clearTimeout(held.timer);
        up.write(d);
        held.up.write(held.d);
        held = null;
        crossed++;
        return;
      }
      if (held) { clearTimeout(held.timer); held.up.write(held.d); }
      held = mine;
      mine.timer = setTimeout(() => { if (held === mine) held = null; up.write(d); }, 5);
    });
    down.on('error', () => {});
    up.on('error', () => {});
    down.on('close', () => up.end());
  }).listen(${PROXY_PORT}, '0.0.0.0', () => console.log('ready'));
  process.on('SIGTERM', () => { console.log(JSON.stringify({ crossed })); process.exit(0); });`;

test('requests forwarded out of read order: the crossed links mended at the reply, every exchange paired', async (t) => {
  const CONNECTIONS = 8;
  const REQUESTS = 25;
  const { probes, proxy } = await throughProxy(
    t,
    'crossing proxy',
    crossingProxy,
    CONNECTIONS,
    REQUESTS,
  );
  const countLine = waitForLine(proxy, /^\{/, 'crossing proxy');
  proxy.kill('SIGTERM');
  const { crossed } = JSON.parse(await countLine) as { crossed: number };
  const got = await collect(probes);
  const total = CONNECTIONS * REQUESTS;
  const hops = got.records.filter(
    (r): r is HopRecord =>
      r.type === 'hop' && r.key.tgid === proxy.pid && r.key.servicePort === PROXY_PORT,
  );
  const hopSum = (k: 'exchanges' | 'unpaired' | 'unmatchedForwards') =>
    hops.reduce((n, r) => n + r[k], 0);
  const requestHops = totalCount(got.histogram(proxy.pid!, 'hop_request', PROXY_PORT));
  const responseHops = totalCount(got.histogram(proxy.pid!, 'hop_response', PROXY_PORT));
  t.diagnostic(
    `${crossed} pairs forwarded crossed; exchanges ${hopSum('exchanges')}, unpaired ${hopSum('unpaired')}, unmatched forwards ${hopSum('unmatchedForwards')}; request hops ${requestHops}, response hops ${responseHops}`,
  );
  // The proxy did cross: most requests came in pairs (the clients send at once).
  assert.ok(crossed >= total / 4, `${crossed} pairs crossed of ${total} requests`);
  // Each crossed pair had one downstream's reply written while its link pointed at an
  // upstream with no reply yet; taken from the upstream the thread had just read, and the
  // links swapped, every reply pairs (the runner before this counted about one unpaired
  // exchange per crossed pair).
  assert.equal(requestHops, total);
  assert.deepEqual(
    { exchanges: hopSum('exchanges'), unpaired: hopSum('unpaired'), responseHops },
    { exchanges: total, unpaired: 0, responseHops: total },
  );
});

/** `connections` clients of `requests` each through the proxy; then the runner's records. */
async function clientsThenCollect(
  lab: Lab,
  probes: ProbeSource,
  connections: number,
  requests: number,
) {
  const child = lab.exec('client', 'clients', process.execPath, [
    '-e',
    clients(lab.pod('server').address, PROXY_PORT, connections, requests),
  ]);
  await waitForLine(child, /^[0-9.]+$/, 'clients', 60_000);
  await exited(child);
  return collect(probes);
}

test('an edge map with no room: every request through the proxy still paired into its hops', async (t) => {
  // One edge per interval for the whole machine: the proxy's own edges find no room (nor
  // does their folded key), which once ended the event before the proxy's reads and writes
  // were followed, so its hops stopped with the map full.
  const { lab, probes } = await clientServerWithProbes(t, { edges: 1 });
  const server = lab.exec('server', 'echo', process.execPath, ['-e', echoServer]);
  await waitForLine(server, /^ready$/, 'echo');
  const proxy = await lab.startDelayProxy('server', {
    listenPort: PROXY_PORT,
    targetHost: '127.0.0.1',
    targetPort: SERVER_PORT,
    delayMs: 1,
  });
  probes.addProxy(proxy.pid);
  const CONNECTIONS = 4;
  const REQUESTS = 20;
  const got = await clientsThenCollect(lab, probes, CONNECTIONS, REQUESTS);
  const full = lostOf(got.records, 'edgeMapFull');
  assert.ok(full > 0, 'the edge map was full');
  assert.equal(
    totalCount(got.histogram(proxy.pid, 'hop_added', PROXY_PORT)),
    CONNECTIONS * REQUESTS,
  );
});

/**
 * An echo server of WORKERS processes, each accepting on one listening socket the first
 * hands them (each its own epoll), so that several readers wait at once: a proxy's writes
 * to two of them can each find its reader idle before the first has read. The first
 * closes its own copy of the socket and accepts nothing; the workers exit with it.
 */
const WORKERS = 4;
const echoWorker = `process.on('disconnect', () => process.exit(0));
  process.on('message', (_m, server) => {
    server.on('connection', (s) => { s.setNoDelay(true); s.on('data', (d) => s.write(Buffer.alloc(d.length, 1))); });
    process.send('up');
  });`;
const echoWorkers = `const net = require('node:net');
  const { spawn } = require('node:child_process');
  const server = net.createServer().listen(${SERVER_PORT}, '0.0.0.0', () => {
    let up = 0;
    for (let i = 0; i < ${WORKERS}; i++) {
      const worker = spawn(process.execPath, ['-e', ${JSON.stringify(echoWorker)}], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      worker.on('message', () => { if (++up === ${WORKERS}) { server.close(); console.log('ready'); } });
      worker.send('server', server);
    }
  });`;

/**
 * A proxy that holds every request and reply HOLD_IN_ORDER_MS and forwards them in the
 * order it read them, across all its connections (one queue, one timer): a proxy whose
 * forwards keep its reads' order, as the request FIFO's pairing assumes.
 */
const HOLD_IN_ORDER_MS = 1;
const inOrderProxy = `const net = require('node:net');
  const queue = [];
  let timer = null;
  const pump = () => {
    timer = null;
    const now = performance.now();
    while (queue.length && queue[0].due <= now) { const { to, chunk } = queue.shift(); to.write(chunk); }
    if (queue.length) timer = setTimeout(pump, Math.max(0, queue[0].due - now));
  };
  const hold = (to) => (chunk) => {
    queue.push({ to, chunk, due: performance.now() + ${HOLD_IN_ORDER_MS} });
    if (!timer) timer = setTimeout(pump, ${HOLD_IN_ORDER_MS});
  };
  net.createServer({ noDelay: true }, (down) => {
    const up = net.connect({ port: ${SERVER_PORT}, host: '127.0.0.1', noDelay: true });
    down.on('data', hold(up));
    up.on('data', hold(down));
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
    down.on('error', () => {});
    up.on('error', () => {});
  }).listen(${PROXY_PORT}, '0.0.0.0', () => console.log('ready'));`;

test('a hand-off map with no room: the requests it could not note counted, every request still paired', async (t) => {
  // One hand-off pending at once for the whole machine. The proxy's one timer forwards
  // the connections' requests together (they stay in step), several in one turn, each to
  // a worker waiting for it: the second note finds the first still pending and no room.
  // Once that went uncounted, and the requests' hops silently lost their hand-off. (The
  // lab's delay proxy, whose timers are per connection, forwards out of the order it read:
  // that crosses the pairing, and 0 to 8 of 320 replies were counted unpaired.)
  const { lab, probes } = await clientServerWithProbes(t, { handoffs: 1 });
  const server = lab.exec('server', 'echo workers', process.execPath, ['-e', echoWorkers]);
  await waitForLine(server, /^ready$/, 'echo workers');
  const proxy = lab.exec('server', 'in-order proxy', process.execPath, ['-e', inOrderProxy]);
  await waitForLine(proxy, /^ready$/, 'in-order proxy');
  const pid = proxy.pid!;
  probes.addProxy(pid);
  const CONNECTIONS = 16;
  const REQUESTS = 30;
  const got = await clientsThenCollect(lab, probes, CONNECTIONS, REQUESTS);
  const full = lostOf(got.records, 'handoffMapFull');
  const handoffs = handoffsOf(got.records, pid);
  const replyHandoffs = handoffsOf(got.records, pid, 'replyHandoffs');
  const total = CONNECTIONS * REQUESTS;
  const paired = totalCount(got.histogram(pid, 'hop_added', PROXY_PORT));
  t.diagnostic(
    `${handoffs} requests and ${replyHandoffs} replies handed off, ${full} not noted for want of room, ${paired} paired, of ${total}`,
  );
  assert.ok(full > 0, 'no note found the map full');
  // The one entry still serves: some requests are handed off.
  assert.ok(handoffs > 0, 'no request handed off');
  // Each forward's write, and each reply's, is one arrival at one reader (a worker, the
  // client), noted or counted once: no message is both handed off and counted, nor counted
  // twice. A note found the map full may be a reply's (the client's one event loop, busy
  // with the proxy's burst of replies, has them carried: handoff.bpf.h), so the bound
  // holds over both directions.
  assert.ok(
    handoffs + replyHandoffs + full <= 2 * total,
    `${handoffs} + ${replyHandoffs} handed off + ${full} counted > ${2 * total}`,
  );
  // Every request through the proxy was paired all the same, its request hop to the write.
  assert.equal(paired, total);
});
