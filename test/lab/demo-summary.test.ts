// The demo's check of the headline against its own A/B: the sidecars' added latency summed
// along the path, replicas weighted by the requests each took, against the load
// generator's end-to-end difference. Pure, on synthesised measurements.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LoadResult } from '../../daemonset/load/load.js';
import { type PodMeasurement, summarize } from '../../lab/demo-summary.js';
import type { DirectionCost, PodCost } from '../../proto/api.js';
import { fromValues } from '../../proto/histogram.js';

const load = (latenciesMs: number[]): LoadResult => {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    url: 'http://x/',
    rate: 100,
    durationS: 1,
    sent: sorted.length,
    ok: sorted.length,
    errors: 0,
    timeouts: 0,
    actualRps: 100,
    latency: fromValues(sorted.map((ms) => ms * 1e6)),
    p50Ms: sorted[Math.ceil(sorted.length / 2) - 1]!,
    p90Ms: sorted[Math.ceil(sorted.length * 0.9) - 1]!,
    p99Ms: sorted[Math.ceil(sorted.length * 0.99) - 1]!,
  };
};

const direction = (requests: number, p50Ms: number, meanMs: number): DirectionCost => {
  const stats = { count: requests, p50Ms, p90Ms: p50Ms, p99Ms: p50Ms, meanMs };
  return {
    requests,
    unpaired: 0,
    exchanges: requests,
    coverage: 1,
    method: 'arrival-to-forward, joint',
    unmatchedForwards: 0,
    arrivalUnknown: 0,
    addedLatency: stats,
    requestHop: stats,
    responseHop: stats,
    overheadShare: null,
    downstreamLatency: stats,
  };
};

const pod = (name: string, inbound: DirectionCost | null, outbound: DirectionCost | null) => {
  const usage = { cpuUserNs: 0, cpuSystemNs: 0, rssBytes: 0 };
  const profile = { name, inbound, outbound } as PodCost;
  return {
    name,
    meshed: true,
    requests: 1,
    app: { before: usage, after: usage },
    profile,
  } satisfies PodMeasurement;
};

const PATH = [
  { replicas: ['front'], direction: 'outbound' },
  { replicas: ['back-1', 'back-2'], direction: 'inbound' },
] as const;

test('the sidecars along the path sum, replicas weighted by their requests', () => {
  const pods = [
    pod('front', null, direction(400, 0.5, 0.6)),
    // 100 requests at 0.2 ms and 300 at 0.6 ms: 0.5 ms for the crossing on average.
    pod('back-1', direction(100, 0.2, 0.2), null),
    pod('back-2', direction(300, 0.6, 0.6), null),
  ];
  const s = summarize(
    'lab',
    load(Array.from({ length: 100 }, (_, i) => 3 + i / 100)),
    load(Array.from({ length: 100 }, (_, i) => 2 + i / 100)),
    pods,
    { millicores: null, rssMb: null, lostEvents: 0 },
    'http://127.0.0.1:1',
    PATH,
  );
  assert.equal(s.chain.crossings, 2);
  assert.deepEqual(s.chain.sidecar_sum_ms, { p50: 1, mean: 1.1 });
  assert.equal(s.chain.end_to_end_added_ms.p50, 1);
  // The histogram mean carries the layout's bucket error (about 3%).
  assert.ok(Math.abs(s.chain.end_to_end_added_ms.mean! - 1) < 0.05);
  assert.equal(s.chain.unexplained_ms.p50, 0);
});

test('a crossing with no figure leaves the sum unknown, not short', () => {
  const s = summarize(
    'lab',
    load([3]),
    load([2]),
    [pod('front', null, direction(10, 0.5, 0.6))],
    { millicores: null, rssMb: null, lostEvents: 0 },
    'http://127.0.0.1:1',
    PATH,
  );
  assert.deepEqual(s.chain.sidecar_sum_ms, { p50: null, mean: null });
  assert.deepEqual(s.chain.unexplained_ms, { p50: null, mean: null });
});
