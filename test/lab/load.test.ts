// The load generator on loopback: exact counts, the rate held, and no coordinated
// omission (a server stall is charged to every request that was due during it).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { constantRateLoad, validateLoadOptions } from '../../daemonset/load/load.js';
import { bucketBounds } from '../../proto/histogram.js';

test('a 300 ms stall shows in the latency of every request due during it', async (t) => {
  let pauseUntil = 0;
  let served = 0;
  const server = createServer((_req, res) => {
    served++;
    const wait = Math.max(1, pauseUntil - performance.now());
    setTimeout(() => res.end('ok'), wait);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  setTimeout(() => {
    pauseUntil = performance.now() + 300;
  }, 500);

  const result = await constantRateLoad({
    url: `http://127.0.0.1:${port}/`,
    rate: 200,
    durationS: 2,
    connections: 2,
    timeoutMs: 5000,
  });
  assert.equal(result.sent, 400);
  assert.equal(result.ok, 400);
  assert.equal(served, 400);
  assert.equal(result.errors + result.timeouts, 0);
  assert.ok(Math.abs(result.actualRps - 200) / 200 < 0.1, `actual ${result.actualRps} rps`);
  // ~60 requests were due during the stall; their waits spread over 0..300 ms. A
  // closed-loop generator would have sent only 2 (one per connection) and seen 2 slow.
  let slow = 0;
  result.latency.indexes.forEach((index, k) => {
    if (bucketBounds(result.latency.layout, index)[0] >= 100e6) slow += result.latency.counts[k]!;
  });
  assert.ok(slow >= 30, `${slow} requests above 100 ms`);
  assert.ok(result.p50Ms! < 20, `p50 ${result.p50Ms} ms is unaffected`);
});

test('load options are bounded', () => {
  const ok = { url: 'http://127.0.0.1:1/', rate: 10, durationS: 1, connections: 1, timeoutMs: 100 };
  assert.doesNotThrow(() => validateLoadOptions(ok));
  assert.throws(() => validateLoadOptions({ ...ok, rate: 1e6, durationS: 10 }), /above 2000000/);
  assert.throws(() => validateLoadOptions({ ...ok, durationS: 7200 }), /duration above/);
  assert.throws(() => validateLoadOptions({ ...ok, connections: 0 }), /connections/);
  assert.throws(() => validateLoadOptions({ ...ok, rate: -1 }), /positive/);
});
