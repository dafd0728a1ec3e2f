// The process metrics both parts expose count every garbage collection: 20 forced in one
// go (which perf_hooks hands the observer as one list, as it does under load) are 20 in the
// histogram, where prom-client's own counted the first of each list. And prom-client's
// gauges named _total are gone. The event loop's delay: sampled once a second, so an idle
// process is not woken 100 times a second (the kernel's count of its main thread's sleeps),
// and given as the delay, not the time between samples, a scrape leaving no sample unseen
// (a loop held up 1.6 s at once after a scrape).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Registry } from 'prom-client';
import { waitForLine } from '../../lab/spawn.js';
import { collectProcessMetrics } from '../../proto/process-metrics.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

test('every garbage collection is counted, by kind', async () => {
  const registry = new Registry();
  const stop = collectProcessMetrics(registry, 'test_');
  try {
    await new Promise((r) => setTimeout(r, 50));
    const count = async () => {
      const text = await registry.getSingleMetricAsString('test_nodejs_gc_duration_seconds');
      const line = /^test_nodejs_gc_duration_seconds_count\{kind="major"\} (\d+)$/m.exec(text);
      return Number(line?.[1] ?? 0);
    };
    const before = await count();
    for (let i = 0; i < 20; i++) gc();
    await new Promise((r) => setTimeout(r, 200));
    const after = await count();
    assert.ok(after - before >= 20, `${after - before} major collections counted of 20 forced`);
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    assert.equal(names.filter((n) => n.endsWith('_total') && n.includes('active_')).length, 0);
    assert.ok(names.includes('test_nodejs_active_handles'), 'the gauges by type stay');
  } finally {
    stop();
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The kernel's count of the times a thread gave up its CPU to wait (/proc). */
function voluntarySwitches(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
  return Number(/^voluntary_ctxt_switches:\s*(\d+)$/m.exec(status)![1]);
}

test('an idle process with the metrics on sleeps, and is not woken 100 times a second', async (t) => {
  const metrics = new URL('../../proto/process-metrics.ts', import.meta.url).href;
  const child = spawn(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      '--input-type=module',
      '-e',
      `import { Registry } from 'prom-client';
       const { collectProcessMetrics } = await import(${JSON.stringify(metrics)});
       collectProcessMetrics(new Registry(), 'idle_');
       setInterval(() => {}, 60_000);
       console.log('ready');`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], cwd: new URL('../..', import.meta.url) },
  );
  t.after(() => child.kill('SIGKILL'));
  await waitForLine(child, /^ready$/, 'idle metrics', 30_000);
  await sleep(500);
  const before = voluntarySwitches(child.pid!);
  await sleep(3000);
  const sleeps = voluntarySwitches(child.pid!) - before;
  t.diagnostic(`${sleeps} sleeps of the main thread in 3 s`);
  // Sampled every 10 ms, it slept and woke some 300 times here.
  assert.ok(sleeps <= 30, `${sleeps} sleeps in 3 s`);
});

test("the event loop's delay gauges give how late the loop was, a scrape before it too", async () => {
  const registry = new Registry();
  const stop = collectProcessMetrics(registry, 'test_');
  try {
    await sleep(1100);
    // A scrape, and at once the loop held up 1.6 s: a sample falls due within it and runs
    // at its end, 0.6 s late or more. The next, on time, gives the min.
    await registry.metrics();
    const end = Date.now() + 1600;
    while (Date.now() < end);
    await sleep(1100);
    const text = await registry.metrics();
    const read = (stat: string) =>
      Number(new RegExp(`^test_nodejs_eventloop_lag_${stat}_seconds (\\S+)$`, 'm').exec(text)![1]);
    const [min, max] = [read('min'), read('max')];
    assert.ok(min >= 0 && min < 0.3, `min ${min} s`);
    assert.ok(max >= 0.55 && max <= 1.65, `max ${max} s`);
  } finally {
    stop();
  }
});
