// The process metrics both parts expose count every garbage collection: 20 forced in one
// go (which perf_hooks hands the observer as one list, as it does under load) are 20 in the
// histogram, where prom-client's own counted the first of each list. And prom-client's
// gauges named _total are gone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Registry } from 'prom-client';
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
