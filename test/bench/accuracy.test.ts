// The accuracy benchmark's machinery, small: one server with a known service time, one
// lossy transfer, and two sidecar conditions (haproxy in TCP mode at low load, haproxy in
// HTTP mode reusing upstream connections) against their A/B truth. The ground truths must
// agree with what Tollgate reported end to end (probes, agent, collector), and what the
// benchmark says of its targets must follow from its own numbers.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { STATS } from '../../bench/ab-truth.js';
import { type AccuracyBenchResult, benchAccuracy } from '../../bench/accuracy.js';
import { DEFAULT_ADDED_LATENCY } from '../../bench/added-latency.js';

let r: AccuracyBenchResult;

before(async () => {
  r = await benchAccuracy({
    serviceTimesMs: [5],
    connections: 2,
    requestsPerConnection: 60,
    addedLatency: {
      ...DEFAULT_ADDED_LATENCY,
      conditions: ['tcp_low', 'http_reuse'],
      rounds: 4,
      runSeconds: 1.5,
      runWarmupS: 0.3,
      conditionWarmupS: 1,
    },
  });
});

test('bench accuracy: bytes exact, retransmits as the kernel counts, quantiles recovered', () => {
  assert.equal(r.bytes.length, 4);
  assert.deepEqual(
    r.bytes.map((b) => b.reported),
    [120 * 120, 120 * 700, 120 * 120, 120 * 700],
    'request and response bytes at both ends, exactly',
  );
  assert.equal(r.bytes_exact, true);
  assert.ok(r.retransmits.kernel > 0, 'the rule caused retransmissions');
  assert.equal(r.retransmits.reported, r.retransmits.kernel);
  assert.equal(r.retransmits_match_kernel, true);
  const [exchange] = r.exchange;
  assert.equal(exchange!.requests, 120);
  // 120 samples: p99 is the second largest; the histogram's buckets are ~3% wide.
  assert.ok(r.exchange_p50_rel_error_max <= 0.05, `p50 error ${r.exchange_p50_rel_error_max}`);
  assert.ok(r.exchange_p99_rel_error_max <= 0.05, `p99 error ${r.exchange_p99_rel_error_max}`);
  assert.equal(
    r.targets.met.quantiles,
    r.exchange_p50_rel_error_max <= 0.03 && r.exchange_p99_rel_error_max <= 0.03,
  );
});

test('bench accuracy: every condition has an A/B truth, a noise floor and what Tollgate saw', (t) => {
  for (const c of r.added_latency)
    t.diagnostic(
      `${c.name}: ${STATS.map((s) => `${s} truth ${c.truth[s]} reported ${c.reported[s]} noise ${c.noise_floor_ms[s]}`).join('; ')}; share paired ${c.share_paired}, ${c.requests} requests, ${c.method}`,
    );
  assert.deepEqual(
    r.added_latency.map((c) => c.name),
    ['tcp_low', 'http_reuse'],
  );
  for (const c of r.added_latency) {
    assert.equal(c.rounds, 4);
    assert.deepEqual(
      c.per_round.map((round) => round.order),
      ['AB', 'BA', 'AB', 'BA'],
      'the order flips every round',
    );
    assert.equal(c.load_failures, 0, `${c.name}: every request of the load succeeded`);
    // Each B run's rows are its own: together they are the whole condition's, no more.
    assert.equal(
      c.per_round.reduce((n, round) => n + round.requests, 0),
      c.requests,
      `${c.name}: requests per B run ${c.per_round.map((round) => round.requests)}, ${c.requests} in all`,
    );
    for (const round of c.per_round)
      assert.ok(round.reported.p50_ms !== null, `${c.name}: Tollgate saw every B run`);
    assert.ok(c.truth.p50_ms > 0, `${c.name}: the sidecar adds latency at p50 (${c.truth.p50_ms})`);
    assert.ok(c.truth.mean_ms > 0, `${c.name}: and on average (${c.truth.mean_ms})`);
    for (const s of STATS) {
      assert.ok(Number.isFinite(c.truth[s]), `${c.name} ${s} truth`);
      assert.ok(c.noise_floor_ms[s] >= 0, `${c.name} ${s} noise floor`);
      assert.ok(c.a_spread_ms[s] >= 0, `${c.name} ${s} A - A spread`);
    }
    assert.ok(c.requests > 0, `${c.name}: Tollgate saw the sidecar's requests`);
    assert.ok(
      c.share_paired !== null && c.share_paired >= 0 && c.share_paired <= 1,
      `${c.name}: share paired ${c.share_paired}`,
    );
    assert.equal(
      c.met,
      STATS.every((s) => c.checks[s].met),
    );
  }
  const reuse = r.added_latency.find((c) => c.name === 'http_reuse')!;
  assert.equal(reuse.details.downstream_connections, 32);
  assert.ok(
    Number(reuse.details.upstream_connections_max) < 32,
    `few upstream connections: ${reuse.details.upstream_connections_max}`,
  );
  assert.equal(r.ab_noise_floor, Math.max(...r.added_latency.map((c) => c.noise_floor_ms.p50_ms)));
  assert.equal(
    r.targets.met.added_latency,
    r.added_latency.every((c) => c.met),
  );
});

test('bench accuracy: the reported added latency is within tolerance of the A/B truth (or its noise floor)', () => {
  const misses = r.added_latency.flatMap((c) =>
    STATS.filter((s) => !c.checks[s].met && !c.checks[s].within_noise_floor).map(
      (s) =>
        `${c.name} ${s}: truth ${c.truth[s]}, reported ${c.reported[s]}, tolerance ${c.checks[s].tolerance_ms}, noise floor ${c.noise_floor_ms[s]}`,
    ),
  );
  assert.deepEqual(misses, []);
});
