// Debian's Prometheus scrapes the collector with the scrape job README gives, while known
// batches (mesh-batches.ts) arrive, and the quantile a user would ask it for agrees with
// the collector's own API:
//   histogram_quantile(0.5, sum by (le, pod, direction)
//     (increase(tollgate_proxy_added_duration_seconds_bucket[window])))
// against PodCost.{inbound,outbound}.addedLatency.p50Ms for the same batches. Prometheus
// interpolates linearly inside the bucket that holds the median, so its answer is only
// known to lie in that bucket: the bound is that bucket's width, read from the buckets.
// The same instance then runs every query of the Grafana dashboard: each must parse.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { PodCost } from '../../proto/api.js';
import { bucketBounds, bucketIndex } from '../../proto/histogram.js';
import { DASHBOARD_FILE, dashboardQueries, type GrafanaDashboard } from '../daemonset/grafana.js';
import {
  type QueryAnswer,
  shippedScrapeJob,
  startPrometheus,
  until,
} from '../prometheus-server.js';
import { latencies, PER_INTERVAL } from './mesh-batches.js';
import { meshBatchWithCost, meshCollector, READ_TOKEN } from './prometheus-fixture.js';

/** Batches 2..LAST are the ones Prometheus sees arrive; batch 1 makes the series exist. */
const LAST = 6;
const FAMILY = 'tollgate_proxy_added_duration_seconds';

/** Each sidecar's added latencies (ns) in interval i, as mesh-batches.ts makes them. */
const ADDED: Record<
  string,
  { direction: 'inbound' | 'outbound'; values: (i: number) => number[] }
> = {
  'pod-a': {
    direction: 'outbound',
    values: (i) => {
      const response = latencies(i + 1, 100_000, PER_INTERVAL.exchanges);
      return latencies(i, 200_000, PER_INTERVAL.exchanges).map((v, k) => v + response[k]!);
    },
  },
  'pod-b': {
    direction: 'inbound',
    values: (i) => {
      const response = latencies(i + 2, 150_000, PER_INTERVAL.exchanges);
      return latencies(i, 250_000, PER_INTERVAL.exchanges).map((v, k) => v + response[k]!);
    },
  },
};

function vector(answer: QueryAnswer, what: string) {
  assert.equal(answer.status, 'success', `${what}: ${answer.error}`);
  return answer.data!.result.map((r) => ({ metric: r.metric, value: Number(r.value![1]) }));
}

test('Prometheus, scraping as README says, gives the API p50 of added latency within a bucket', async (t) => {
  const mesh = await meshCollector(t);
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
  await mesh.ship([meshBatchWithCost(1, t0)]);

  const prometheus = await startPrometheus(t, ({ file }) => [
    shippedScrapeJob(mesh.target, file('tollgate-token', READ_TOKEN)),
  ]);
  const count = `${FAMILY}_count{job="tollgate-collector",pod="pod-a"}`;
  /** The samples Prometheus holds of pod-a's count over the last minute: [ms, value]. */
  const samples = async () => {
    const r = await prometheus.query(`${count}[1m]`);
    assert.equal(r.status, 'success', r.error);
    return (r.data!.result[0]?.values ?? []).map(([s, v]) => [Math.round(s * 1000), Number(v)]);
  };
  const first = PER_INTERVAL.exchanges;
  const before = await until('a scrape of batch 1', async () => {
    const s = await samples();
    return s.at(-1)?.[1] === first ? s.at(-1)![0] : undefined;
  });
  await mesh.ship(
    Array.from({ length: LAST - 1 }, (_, k) => meshBatchWithCost(k + 2, t0 + (k + 1) * 1000)),
  );
  const all = LAST * PER_INTERVAL.exchanges;
  const after = await until(
    'a scrape of batches 2..6',
    async () => {
      const s = await samples();
      return s.at(-1)?.[1] === all ? s.at(-1)![0] : undefined;
    },
    20_000,
  );

  // The window runs from the scrape before the batches to the one after, both sample
  // times exactly: Prometheus 2.x takes both ends in, so increase() is exact (no
  // extrapolation, which would scale each bucket differently).
  const window = `[${after - before}ms]`;
  const at = async (expr: string) => vector(await prometheus.query(expr, after), expr);
  const increases = await at(`sum by (le, pod, direction) (increase(${FAMILY}_bucket${window}))`);
  const p50s = await at(
    `histogram_quantile(0.5, sum by (le, pod, direction) (increase(${FAMILY}_bucket${window})))`,
  );
  const costs = await mesh.api<PodCost[]>(`/api/pods?from=${t0 + 1000}&to=${t0 + LAST * 1000}`);

  for (const [pod, { direction, values }] of Object.entries(ADDED)) {
    const cost = costs.find((c) => c.name === pod)?.[direction];
    assert.ok(cost, `${pod} has ${direction} cost`);
    const n = (LAST - 1) * PER_INTERVAL.exchanges;
    assert.equal(cost.addedLatency.count, n, 'the API counts batches 2..6, as Prometheus does');
    const api = cost.addedLatency.p50Ms!;

    // The cumulative buckets of the increase, and the one holding rank 0.5 n.
    const buckets = increases
      .filter((x) => x.metric.pod === pod && x.metric.direction === direction)
      .map((x) => ({ le: x.metric.le === '+Inf' ? Infinity : Number(x.metric.le), count: x.value }))
      .sort((a, b) => a.le - b.le);
    assert.equal(buckets.at(-1)!.count, n, `${pod}: the +Inf bucket counts batches 2..6 exactly`);
    const holding = buckets.findIndex((b) => b.count >= 0.5 * n);
    const lowerMs = holding === 0 ? 0 : buckets[holding - 1]!.le * 1000;
    const upperMs = buckets[holding]!.le * 1000;
    assert.ok(Number.isFinite(upperMs), `${pod}: the median is in a finite bucket`);

    const prom = p50s.find((x) => x.metric.pod === pod && x.metric.direction === direction);
    assert.ok(prom, `${pod} ${direction}: Prometheus has a quantile`);
    const promMs = prom.value * 1000;
    assert.ok(
      promMs >= lowerMs && promMs <= upperMs,
      `${pod}: ${promMs} in (${lowerMs}, ${upperMs}]`,
    );
    assert.ok(
      Math.abs(promMs - api) <= upperMs - lowerMs,
      `${pod} ${direction}: Prometheus ${promMs} ms, API ${api} ms, bound ${upperMs - lowerMs} ms`,
    );

    t.diagnostic(
      `${pod} ${direction}: Prometheus ${promMs.toFixed(3)} ms, API ${api} ms, bucket (${lowerMs}, ${upperMs}] ms`,
    );

    // Ground truth: the true median of the values sent lies in that bucket, give or take
    // the one fine bucket of the agent's histogram it was counted in.
    const sent = Array.from({ length: LAST - 1 }, (_, k) => values(k + 2))
      .flat()
      .sort((a, b) => a - b);
    const median = sent[Math.ceil(0.5 * n) - 1]!;
    const [fineLower, fineUpper] = bucketBounds(
      'HISTOGRAM_LAYOUT_LOG_LINEAR_16',
      bucketIndex(median),
    );
    assert.ok(
      fineUpper / 1e6 >= lowerMs && fineLower / 1e6 <= upperMs,
      `${pod}: the true median ${median / 1e6} ms is in Prometheus's bucket (${lowerMs}, ${upperMs}]`,
    );
  }

  await t.test('every query of the Grafana dashboard parses and runs', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as GrafanaDashboard;
    const queries = dashboardQueries(dashboard);
    assert.ok(queries.length > 0);
    for (const { panel, expr } of queries) {
      // Grafana's variables as Grafana would fill them in.
      const filled = expr
        .replaceAll('$__rate_interval', '1m')
        .replaceAll('$__range', '5m')
        .replaceAll('$__interval', '15s')
        .replace(/\$\{?namespace\}?/g, '.*')
        .replace(/\$\{?pod\}?/g, '.*');
      const r = await prometheus.query(filled, after);
      assert.equal(r.status, 'success', `${panel}: ${filled}: ${r.error}`);
    }
  });
});
