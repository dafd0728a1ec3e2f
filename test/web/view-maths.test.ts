// The viewer's small pure maths: colour steps and widths with their legends, histogram
// bars on a log axis, hit testing, number formats, time ranges, session rows, and what a
// sidecar's added latency covers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromValues } from '../../proto/histogram.js';
import type { SessionFile } from '../../web/src/model/api-types.js';
import { coverageNote, coverageShort } from '../../web/src/model/coverage.js';
import {
  colourOf,
  LATENCY_COLOURS,
  latencyLegend,
  UNKNOWN_COLOUR,
  widthLegend,
  widthScale,
} from '../../web/src/model/encoding.js';
import { formatBytes, formatDelta, formatMs, formatRate } from '../../web/src/model/format.js';
import { hitTest, hullOf, NODE_RADIUS, segmentDistance } from '../../web/src/model/geometry.js';
import { bars, logDomain, markers } from '../../web/src/model/histogram-bars.js';
import { compareRows, podRows } from '../../web/src/model/session-view.js';
import { describeRange, rangeQuery, refreshEveryMs } from '../../web/src/model/time-range.js';

test('colour steps are fixed thresholds; unknown values get the neutral colour', () => {
  assert.equal(colourOf(0.05), LATENCY_COLOURS[0]);
  assert.equal(colourOf(0.1), LATENCY_COLOURS[1], 'a threshold starts the next step');
  assert.equal(colourOf(5), LATENCY_COLOURS[4]);
  assert.equal(colourOf(10_000), LATENCY_COLOURS[8]);
  assert.equal(colourOf(null), UNKNOWN_COLOUR);
  assert.equal(colourOf(Number.NaN), UNKNOWN_COLOUR);
  const legend = latencyLegend();
  assert.equal(legend.length, LATENCY_COLOURS.length);
  assert.deepEqual(
    [legend[0]?.label, legend[4]?.label, legend[8]?.label],
    ['< 0.1 ms', '3–10 ms', '≥ 300 ms'],
  );
});

test('widths are area-true from 1 px (idle) to 9 px (busiest)', () => {
  const width = widthScale([0, 25, 100]);
  assert.equal(width(0), 1);
  assert.equal(width(100), 9);
  assert.equal(width(25), 5, 'a quarter of the rate, half the extra width');
  assert.equal(width(1000), 9, 'clamped');
  assert.equal(widthScale([])(5), 9, 'no rates: the domain is [0, 1]');
  assert.deepEqual(
    widthLegend([0, 100]).map((w) => w.rate),
    [25, 50, 100],
  );
  assert.deepEqual(widthLegend([0, 0]), []);
});

test('histogram bars carry bucket bounds in ms and shares that sum to one', () => {
  const h = fromValues([1_000_000, 1_000_000, 2_000_000, 10_000_000]);
  const b = bars(h);
  assert.equal(b.length, 3);
  assert.equal(
    b.reduce((s, x) => s + x.count, 0),
    4,
  );
  assert.ok(Math.abs(b.reduce((s, x) => s + x.share, 0) - 1) < 1e-12);
  for (const x of b) assert.ok(x.loMs < x.hiMs);
  assert.ok(b[0]!.loMs <= 1 && b[0]!.hiMs > 1, '1 ms falls in the first bar');
  assert.deepEqual(logDomain(b), [0.1, 100], '1 ms sits in a bucket starting just below it');
  assert.deepEqual(bars(undefined), []);
  const m = markers(h);
  assert.deepEqual(
    m.map((x) => x.label),
    ['p50', 'p90', 'p99'],
  );
  assert.ok(Math.abs(m[0]!.ms - 1) / 1 < 0.04, `p50 ${m[0]!.ms}`);
});

test('hit testing prefers nodes, then the nearest edge within the slop', () => {
  const positions = new Map([
    ['a', { x: 0, y: 0 }],
    ['b', { x: 100, y: 0 }],
  ]);
  const links = [{ id: 'a>b', source: 'a', target: 'b' }];
  assert.deepEqual(hitTest({ x: 2, y: 3 }, positions, links, 4), { kind: 'node', id: 'a' });
  assert.deepEqual(hitTest({ x: 50, y: 3 }, positions, links, 4), { kind: 'link', id: 'a>b' });
  assert.equal(hitTest({ x: 50, y: 30 }, positions, links, 4), null);
  // A bent edge is hit where it is drawn: its middle, 15 units off the straight line.
  const bent = [{ ...links[0]!, bend: 30 }];
  assert.deepEqual(hitTest({ x: 50, y: 15 }, positions, bent, 4), { kind: 'link', id: 'a>b' });
  assert.equal(hitTest({ x: 50, y: 0 }, positions, bent, 4), null, 'not the straight line');
  assert.equal(segmentDistance({ x: 150, y: 0 }, { x: 0, y: 0 }, { x: 100, y: 0 }), 50);
  const hull = hullOf([{ x: 0, y: 0 }]);
  assert.ok(hull.length >= 6 && hull.every((p) => Math.hypot(p.x, p.y) > NODE_RADIUS));
});

test('numbers read as people read them', () => {
  assert.equal(formatMs(0.0123), '12.3 µs');
  assert.equal(formatMs(14.36), '14.4 ms');
  assert.equal(formatMs(2500), '2.5 s');
  assert.equal(formatMs(null), '–');
  assert.equal(formatDelta(3.9, 'ms'), '+3.9 ms');
  assert.equal(formatDelta(-0.5, 'ms'), '−500 µs');
  assert.equal(formatBytes(30_000), '29.3 KiB');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatRate(12_345, ' req/s'), '12.3k req/s');
});

test('time ranges become the read routes’ query', () => {
  assert.equal(rangeQuery({ kind: 'live' }), 'window=60');
  assert.equal(rangeQuery({ kind: 'last', minutes: 15 }), 'window=900');
  assert.equal(
    rangeQuery({ kind: 'session', id: 'x', name: 'n', fromMs: 1000.4, toMs: 2000.2 }),
    'from=1000&to=2001',
  );
  assert.equal(describeRange({ kind: 'last', minutes: 360 }), 'last 6 h');
  assert.equal(refreshEveryMs({ kind: 'session', id: 'x', name: 'n', fromMs: 0, toMs: 1 }), null);
});

test('session rows: the sidecar added latency is the sum of its hops; compare rows can be filtered', () => {
  const hop = (ns: number) => {
    const h = fromValues(Array.from({ length: 100 }, () => ns));
    return { layout: h.layout, indexes: h.indexes, counts: h.counts, sum_ns: h.sumNs };
  };
  const empty = { layout: 'HISTOGRAM_LAYOUT_UNSPECIFIED', indexes: [], counts: [], sum_ns: 0 };
  const file = {
    tollgate: {
      pods: [
        {
          pod: { namespace: 'shop', name: 'web' },
          proxy: 'envoy',
          inbound_request_hop: hop(1_000_000),
          inbound_response_hop: hop(500_000),
          outbound_request_hop: empty,
          outbound_response_hop: empty,
          requests: 100,
          sidecar_cpu_ms_per_thousand_requests: 12.345_67,
          sidecar_mem_mb: 40,
          app_cpu_ms_per_thousand_requests: 3,
          app_mem_mb: 80,
        },
      ],
      edges: [],
      latency_source: 'edges',
    },
  } as unknown as SessionFile;
  const [row] = podRows(file);
  assert.equal(row?.pod, 'shop/web');
  assert.ok(Math.abs(row!.inbound.p50Ms! - 1.5) < 0.05, `${row!.inbound.p50Ms}`);
  assert.equal(row?.outbound.count, 0);
  assert.deepEqual(
    row?.inboundCoverage,
    {
      method: 'read-to-write, independent sum',
      exchanges: 100,
      requests: 100,
      unpaired: 0,
      coverage: 1,
    },
    'a file from before the joint figure: its hops summed, every exchange covered',
  );
  assert.equal(row?.outboundCoverage.coverage, null);
  assert.equal(row?.sidecarCpuMsPer1k, 12.35);
  const metric = (significant: boolean) => ({
    metric: 'm',
    unit: 'ms' as const,
    a: 1,
    b: 2,
    delta: 1,
    relative: 1,
    errorBound: 0.1,
    significant,
    note: '',
  });
  const comparison = {
    a: { id: 'a', name: 'A', startUnixMs: 0, endUnixMs: 1, labels: {} },
    b: { id: 'b', name: 'B', startUnixMs: 0, endUnixMs: 1, labels: {} },
    items: [
      {
        kind: 'pod' as const,
        key: 'shop/web',
        a: 'shop/web',
        b: null,
        matchedBy: 'name' as const,
        metrics: [metric(true), metric(false)],
      },
    ],
    significant: 1,
  };
  assert.equal(compareRows(comparison).length, 2);
  assert.deepEqual(
    compareRows(comparison, true).map((r) => [r.item, r.significant]),
    [['shop/web', true]],
  );
});

test('session rows take the joint added latency when the file has it, with its coverage', () => {
  const wire = (values: number[]) => {
    const h = fromValues(values);
    return { layout: h.layout, indexes: h.indexes, counts: h.counts, sum_ns: h.sumNs };
  };
  // 90 exchanges of 0.2 ms and 10 of 10 ms (both hops slow together); 25 unpaired.
  const hop = wire([...Array(90).fill(100_000), ...Array(10).fill(5_000_000)]);
  const file = {
    tollgate: {
      pods: [
        {
          pod: { namespace: 'shop', name: 'web' },
          proxy: 'envoy',
          inbound_request_hop: hop,
          inbound_response_hop: hop,
          inbound_added: wire([...Array(90).fill(200_000), ...Array(10).fill(10_000_000)]),
          inbound_method: 'HOP_METHOD_ARRIVAL_TO_FORWARD',
          inbound_unpaired: 25,
          requests: 100,
          sidecar_cpu_ms_per_thousand_requests: 10,
          sidecar_mem_mb: 40,
          app_cpu_ms_per_thousand_requests: 3,
          app_mem_mb: 80,
        },
      ],
      edges: [],
    },
  } as unknown as SessionFile;
  const [row] = podRows(file);
  assert.equal(row?.inbound.count, 100);
  assert.ok(Math.abs(row!.inbound.p99Ms! - 10) <= 0.3, `joint p99 ${row!.inbound.p99Ms}`);
  assert.equal(row?.inbound.meanMs, 1.18);
  assert.deepEqual(row?.inboundCoverage, {
    method: 'arrival-to-forward, joint',
    exchanges: 100,
    requests: 125,
    unpaired: 25,
    coverage: 0.8,
  });
  assert.equal(coverageShort(row!.inboundCoverage), '80% joint');
});

test('the small print of an added latency: share, exchanges, unpaired and method', () => {
  const joint = {
    method: 'arrival-to-forward, joint' as const,
    exchanges: 1500,
    requests: 1520,
    unpaired: 20,
    coverage: 0.9868,
  };
  const plain = '1,500 of 1,520 exchanges · 20 unpaired · arrival-to-forward, joint';
  assert.equal(coverageNote(joint), plain);
  assert.equal(
    coverageNote({ ...joint, handoffs: 1400 }),
    `${plain} · 1,400 handed off`,
    'the request hops that ran on to the app',
  );
  assert.equal(
    coverageNote({ ...joint, handoffs: 1400, replyHandoffs: 1300 }),
    `${plain} · 1,400 handed off · 1,300 replies handed off`,
    "and the response hops that ran on to the client's",
  );
  assert.equal(
    coverageNote({ ...joint, replyHandoffs: 1300, handoffTiming: 'wake-up to wake-up' }),
    `${plain} · 1,300 replies handed off · hand-offs timed wake-up to wake-up`,
    'where the hand-offs began and ended, beside them',
  );
  assert.equal(
    coverageNote({ ...joint, handoffs: 5, handoffTiming: 'read to read' }),
    `${plain} · 5 handed off · hand-offs timed read to read`,
  );
  assert.equal(
    coverageNote({ ...joint, handoffs: 5, handoffTiming: 'not said' }),
    `${plain} · 5 handed off · hand-offs' ends not said`,
    "an older agent's, which the report does not say",
  );
  assert.equal(
    coverageNote({
      ...joint,
      handoffs: 1400,
      handoffTiming: 'mixed',
      handoffsByEnds: { wakeUps: 1350, reads: 0, notSaid: 50 },
    }),
    `${plain} · 1,400 handed off · hand-offs timed 1,350 wake-up to wake-up, 50 not said`,
    'a range that mixes them, by their counts',
  );
  assert.equal(coverageNote({ ...joint, handoffTiming: null }), plain, 'none handed off');
  assert.equal(
    coverageNote({ ...joint, neighbourWaitMsPerRequest: 0.052 }),
    `${plain} · neighbours wait 52 µs a request`,
    "the neighbours' run-queue wait behind the proxy, per request",
  );
  assert.equal(
    coverageShort({
      method: 'read-to-write, independent sum',
      exchanges: 0,
      requests: 0,
      unpaired: 0,
      coverage: null,
    }),
    '– independent',
  );
});
