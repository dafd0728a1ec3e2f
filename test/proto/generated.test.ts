// The checked-in generated files must be what the .proto files and the metric table
// tables (proto/edge-metrics.ts, hop-metrics.ts, loss-metrics.ts) generate today.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EDGE_METRICS, type EdgeMetric } from '../../proto/edge-metrics.js';
import { generate, generatedPath } from '../../proto/generate.js';
import {
  countersHeader,
  countersHeaderPath,
  reportProtoPath,
  withEdgeCounters,
  withHopCounters,
} from '../../proto/generate-metrics.js';
import { HOP_METRICS, HOP_REPORT_COUNTERS } from '../../proto/hop-metrics.js';
import { LOSS_METRICS } from '../../proto/loss-metrics.js';

const protoDir = new URL('../../proto', import.meta.url).pathname;

test('proto/gen is current: run `npm run gen:proto` after changing a .proto', () => {
  assert.equal(readFileSync(generatedPath, 'utf8'), generate());
});

test('a .proto change without regeneration is detected', (t) => {
  const copy = mkdtempSync(join(tmpdir(), 'tollgate-proto-'));
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(join(protoDir, 'tollgate'), join(copy, 'tollgate'), { recursive: true });
  const file = join(copy, 'tollgate', 'v1', 'histogram.proto');
  writeFileSync(
    file,
    readFileSync(file, 'utf8').replace(
      'uint64 sum_ns = 4;',
      'uint64 sum_ns = 4;\n  uint64 max_ns = 5;',
    ),
  );
  const changed = generate(copy);
  assert.notEqual(changed, readFileSync(generatedPath, 'utf8'));
  assert.match(changed, /maxNs: number;/);
});

test("the counter tables' C header and .proto blocks are current: run `npm run gen:proto`", () => {
  // Compared whole, reported by name: the files are long.
  assert.ok(readFileSync(countersHeaderPath, 'utf8') === countersHeader(), 'counters.h is stale');
  const proto = readFileSync(reportProtoPath, 'utf8');
  assert.ok(withEdgeCounters(proto) === proto, "report.proto's block of edge counters is stale");
  assert.ok(withHopCounters(proto) === proto, "report.proto's block of hop counters is stale");
});

test('a counter added to the metric table reaches the kernel struct, the layout list and the wire', (t) => {
  const added: EdgeMetric = {
    name: 'zero_windows',
    ts: 'zeroWindows',
    doc: 'Times the peer advertised a zero receive window.',
    wire: { counter: 29, since: 18 },
    view: { label: 'zero windows', unit: 'count' },
  };
  const metrics = [...EDGE_METRICS, added];
  const header = countersHeader({ edge: metrics, hop: HOP_METRICS, loss: LOSS_METRICS });
  assert.match(header, /\t__u64 zero_windows;\n\};/, 'the last field of struct tg_edge_stats');
  assert.match(header, /X\(forwarded_exchanges\) X\(zero_windows\)$/m);
  const copy = mkdtempSync(join(tmpdir(), 'tollgate-proto-'));
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(join(protoDir, 'tollgate'), join(copy, 'tollgate'), { recursive: true });
  const report = join(copy, 'tollgate', 'v1', 'report.proto');
  writeFileSync(report, withEdgeCounters(readFileSync(report, 'utf8'), metrics));
  assert.match(
    readFileSync(report, 'utf8'),
    /uint64 zero_windows = 29;\n {2}\/\/ END edge counters/,
  );
  assert.match(generate(copy), /zeroWindows: number;/);
});

test('a hop counter and a loss cause added to their tables reach the kernel structs and the wire', (t) => {
  const header = countersHeader({
    edge: EDGE_METRICS,
    hop: [
      ...HOP_METRICS,
      { name: 'retried', ts: 'retried', doc: 'Requests the proxy sent twice.', wire: { adds: [] } },
    ],
    loss: [
      ...LOSS_METRICS,
      { name: 'pid_map_full', ts: 'pidMapFull', doc: 'No room.', figure: 'kernelMapFull' },
    ],
  });
  assert.match(header, /\t__u64 retried;\n\};/, 'the last field of struct tg_hop_stats');
  assert.match(header, /X\(reply_handoffs\) X\(retried\)$/m);
  assert.match(header, /\t__u64 pid_map_full;\n\};/, 'the last field of struct tg_lost');
  assert.match(header, /X\(http2_map_full\) X\(pid_map_full\)$/m);
  const copy = mkdtempSync(join(tmpdir(), 'tollgate-proto-'));
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(join(protoDir, 'tollgate'), join(copy, 'tollgate'), { recursive: true });
  const report = join(copy, 'tollgate', 'v1', 'report.proto');
  const counters = [
    ...HOP_REPORT_COUNTERS,
    { name: 'retries', ts: 'retries', doc: 'Requests sent twice.', field: 17, since: 19 },
  ];
  writeFileSync(report, withHopCounters(readFileSync(report, 'utf8'), counters));
  assert.match(readFileSync(report, 'utf8'), /uint64 retries = 17;\n {2}\/\/ END hop counters/);
  assert.match(generate(copy), /retries: number;/);
});
