// The lab's HTTP/2 server and open-loop load (lab/h2-rr.ts), over real loopback sockets:
// every request a stream with its body, counted ok only with the reply's status (the
// server had the whole body) and size, exactly as many as the schedule sent.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { type H2LoadOptions, h2Load, serveH2, validateH2Load } from '../../lab/h2-rr.js';

async function server(t: { after(fn: () => void): void }, replyBytes: number, requestBytes = 64) {
  const s = await serveH2({ port: 0, requestBytes, replyBytes });
  t.after(() => s.close());
  return (s.address() as AddressInfo).port;
}

/**
 * A load against the server on `port`: 64-byte bodies, 512-byte replies, 200 requests/s
 * for 0.25 s on one session, unless `o` says otherwise.
 */
function load(port: number, o: Partial<H2LoadOptions> = {}) {
  return h2Load({
    host: '127.0.0.1',
    port,
    requestBytes: 64,
    replyBytes: 512,
    rate: 200,
    durationS: 0.25,
    connections: 1,
    timeoutMs: 5000,
    ...o,
  });
}

test('HTTP/2 load: every request of the schedule answered, many streams in flight on one connection', async (t) => {
  const port = await server(t, 512);
  const r = await load(port, { rate: 2000, durationS: 0.5, warmupS: 0.1, countFromIssue: true });
  assert.equal(r.sent, 1000);
  assert.equal(r.ok, 1000);
  assert.equal(r.errors + r.timeouts, 0);
  assert.ok(r.p50Ms !== null && r.p50Ms > 0);
});

test('HTTP/2 load: a reply of the wrong size is an error, not a success', async (t) => {
  const port = await server(t, 100);
  const r = await load(port, { connections: 2 });
  assert.equal(r.sent, 50);
  assert.equal(r.ok, 0);
  assert.equal(r.errors, 50);
});

test('HTTP/2 load: a body the server does not get whole is an error (its 400)', async (t) => {
  const port = await server(t, 512, 64);
  const r = await load(port, { requestBytes: 32 });
  assert.equal(r.sent, 50);
  assert.equal(r.ok, 0);
  assert.equal(r.errors, 50);
});

test('HTTP/2 load without bodies: GETs, answered by a server that expects none', async (t) => {
  const port = await server(t, 128, 0);
  const r = await load(port, { requestBytes: 0, replyBytes: 128 });
  assert.equal(r.sent, 50);
  assert.equal(r.ok, 50);
});

test('a server asked for a body size out of bounds refuses to start', async () => {
  await assert.rejects(serveH2({ port: 0, requestBytes: -1, replyBytes: 1 }), /request of/);
});

test('HTTP/2 load options out of bounds are refused', () => {
  const ok = {
    host: '127.0.0.1',
    port: 1,
    requestBytes: 0,
    replyBytes: 1,
    rate: 1,
    durationS: 1,
    connections: 1,
    timeoutMs: 1,
  };
  assert.throws(() => validateH2Load({ ...ok, connections: 0 }), /connections/);
  assert.throws(() => validateH2Load({ ...ok, rate: 3000, durationS: 1000 }), /2,000,000/);
  assert.throws(() => validateH2Load({ ...ok, replyBytes: 2 << 20 }), /reply of/);
  assert.throws(() => validateH2Load({ ...ok, requestBytes: -1 }), /request of/);
});
