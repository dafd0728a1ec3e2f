// The Grafana dashboard shipped in daemonset/grafana: valid JSON with the panels README
// promises, each target on the data source chosen at import (the ${datasource} variable),
// and every metric its PromQL reads present in the /metrics of a real collector holding
// the known mesh. (That Prometheus parses and runs each query: prometheus-quantile.)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { meshBatchWithCost, meshCollector } from '../collector/prometheus-fixture.js';
import {
  DASHBOARD_FILE,
  dashboardQueries,
  type GrafanaDashboard,
  type GrafanaPanel,
  metricNames,
} from './grafana.js';

/** The data source variable, as Grafana spells a reference to it. */
const DATASOURCE = `\${datasource}`;
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as GrafanaDashboard;

test('the tokenizer finds metric names, not functions, labels or variables', () => {
  assert.deepEqual(
    metricNames(
      'histogram_quantile(0.99, sum by (le, pod) (rate(a_bucket{pod=~"$pod",x="rate(b)"}[$__rate_interval]))) / on(pod) group_left c_total offset 5m > bool 1e3',
    ),
    ['a_bucket', 'c_total'],
  );
  assert.deepEqual(metricNames('1000 * sum(x) / (y + z)'), ['x', 'y', 'z']);
  assert.throws(() => metricNames('no_such_function(x)'), /unknown function/);
});

test('the dashboard: panels with titles, targets with expr, every one on the datasource variable', () => {
  assert.ok(dashboard.title && dashboard.uid);
  const variable = dashboard.templating?.list?.find((v) => v.name === 'datasource');
  assert.equal(variable?.type, 'datasource');
  assert.equal(variable?.query, 'prometheus');
  const panels: GrafanaPanel[] = [];
  const visit = (list: readonly GrafanaPanel[]) => {
    for (const p of list) {
      if (p.type !== 'row') panels.push(p);
      visit(p.panels ?? []);
    }
  };
  visit(dashboard.panels ?? []);
  for (const p of panels) {
    assert.ok(p.title, 'a title');
    assert.equal(p.datasource?.uid, DATASOURCE, p.title);
    assert.ok(p.targets?.length, `${p.title} has targets`);
    const refIds = p.targets.map((x) => x.refId);
    assert.equal(new Set(refIds).size, refIds.length, `${p.title}: distinct refIds`);
    for (const target of p.targets) {
      assert.ok(target.expr?.trim(), `${p.title}: an expr`);
      assert.equal(target.datasource?.uid, DATASOURCE, `${p.title}: the target's data source`);
    }
  }
  // What README says the dashboard shows.
  const titles = panels.map((p) => p.title);
  for (const title of [
    'Added latency p50 by pod and direction',
    'Added latency p99 by pod and direction',
    'Sidecar CPU by namespace',
    'Sidecar CPU per 1,000 requests',
    'Sidecar memory per 1,000 requests/s',
    'Agent CPU by node',
    'Agent memory by node',
    'Collector CPU',
    'Collector memory',
    'Lost events',
  ])
    assert.ok(titles.includes(title), `a panel "${title}"`);
  const added = panels.find((p) => p.title === 'Added latency p50 by pod and direction')!;
  assert.match(
    added.targets![0]!.expr!,
    /^histogram_quantile\(0\.5, sum by \(le, namespace, pod, direction\) \(rate\(tollgate_proxy_added_duration_seconds_bucket/,
  );
});

test("every metric the dashboard's queries read is in a real collector's /metrics", async (t) => {
  const mesh = await meshCollector(t);
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 10_000;
  await mesh.ship([meshBatchWithCost(1, t0), meshBatchWithCost(2, t0 + 1000)]);
  // The names of the samples served (a histogram's as _bucket, _sum and _count).
  const served = new Set(
    (await mesh.metrics())
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.match(/^[a-zA-Z_:][a-zA-Z0-9_:]*/)![0]),
  );
  const queries = dashboardQueries(dashboard);
  const read = new Set<string>();
  for (const { panel, expr } of queries) {
    const names = metricNames(expr);
    assert.ok(names.length > 0, `${panel}: reads a metric`);
    for (const name of names) {
      assert.ok(served.has(name), `${panel}: ${name} is not in /metrics`);
      read.add(name);
    }
  }
  // The three parts README names: mesh cost, per 1,000 requests, Tollgate's own.
  for (const name of [
    'tollgate_proxy_added_duration_seconds_bucket',
    'tollgate_requests_total',
    'tollgate_process_cpu_seconds_total',
    'tollgate_process_resident_memory_bytes',
    'tollgate_agent_cpu_seconds_total',
    'tollgate_agent_resident_memory_bytes',
    'tollgate_agent_lost_total',
    'tollgate_collector_process_cpu_seconds_total',
    'tollgate_collector_process_resident_memory_bytes',
  ])
    assert.ok(read.has(name), `the dashboard reads ${name}`);
});
