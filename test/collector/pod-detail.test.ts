// A pod's detail: its sidecar's added latency per exchange as histograms per direction,
// holding every exchange the hops reported, read through the collector's reader and its
// HTTP route.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { totalCount as count, quantile, type SparseHistogram } from '../../proto/histogram.js';
import { collectorWithShipper } from './fixture.js';
import { latencies, meshBatch, PER_INTERVAL } from './mesh-batches.js';

const TOKEN = 'pod-detail-token';

test("a pod's detail holds its sidecar's added latency per exchange, per direction", async (t) => {
  const { collector, shipper } = await collectorWithShipper(t, { token: TOKEN });
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 10_000;
  for (const i of [1, 2]) shipper.send(meshBatch(i, t0 + (i - 1) * 1000));
  assert.ok(await shipper.flush(5000), 'batches stored');

  const get = (path: string) =>
    fetch(`${collector.httpUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const r = await get('/api/pods/shop/pod-b?window=600');
  assert.equal(r.status, 200);
  const detail = (await r.json()) as {
    pod: { id: string };
    cost: { inbound: { exchanges: number } | null };
    addedHistograms: {
      inbound: SparseHistogram;
      outbound: SparseHistogram;
    };
  };
  assert.equal(detail.pod.id, 'pod:shop/pod-b');
  // pod-b's sidecar reported each interval's exchanges inbound, none outbound.
  assert.equal(count(detail.addedHistograms.inbound), 2 * PER_INTERVAL.exchanges);
  assert.equal(count(detail.addedHistograms.inbound), detail.cost.inbound?.exchanges);
  assert.equal(count(detail.addedHistograms.outbound), 0);
  // Its median is the median of what the hops summed (request + response hop), within
  // the histogram's error.
  const sums = [1, 2].flatMap((i) => {
    const request = latencies(i, 250_000, PER_INTERVAL.exchanges);
    const response = latencies(i + 2, 150_000, PER_INTERVAL.exchanges);
    return request.map((ns, k) => ns + response[k]!);
  });
  sums.sort((a, b) => a - b);
  const truth = sums[Math.floor(sums.length / 2)]!;
  const p50 = quantile(detail.addedHistograms.inbound, 0.5)!;
  assert.ok(Math.abs(p50 - truth) <= 0.05 * truth, `p50 ${p50} ns, truth ${truth} ns`);
  assert.equal((await get('/api/pods/shop/no-such-pod?window=600')).status, 404);
});
