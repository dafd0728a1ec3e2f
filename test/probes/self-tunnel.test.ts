// A proxy whose write reaches a socket of its own (a node proxy's tunnel between two pods
// of its node): the hop of the write ends at its bytes' arrival there, where the next hop
// starts, so no instant of the path is counted twice. Ending it at the write's return
// counted the rest of the write in both hops: some 2 us a crossing here, 8 us each way in
// bench accuracy's ambient condition as bpftrace timed it (its own cost included).
// Ground truth: the processes' own clocks, which bound the path through the proxy from
// outside it. A request's path runs from its arrival, within the client's send, to the
// proxy's return from forwarding it to the app; a reply's from its arrival, within the
// app's send, to the proxy's return from forwarding it to the client. The proxy never
// waits for its sockets (no wake-up of its own enters its hops), and each message crosses
// TUNNELS connections of its own, so that what is counted twice per crossing adds up
// beyond what the clocks' bounds leave over.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitForLine } from '../../lab/spawn.js';
import type { HopRecord } from '../../probes/records.js';
import { clientServerWithProbes, collect } from './fixture.js';

const ROUNDS = 200;
const TUNNELS = 24;
const PORT = 9700;
const TUNNEL_BASE_PORT = 9710;
const APP_PORT = 9790;

const sum = (values: readonly number[]) => values.reduce((n, v) => n + v, 0);

test("a proxy's write into its own tunnel: each hop ends where the next starts, no instant counted twice", async (t) => {
  const { lab, probes } = await clientServerWithProbes(t);
  const script = fileURLToPath(new URL('../../lab/self-tunnel-proxy.py', import.meta.url));
  const python = (pod: string, what: string, args: string[]) =>
    lab.exec(pod, what, 'python3', ['-u', script, ...args]);
  const app = python('server', 'app', ['app', String(APP_PORT), String(ROUNDS)]);
  await waitForLine(app, /^ready$/, 'app');
  const proxy = python('server', 'self-tunnel proxy', [
    'proxy',
    String(PORT),
    String(TUNNEL_BASE_PORT),
    String(TUNNELS),
    String(APP_PORT),
    String(ROUNDS),
  ]);
  await waitForLine(proxy, /^ready$/, 'self-tunnel proxy');
  probes.addProxy(proxy.pid!);
  const proxyReport = waitForLine(proxy, /^\{/, 'self-tunnel proxy', 60_000);
  const appReport = waitForLine(app, /^\{/, 'app', 60_000);
  const client = python('client', 'client', [
    'client',
    lab.pod('server').address,
    String(PORT),
    String(ROUNDS),
    '1',
  ]);
  const requestSentAt = (
    JSON.parse(await waitForLine(client, /^\{/, 'client', 60_000)) as {
      request_sent_at: number[];
    }
  ).request_sent_at;
  const { request_forwarded_at: requestForwardedAt, reply_forwarded_at: replyForwardedAt } =
    JSON.parse(await proxyReport) as {
      request_forwarded_at: number[];
      reply_forwarded_at: number[];
    };
  const { reply_sent_at: replySentAt } = JSON.parse(await appReport) as { reply_sent_at: number[] };
  for (const instants of [requestSentAt, requestForwardedAt, replySentAt, replyForwardedAt])
    assert.equal(instants.length, ROUNDS);
  await new Promise((r) => setTimeout(r, 300));
  const got = await collect(probes);

  const hops = got.records.filter(
    (r): r is HopRecord => r.type === 'hop' && r.key.tgid === proxy.pid,
  );
  const ports = new Set(hops.map((h) => h.key.servicePort));
  // The client's listener and every tunnel's: a hop each way at each.
  assert.deepEqual(
    [...ports].sort((a, b) => a - b),
    [PORT, ...Array.from({ length: TUNNELS }, (_, i) => TUNNEL_BASE_PORT + i)],
  );
  for (const port of ports) {
    const at = hops.filter((h) => h.key.servicePort === port);
    assert.equal(sum(at.map((h) => h.exchanges)), ROUNDS, `exchanges paired at ${port}`);
    assert.equal(sum(at.map((h) => h.unpaired)), 0, `unpaired at ${port}`);
  }
  // Never waiting, the proxy hands no request off to the app's read.
  assert.equal(sum(hops.map((h) => h.handoffs)), 0);

  const meanUs = (ns: number) => ns / ROUNDS / 1e3;
  const requestHops = meanUs(sum(hops.map((h) => h.requestNsSum)));
  const responseHops = meanUs(sum(hops.map((h) => h.responseNsSum)));
  const requestBound = meanUs(sum(requestForwardedAt.map((at, i) => at - requestSentAt[i]!)));
  const responseBound = meanUs(sum(replyForwardedAt.map((at, i) => at - replySentAt[i]!)));
  t.diagnostic(
    `per request, through ${TUNNELS + 1} hops each way: request ${requestHops.toFixed(1)} us of ${requestBound.toFixed(1)} us between the clocks' bounds, reply ${responseHops.toFixed(1)} us of ${responseBound.toFixed(1)} us`,
  );
  // Within the bounds: each hop starts where the last ended. Ending each tunnel's hop at
  // the write's return, as before 2026-12-04, put the hops 32-42 us (request) and 33-44 us
  // (reply) per request above them in two runs, some 2 us a crossing; since, they come
  // 20-33 and 13-16 us within them (four runs).
  assert.ok(requestHops <= requestBound, 'request hops within the path from outside');
  assert.ok(responseHops <= responseBound, 'reply hops within the path from outside');
  // And they are the path, less the clocks' own margins: the client's and the app's send
  // up to their bytes' arrival, the proxy's return to Python after its last write.
  assert.ok(requestHops >= 0.5 * requestBound, 'request hops cover the path');
  assert.ok(responseHops >= 0.5 * responseBound, 'reply hops cover the path');
});
