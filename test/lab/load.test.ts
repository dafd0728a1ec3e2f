// The load generator on loopback: exact counts, the rate held, and no coordinated
// omission (a server stall is charged to every request that was due during it).
import assert from 'node:assert/strict';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type TestContext, test } from 'node:test';
import { constantRateLoad, validateLoadOptions } from '../../daemonset/load/load.js';
import { interleavedTurns } from '../../daemonset/load/schedule.js';
import { bucketBounds, type SparseHistogram } from '../../proto/histogram.js';

/** An HTTP server on loopback for the test's length; its URL. */
async function serve(t: TestContext, handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

test('a 300 ms stall shows in the latency of every request due during it', async (t) => {
  let pauseUntil = 0;
  let served = 0;
  const url = await serve(t, (_req, res) => {
    served++;
    const wait = Math.max(1, pauseUntil - performance.now());
    setTimeout(() => res.end('ok'), wait);
  });
  setTimeout(() => {
    pauseUntil = performance.now() + 300;
  }, 500);

  const result = await constantRateLoad({
    url,
    rate: 200,
    durationS: 2,
    connections: 2,
    timeoutMs: 5000,
    countFromIssue: true,
  });
  assert.equal(result.sent, 400);
  assert.equal(result.ok, 400);
  assert.equal(served, 400);
  assert.equal(result.errors + result.timeouts, 0);
  assert.ok(Math.abs(result.actualRps - 200) / 200 < 0.1, `actual ${result.actualRps} rps`);
  // ~60 requests were due during the stall; their waits spread over 0..300 ms. A
  // closed-loop generator would have sent only 2 (one per connection) and seen 2 slow.
  const slowIn = (latency: SparseHistogram) => {
    let slow = 0;
    latency.indexes.forEach((index, k) => {
      if (bucketBounds(latency.layout, index)[0] >= 100e6) slow += latency.counts[k]!;
    });
    return slow;
  };
  assert.ok(slowIn(result.latency) >= 30, `${slowIn(result.latency)} requests above 100 ms`);
  assert.ok(result.p50Ms! < 20, `p50 ${result.p50Ms} ms is unaffected`);
  // Counted from when each was issued, the wait for a free connection still counts: the
  // timer issued them on time, the stalled connections made them wait.
  const fromIssue = result.fromIssue!;
  assert.ok(
    slowIn(fromIssue.latency) >= 30,
    `from issue: ${slowIn(fromIssue.latency)} above 100 ms`,
  );
});

test('counted from its issue, a request holds what the server held it, not the timer lag', async (t) => {
  const HOLD_MS = 4;
  const heldMs: number[] = [];
  const url = await serve(t, (_req, res) => {
    const arrived = performance.now();
    setTimeout(() => {
      heldMs.push(performance.now() - arrived);
      res.end('ok');
    }, HOLD_MS);
  });
  const result = await constantRateLoad({
    url,
    rate: 97,
    durationS: 1.5,
    connections: 2,
    timeoutMs: 5000,
    countFromIssue: true,
  });
  const fromIssue = result.fromIssue!;
  assert.equal(result.ok, heldMs.length);
  const sorted = [...heldMs].sort((a, b) => a - b);
  const heldP50 = sorted[Math.ceil(0.5 * sorted.length) - 1]!;
  const heldMean = heldMs.reduce((a, b) => a + b, 0) / heldMs.length;
  // Every request's latency from its issue holds its own hold by the server's clock, so
  // the quantiles and the mean do too; what is left over is the loopback and HTTP's work.
  assert.ok(fromIssue.p50Ms! >= heldP50, `p50 ${fromIssue.p50Ms} >= held ${heldP50}`);
  assert.ok(fromIssue.meanMs! >= heldMean, `mean ${fromIssue.meanMs} >= held ${heldMean}`);
  assert.ok(fromIssue.meanMs! - heldMean < 5, `mean ${fromIssue.meanMs} vs held ${heldMean}`);
  // The timer issues late (whole-millisecond ticks of a clock read when the loop wakes):
  // counted from the due time, each request also holds that lag, so the two counts'
  // means differ by the lag's mean, and it is no count of the same values twice.
  assert.equal(result.errors + result.timeouts, 0);
  const lag = result.issueLagMeanMs!;
  assert.ok(lag > 0 && lag < 5, `issue lag ${lag} ms`);
  assert.ok(result.issueLagMaxMs! >= lag, `largest lag ${result.issueLagMaxMs} ms`);
  assert.ok(
    Math.abs(result.meanMs! - fromIssue.meanMs! - lag) < 1e-6,
    `from due ${result.meanMs} = from issue ${fromIssue.meanMs} + lag ${lag}`,
  );
  assert.ok(fromIssue.p50Ms! < result.p50Ms!, `p50 ${fromIssue.p50Ms} < ${result.p50Ms}`);
});

test('the count from issue is kept only when asked: a second value per request', async (t) => {
  const url = await serve(t, (_req, res) => res.end('ok'));
  const result = await constantRateLoad({
    url,
    rate: 50,
    durationS: 0.2,
    connections: 1,
    timeoutMs: 5000,
  });
  assert.equal(result.ok, 10);
  assert.equal(result.fromIssue, undefined);
  assert.ok(typeof result.issueLagMeanMs === 'number' && result.issueLagMeanMs >= 0);
});

test('two loads in turns, started in step, never send at once; each its exact count', async (t) => {
  // Each server's arrivals by the wall clock, which both processes' schedules share.
  const arrivals: [number[], number[]] = [[], []];
  const urls = await Promise.all(
    arrivals.map((times) =>
      serve(t, (_req, res) => {
        times.push(Date.now());
        res.end('ok');
      }),
    ),
  );
  const GAP_S = 0.2;
  const turns = interleavedTurns(2, 1.2, 0.3, GAP_S);
  const startAtMs = Date.now() + 300;
  const results = await Promise.all(
    urls.map((url, k) =>
      constantRateLoad({
        url,
        rate: 50,
        durationS: 1.2,
        connections: 2,
        timeoutMs: 5000,
        turnsS: turns[k]!,
        startAtMs,
      }),
    ),
  );
  for (const [k, r] of results.entries()) {
    assert.equal(r.ok, 60, `load ${k}`);
    assert.equal(arrivals[k]!.length, 60, `server ${k}`);
    assert.ok(r.startLateMs !== undefined && r.startLateMs < 50, `late ${r.startLateMs} ms`);
    // The rate is the rate within the turns: the gaps between them are left out.
    assert.ok(Math.abs(r.actualRps - 50) / 50 < 0.15, `actual ${r.actualRps} rps`);
  }
  // Every request arrived within one of its load's turns, or late by less than the gap
  // after it (a timer fires late on a busy machine), 15 in each: none while the other
  // load had its turn.
  for (const [k, times] of arrivals.entries()) {
    const inTurn = turns[k]!.map(([from, to]) =>
      times.filter((at) => at >= startAtMs + from * 1000 && at < startAtMs + (to + GAP_S) * 1000),
    );
    assert.deepEqual(
      inTurn.map((x) => x.length),
      [15, 15, 15, 15],
      `load ${k}: ${times.map((at) => at - startAtMs).join(' ')}`,
    );
  }
});

test("in turns, each turn's mean is its own requests': a server that holds every other turn longer", async (t) => {
  // 40 requests/s in turns of 0.3 s: 12 a turn, 25 ms apart, so they reach the server in
  // the order they were due, and after the 10 of the warm-up (a fresh process's first
  // requests are slow) its n-th request is in turn (n - 10) / 12. It holds those of odd
  // turns 12 ms and the others 2 ms, by its own clock.
  const PER_TURN = 12;
  const WARMUP = 10;
  const turns = interleavedTurns(2, 1.2, 0.3, 0.2)[0]!;
  const held: number[][] = turns.map(() => []);
  let n = 0;
  const url = await serve(t, (_req, res) => {
    const turn = Math.floor((n++ - WARMUP) / PER_TURN);
    const arrived = performance.now();
    setTimeout(
      () => {
        held[turn]?.push(performance.now() - arrived); // not the warm-up's, nor the last check's
        res.end('ok');
      },
      turn % 2 ? 12 : 2,
    );
  });
  const result = await constantRateLoad({
    url,
    rate: 40,
    durationS: 1.2,
    connections: 2,
    timeoutMs: 5000,
    turnsS: turns,
    warmupS: WARMUP / 40,
    countFromIssue: true,
  });
  assert.equal(result.ok, 48);
  const heldMeans = held.map((ms) => ms.reduce((a, b) => a + b, 0) / ms.length);
  const fromIssue = result.fromIssue!.turnMeansMs!;
  t.diagnostic(
    `held ${heldMeans.map((m) => m.toFixed(2))}; turns ${fromIssue.map((m) => m?.toFixed(2))}`,
  );
  assert.deepEqual(
    held.map((ms) => ms.length),
    [12, 12, 12, 12],
  );
  assert.equal(fromIssue.length, 4);
  for (const [k, m] of fromIssue.entries()) {
    // The server's hold, plus the round trip on loopback and the client's own work.
    assert.ok(m !== null && m >= heldMeans[k]! && m <= heldMeans[k]! + 3, `turn ${k}: ${m} ms`);
    // From the due time, the timer's lag besides.
    assert.ok(result.turnMeansMs![k]! >= m, `turn ${k} from its due time`);
  }
  // Without turns there are none.
  assert.equal(
    (await constantRateLoad({ url, rate: 40, durationS: 0.1, connections: 1, timeoutMs: 5000 }))
      .turnMeansMs,
    undefined,
  );
});

test('the latencies standard deviation is that of the time the server held them', async (t) => {
  // Held 2 ms and 22 ms in turn: the spread is the server's (10 ms), the rest adds little
  // (one stall of 50 ms among the 200 requests would add 0.6 ms).
  const heldMs: number[] = [];
  let n = 0;
  const url = await serve(t, (_req, res) => {
    const arrived = performance.now();
    setTimeout(
      () => {
        heldMs.push(performance.now() - arrived);
        res.end('ok');
      },
      n++ % 2 ? 22 : 2,
    );
  });
  const result = await constantRateLoad({
    url,
    rate: 100,
    durationS: 2,
    connections: 8,
    timeoutMs: 5000,
    countFromIssue: true,
  });
  const mean = heldMs.reduce((a, b) => a + b, 0) / heldMs.length;
  const sd = Math.sqrt(heldMs.reduce((a, b) => a + (b - mean) ** 2, 0) / (heldMs.length - 1));
  const fromIssue = result.fromIssue!;
  t.diagnostic(`held sd ${sd.toFixed(3)} ms, reported ${fromIssue.stddevMs} ms`);
  assert.ok(sd > 8, `the server's holds spread: sd ${sd} ms`);
  assert.ok(Math.abs(fromIssue.stddevMs! - sd) < 0.2 * sd, `${fromIssue.stddevMs} vs ${sd}`);
  assert.ok(result.stddevMs! > 0);
});

test('busy periods: a server that answers in batches of three has one per batch, warm-up included', async (t) => {
  // The server holds each request until the third of its batch arrives, then answers all
  // three at once: it never has a request of two batches at the same time, so each batch
  // is one busy period there, and 100 ms apart the next batch starts long after the
  // client has read the last one's answers. Answered at once, each request is its own.
  const busyPeriodsWith = async (batch: number) => {
    let waiting: ((body: string) => void)[] = [];
    let served = 0;
    const url = await serve(t, (_req, res) => {
      served++;
      waiting.push((body) => res.end(body));
      if (waiting.length === batch) {
        for (const answer of waiting) answer('ok');
        waiting = [];
      }
    });
    const result = await constantRateLoad({
      url,
      rate: 10,
      durationS: 0.9,
      warmupS: 0.3,
      connections: batch,
      timeoutMs: 5000,
    });
    assert.equal(served, 12);
    assert.equal(result.ok, 9);
    return result.busyPeriods;
  };
  assert.equal(await busyPeriodsWith(3), 4);
  assert.equal(await busyPeriodsWith(1), 12);
});

test('load options are bounded', () => {
  const ok = { url: 'http://127.0.0.1:1/', rate: 10, durationS: 1, connections: 1, timeoutMs: 100 };
  assert.doesNotThrow(() => validateLoadOptions(ok));
  assert.throws(() => validateLoadOptions({ ...ok, rate: 1e6, durationS: 10 }), /above 2000000/);
  assert.throws(() => validateLoadOptions({ ...ok, durationS: 7200 }), /duration above/);
  assert.throws(() => validateLoadOptions({ ...ok, connections: 0 }), /connections/);
  assert.throws(() => validateLoadOptions({ ...ok, rate: -1 }), /positive/);
  assert.doesNotThrow(() =>
    validateLoadOptions({ ...ok, turnsS: [[1, 2]], startAtMs: Date.now() }),
  );
  assert.throws(() => validateLoadOptions({ ...ok, turnsS: [[0, 2]] }), /add up to 2 s/);
  assert.throws(
    () => validateLoadOptions({ ...ok, startAtMs: Date.now() + 3_600_000 }),
    /within 60 s of now/,
  );
});
