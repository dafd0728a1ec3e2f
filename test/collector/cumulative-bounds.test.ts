// The Prometheus side's memory does not grow with time: short-lived processes are
// forgotten (their CPU kept in the pod's total, their memory out of the gauge) and label
// sets past the cap replace the one idle longest. The figures are known by construction:
// 1,000 jobs of 10 ms CPU and 1 MB each, one per second, beside one long-lived process.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CumulativeMetrics } from '../../collector/metrics/cumulative.js';
import { Batch } from '../../proto/gen/tollgate/v1.js';

const MB = 2 ** 20;

function batch(pod: string, procs: { pid: number; cpuNs: number; rss: number }[]): Batch {
  return Batch.decode(
    Batch.encode({
      node: 'node-1',
      agentId: 'agent-1',
      bootId: 'boot-1',
      sequence: 1,
      processes: procs.map(({ pid }) => ({
        ref: { pid, startTimeTicks: 7 },
        comm: 'job',
        pod: { namespace: 'shop', name: pod, source: 'POD_SOURCE_NETNS' as const },
        role: 'ROLE_APP' as const,
      })),
      resources: procs.map(({ pid, cpuNs, rss }) => ({
        process: { pid, startTimeTicks: 7 },
        cpuUserNs: cpuNs,
        cpuSystemNs: 0,
        rssBytes: rss,
        source: 'RESOURCE_SOURCE_PROC' as const,
      })),
    }),
  );
}

/** One sample's value from the exposition. */
function sample(text: string, name: string, pod: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`pod="${pod}"`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('short-lived processes are forgotten; the pod keeps their CPU, the gauge drops their memory', () => {
  const metrics = new CumulativeMetrics({ memoryWindowMs: 10_000, processTtlMs: 60_000 });
  const t0 = 1_000_000;
  let maxTracked = 0;
  for (let s = 1; s <= 1000; s++) {
    metrics.add(
      batch('jobs', [
        { pid: 1, cpuNs: s * 1e6, rss: 50 * MB }, // long-lived: 1 ms of CPU a second
        { pid: 1000 + s, cpuNs: 10e6, rss: MB }, // a job, seen once
      ]),
      t0 + s * 1000,
    );
    maxTracked = Math.max(maxTracked, metrics.size.processes);
  }
  const text = metrics.exposition(t0 + 1000 * 1000);
  // 1,000 jobs x 10 ms + 1,000 ms of the long-lived one.
  assert.equal(sample(text, 'tollgate_process_cpu_seconds_total', 'jobs'), 11);
  // The long-lived one and the jobs of the last 10 s.
  assert.equal(sample(text, 'tollgate_process_resident_memory_bytes', 'jobs'), 60 * MB);
  assert.ok(
    maxTracked <= 1 + 70,
    `${maxTracked} processes tracked at most (ttl 60 s, swept every 10 s)`,
  );
  // Idle past the memory window: out of the gauge, still in the CPU total.
  const later = metrics.exposition(t0 + 1020 * 1000);
  assert.equal(sample(later, 'tollgate_process_resident_memory_bytes', 'jobs'), 0);
  assert.equal(sample(later, 'tollgate_process_cpu_seconds_total', 'jobs'), 11);
});

test('at the series cap the label set idle longest makes way; if none is idle, the new one is dropped', () => {
  const metrics = new CumulativeMetrics({ maxSeries: 3, idleMs: 60_000 });
  const one = (pod: string, atMs: number) =>
    metrics.add(batch(pod, [{ pid: pod.charCodeAt(0), cpuNs: 1e9, rss: MB }]), atMs);
  one('a', 0);
  one('b', 0);
  one('c', 0);
  one('d', 30_000);
  assert.equal(metrics.droppedSeries, 1, 'none idle for 60 s: d is dropped');
  assert.equal(metrics.evictedSeries, 0);
  one('b', 30_000);
  one('c', 30_000);
  one('d', 70_000);
  assert.equal(metrics.evictedSeries, 1, 'a, idle 70 s, makes way');
  assert.equal(metrics.droppedSeries, 1);
  const text = metrics.exposition(70_000);
  assert.equal(sample(text, 'tollgate_process_cpu_seconds_total', 'a'), undefined);
  for (const pod of ['b', 'c', 'd'])
    assert.equal(sample(text, 'tollgate_process_cpu_seconds_total', pod), 1, pod);
  assert.match(text, /^tollgate_metrics_series_evicted_total 1$/m);
  assert.equal(metrics.size.series, 3);
});
