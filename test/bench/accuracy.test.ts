// The accuracy benchmark's machinery, small: one server with a known service time, one
// sidecar with a known delay, one lossy transfer. The ground truths must agree with what
// Tollgate reported end to end (probes, agent, collector), and what the benchmark says
// of its targets must follow from its own numbers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchAccuracy } from '../../bench/accuracy.js';

test('bench accuracy: bytes exact, retransmits as the kernel counts, delay and quantiles recovered', async (t) => {
  const r = await benchAccuracy({
    serviceTimesMs: [5],
    delaysMs: [2],
    connections: 2,
    requestsPerConnection: 60,
  });
  t.diagnostic(JSON.stringify(r));
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
  const [added] = r.added_latency;
  assert.equal(added!.injected_ms, 4, '2 ms each way');
  assert.ok(added!.held_ms >= 4, 'the proxy held at least what it was told');
  assert.ok(
    r.targets.met.added_latency,
    `added ${added!.reported_ms} vs held ${added!.held_ms} ms`,
  );
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
