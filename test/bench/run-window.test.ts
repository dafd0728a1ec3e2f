// A run's measured part and the rows read for it: the rows are whole seconds that start
// at least `clearMs` after the measured part does (so they hold none of the warm-up) and
// lose no more of it than that, a millisecond and one interval of the rate; a late start moves them with
// it. The last test runs the real open-loop schedule and checks that its first counted
// request is due where the plan says the measured part begins.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstRowMs, measuredFromMs, planRun, ROW_MS } from '../../bench/run-window.js';
import { openLoop, type RequestTransport } from '../../daemonset/load/load.js';

const OPTIONS = { startAllowanceMs: 1500, minWarmupS: 0.3, clearMs: 200 };

test('a worked example: the warm-up runs to 200 ms before the next whole second', () => {
  // Spawned at 10,000.25 s: the schedule starts at 10,001.75, the warm-up's 0.3 s would
  // end at 10,002.05, and 200 ms past that the next whole second is 10,003. So the
  // measured part starts at 10,002.799 at the latest: 326 requests at 311/s (1,048.2 ms).
  const plan = planRun(10_000_250, 311, OPTIONS);
  assert.equal(plan.startAtMs, 10_001_750);
  assert.equal(Math.round(plan.warmupS * 311), 326);
  const measured = measuredFromMs(plan, 311, 0);
  assert.ok(Math.abs(measured - 10_002_798.2) < 0.1, String(measured));
  assert.equal(firstRowMs(measured, 200), 10_003_000);
});

test('rows hold no warm-up and lose at most the clearance, a millisecond and one interval', () => {
  // Whole-millisecond starts too: a warm-up that ends exactly on its planned end in exact
  // arithmetic can end a hair past it in floating point (2,452/s put a run's rows a whole
  // second late so).
  for (const rate of [1, 97, 311, 1778, 2452, 2983])
    for (let now = 1_700_000_000_000; now < 1_700_000_002_000; now += 0.5) {
      const plan = planRun(now, rate, OPTIONS);
      assert.ok(plan.startAtMs >= now + OPTIONS.startAllowanceMs);
      assert.ok(plan.warmupS >= OPTIONS.minWarmupS - 1 / rate - 1e-9, `${rate} ${now}`);
      const measured = measuredFromMs(plan, rate, 0);
      const row = firstRowMs(measured, OPTIONS.clearMs);
      assert.equal(row % ROW_MS, 0);
      assert.ok(row - measured >= OPTIONS.clearMs, `${rate} ${now}: ${row - measured}`);
      assert.ok(row - measured <= OPTIONS.clearMs + 1 + 1000 / rate + 1e-6, `${rate} ${now}`);
    }
});

test('a generator that comes up late moves the measured part and the rows with it', () => {
  const plan = planRun(10_000_250, 311, OPTIONS);
  const onTime = measuredFromMs(plan, 311, 0);
  assert.equal(measuredFromMs(plan, 311, 640), onTime + 640);
  assert.equal(measuredFromMs(plan, 311, undefined), onTime);
  const row = firstRowMs(onTime + 640, OPTIONS.clearMs);
  assert.ok(row - (onTime + 640) >= OPTIONS.clearMs && row % ROW_MS === 0);
});

test('bad rates are refused', () => {
  assert.throws(() => planRun(0, 0, OPTIONS), /rate must be positive/);
  assert.throws(() => planRun(0, Number.NaN, OPTIONS), /rate must be positive/);
});

test("the open-loop schedule's first counted request is due where the plan's measured part begins", async () => {
  const rate = 200;
  const plan = planRun(Date.now(), rate, { startAllowanceMs: 50, minWarmupS: 0.1, clearMs: 200 });
  // Due times on the epoch clock, as the transport is handed them.
  const dueEpochMs: number[] = [];
  const transport: RequestTransport = {
    send(dueAt, end) {
      dueEpochMs.push(performance.timeOrigin + dueAt);
      end('ok');
    },
    destroy() {},
  };
  const result = await openLoop(
    'test',
    { rate, durationS: 0.05, timeoutMs: 1000, warmupS: plan.warmupS, startAtMs: plan.startAtMs },
    transport,
  );
  assert.equal(result.ok, 10);
  const warmupRequests = dueEpochMs.length - result.ok;
  assert.equal(warmupRequests, Math.round(plan.warmupS * rate));
  const firstCounted = dueEpochMs[warmupRequests]!;
  const measured = measuredFromMs(plan, rate, result.startLateMs);
  // The two clocks (Date's and performance's) agree to within a millisecond or two.
  assert.ok(Math.abs(firstCounted - measured) < 3, `${firstCounted - measured} ms`);
  assert.ok(firstRowMs(measured, 200) - firstCounted >= 197);
});
