// The benchmark table README shows is the one bench/results/latest.json gives, and the
// table says "no" exactly where a target is missed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CONDITIONS } from '../../bench/added-latency.js';
import {
  type BenchReport,
  renderAccuracyTable,
  renderResultsTable,
} from '../../bench/results-table.js';

const repo = new URL('../..', import.meta.url);

test("README's benchmark table is bench/results/latest.json's, rendered", () => {
  const report = JSON.parse(
    readFileSync(new URL('bench/results/latest.json', repo), 'utf8'),
  ) as BenchReport;
  const readme = readFileSync(new URL('README.md', repo), 'utf8');
  const block = /<!-- bench-table:begin -->\n([\s\S]*?)\n<!-- bench-table:end -->/.exec(readme);
  assert.ok(block, 'README has the bench-table markers');
  assert.equal(
    block[1],
    renderResultsTable(report),
    'run `node bin/tollgate.js bench all` and paste its table',
  );
  for (const name of ['overhead', 'accuracy', 'ingest', 'ui', 'probes'])
    assert.ok(report.results[name] && !('error' in report.results[name]!), `${name} ran`);
  const accuracy = /<!-- accuracy-table:begin -->\n([\s\S]*?)\n<!-- accuracy-table:end -->/.exec(
    readme,
  );
  assert.ok(accuracy, 'README has the accuracy-table markers');
  assert.equal(accuracy[1], renderAccuracyTable(report), 'and its table of the conditions');
  // The run's conditions: every one the bench has (a run of fewer is no `bench all`).
  const conditions = (report.results.accuracy as { added_latency?: unknown[] }).added_latency ?? [];
  assert.equal(conditions.length, CONDITIONS.length, "the run's accuracy has every condition");
  assert.equal(
    accuracy[1].split('\n').filter((l) => l.startsWith('| (')).length,
    conditions.length,
    'every condition of the run has its row',
  );
});

test('the conditions table: each figure truth / Tollgate, and which met', () => {
  const stats = (p50: number, p90: number, p99: number, mean: number) => ({
    p50_ms: p50,
    p90_ms: p90,
    p99_ms: p99,
    mean_ms: mean,
  });
  const met = (p50: boolean, p90: boolean, p99: boolean, mean: boolean) => ({
    p50_ms: { met: p50 },
    p90_ms: { met: p90 },
    p99_ms: { met: p99 },
    mean_ms: { met: mean },
  });
  const condition = (name: string, checks: ReturnType<typeof met>) => ({
    name,
    description: `the ${name} setup`,
    rate_rps: 311,
    truth: stats(0.2083, 0.209, 1.52, 0.212),
    reported: { p50_ms: 0.095, p90_ms: null, p99_ms: 1.612, mean_ms: 0.2017 },
    noise_floor_ms: stats(0.4509, 0.5, 3.3, 0.4592),
    share_paired: 0.99087,
    requests: 21977,
    checks,
  });
  const run = {
    ran_at: '2026-11-22T10:00:00Z',
    commit: 'abcdef0123',
    machine: { cpu: 'CPU', cores: 2, memory_gb: 24, kernel: '6.1', node: '20.20.0' },
  };
  const table = renderAccuracyTable({
    ...run,
    results: {
      accuracy: {
        added_latency: [
          condition('http_reuse', met(true, true, true, true)),
          condition('tcp_low', met(false, true, true, false)),
          condition('somewhere_new', met(false, false, false, false)),
          { name: 'broken' },
        ],
      },
    },
  });
  const rows = table.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| condition'));
  assert.match(table, /^From the run of 2026-11-22 at abcdef0;/);
  assert.equal(rows.length, 3, 'a row without its figures is left out');
  // By letter, (a) before (c); a condition without one last.
  assert.equal(
    rows[0],
    '| (a) `tcp_low`: the tcp_low setup, 311 req/s | 0.208 / 0.095 | 0.209 / - | 1.52 / 1.61 | 0.212 / 0.202 | 0.451, 0.459 | 21,977 | 99.1% | p90, p99 |',
  );
  assert.match(rows[1]!, /^\| \(c\) `http_reuse`: .* \| all \|$/);
  assert.match(rows[2]!, /^\| `somewhere_new`: .* \| none \|$/);
  assert.equal(renderAccuracyTable({ ...run, results: {} }), '', 'no table without conditions');
});

test('targets met and missed, and a failed benchmark, are shown as such', () => {
  const table = renderResultsTable({
    ran_at: '2026-11-22T10:00:00Z',
    commit: 'abcdef0123',
    machine: { cpu: 'CPU', cores: 2, memory_gb: 24, kernel: '6.1', node: '20.20.0' },
    results: {
      overhead: {
        throughput_ratio: 0.9,
        agent_millicores: 40,
        node_millicores: 140,
        p99_added_ms: 0.2,
        targets: { met: { p99: true } },
      },
      accuracy: {
        bytes_exact: false,
        added_latency_p50_rel_error_max: 0.12,
        added_latency_p99_rel_error_max: 0.45,
        added_latency_mean_rel_error_max: 0.08,
        ab_noise_floor: 0.05,
        targets: {
          met: { added_latency_p50: true, added_latency_p99: false, added_latency_mean: true },
        },
      },
      ui: { error: 'no browser' },
    },
  });
  const row = (key: string) => table.split('\n').find((l) => l.includes(`| ${key} |`));
  assert.match(table, /^Ran 2026-11-22 at abcdef0 on CPU, 2 cores, 24 GB/);
  assert.match(row('throughput_ratio')!, /\| 0\.9 \| >= 0\.97 \| \*\*no\*\* \|$/);
  // The CPU target judges the node's total (agent and kernel), not the agent's share.
  assert.match(row('agent_millicores')!, /\| 40 \| {2}\| {2}\|$/);
  assert.match(row('node_millicores')!, /\| 140 \| <= 100 \| \*\*no\*\* \|$/);
  assert.match(row('p99_added_ms')!, /\| yes \|$/);
  assert.match(row('bytes_exact')!, /\| false \| true \| \*\*no\*\* \|$/);
  assert.match(row('error')!, /^\| ui \| error \| no browser \|/);
  assert.match(
    row('added_latency_p50_rel_error_max')!,
    /\| 0\.12 \| <= 0\.15 \(or 20 us\) \| yes \|$/,
  );
  assert.match(row('added_latency_p99_rel_error_max')!, /\| 0\.45 \| <= 0\.30 \| \*\*no\*\* \|$/);
  assert.match(
    row('added_latency_mean_rel_error_max')!,
    /\| 0\.08 \| <= 0\.15 \(or 20 us\) \| yes \|$/,
  );
  assert.equal(row('added_latency_p90_rel_error_max'), undefined);
  assert.match(row('ab_noise_floor')!, /\| 0\.05 \| {2}\| {2}\|$/);
  assert.equal(row('added_latency_rel_error_max'), undefined, 'a key the result lacks has no row');
  assert.equal(row('p50_ratio'), undefined);
  assert.equal(row('records_per_s_per_core'), undefined, 'a benchmark not run has no rows');
});
