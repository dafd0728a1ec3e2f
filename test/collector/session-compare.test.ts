// Comparing two sessions: differences beyond the histograms' error are flagged, those
// within it are not, small samples are not judged, pods match by workload when Kubernetes
// renamed them, and a pod's proxy CPU is whatever carries its traffic, each shared
// proxy's share and method said, not judged across share methods.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareSessions, workloadOf } from '../../collector/sessions/compare.js';
import { comparisonTable } from '../../collector/sessions/compare-table.js';
import { canonicalSession } from '../../collector/sessions/session-file.js';
import type { PodResult, SessionExport } from '../../proto/gen/tollgate/v1.js';
import { fromValues } from '../../proto/histogram.js';

const constant = (ns: number, n: number) => fromValues(Array.from({ length: n }, () => ns));

function session(
  id: string,
  pods: {
    name: string;
    hopNs: number;
    samples: number;
    cpu?: number;
    proxy?: string;
    meshMode?: string;
    share?: Partial<PodResult>;
  }[],
): SessionExport {
  return canonicalSession({
    id,
    name: `session ${id}`,
    startUnixMs: 1,
    endUnixMs: 2,
    tollgate: {
      pods: pods.map(
        (p): Partial<PodResult> => ({
          pod: {
            namespace: 'shop',
            name: p.name,
            uid: '',
            node: '',
            source: 'POD_SOURCE_UNSPECIFIED',
            labels: {},
          },
          inboundRequestHop: constant(p.hopNs, p.samples),
          inboundResponseHop: constant(p.hopNs, p.samples),
          requests: 10_000,
          sidecarCpuMsPerThousandRequests: p.cpu ?? 50,
          // Files from before modes: a pod naming a proxy had a sidecar.
          proxy: p.proxy ?? 'envoy',
          meshMode: p.meshMode ?? '',
          ...p.share,
        }),
      ),
    },
  } as unknown as SessionExport);
}

test('a 3x added latency is flagged; a 1% change is within the histogram error; few samples are not judged', () => {
  const a = session('a', [
    { name: 'web-7d9f8c6b5-x2x4k', hopNs: 1_000_000, samples: 2000 },
    { name: 'db-0', hopNs: 1_000_000, samples: 2000 },
    { name: 'rare', hopNs: 1_000_000, samples: 10 },
  ]);
  const b = session('b', [
    { name: 'web-6c5b4d9f7-zq8wn', hopNs: 3_000_000, samples: 2000, cpu: 80 },
    { name: 'db-0', hopNs: 1_010_000, samples: 2000 },
    { name: 'rare', hopNs: 5_000_000, samples: 10 },
  ]);
  const c = compareSessions(a, b);
  const metric = (key: string, name: string) =>
    c.items.find((i) => i.key === key)!.metrics.find((m) => m.metric === name)!;
  const web = c.items.find((i) => i.key === 'shop/web')!;
  assert.equal(web.matchedBy, 'workload', 'renamed pods match by workload');
  const added = metric('shop/web', 'inbound added p50');
  assert.equal(added.significant, true);
  assert.ok(Math.abs(added.delta! - 4) < 0.2, `2 ms -> 6 ms: ${added.delta}`);
  assert.equal(metric('shop/web', 'proxy CPU').significant, true, '50 -> 80 ms per 1k requests');
  assert.equal(metric('shop/db-0', 'inbound added p50').significant, false, 'a 1% change is noise');
  const rare = metric('shop/rare', 'inbound added p50');
  assert.equal(rare.significant, false);
  assert.match(rare.note, /fewer than 20 samples/);
  assert.match(comparisonTable(c), /\*\s+inbound added p50 \[ms\]/);
});

test('workload names drop what Kubernetes generates and keep what people chose', () => {
  assert.equal(workloadOf('reviews-v1-7d9f8c6b5-x2x4k'), 'reviews-v1');
  assert.equal(workloadOf('agent-zq8wn'), 'agent');
  assert.equal(workloadOf('postgres-0'), 'postgres-0');
  assert.equal(workloadOf('tg12-server'), 'tg12-server');
});

test('names with control characters print escaped in the table', () => {
  const a = session('a', [{ name: 'evil\u001b[2Jpod', hopNs: 1_000_000, samples: 100 }]);
  const table = comparisonTable(compareSessions(a, a));
  assert.ok(!table.includes('\u001b'));
  assert.match(table, /evil\\x1b\[2Jpod/);
});

test('a pod moved from its sidecar to ambient mode: the comparison says so beside its figures', () => {
  // A's file is older (no mode field): its proxy names a sidecar.
  const a = session('a', [{ name: 'web-0', hopNs: 1_000_000, samples: 2000, proxy: 'envoy' }]);
  const b = session('b', [
    {
      name: 'web-0',
      hopNs: 250_000,
      samples: 2000,
      cpu: 20,
      proxy: 'ztunnel',
      meshMode: 'ambient',
    },
  ]);
  const c = compareSessions(a, b);
  const web = c.items.find((i) => i.key === 'shop/web-0')!;
  assert.deepEqual(web.meshModes, { a: 'sidecar', b: 'ambient' });
  const added = web.metrics.find((m) => m.metric === 'inbound added p50')!;
  assert.equal(added.significant, true, '2 ms -> 0.5 ms');
  assert.match(comparisonTable(c), /^pod shop\/web-0 \(mesh: sidecar → ambient\)$/m);
  // The same mode in both: said once.
  assert.deepEqual(compareSessions(b, b).items.find((i) => i.key === 'shop/web-0')!.meshModes, {
    a: 'ambient',
    b: 'ambient',
  });
  assert.match(comparisonTable(compareSessions(b, b)), /^pod shop\/web-0 \(mesh: ambient\)$/m);
});

/** A shared proxy's part of a pod, as a result records it. */
const ambientPod = (
  method: 'on-cpu' | 'bytes',
  waypoint?: { method: 'on-cpu' | 'bytes'; measured: boolean },
) => ({
  name: 'web-0',
  hopNs: 250_000,
  samples: 2000,
  cpu: 20,
  proxy: 'ztunnel',
  meshMode: waypoint ? 'ambient+waypoint' : 'ambient',
  share: {
    proxyShare: 0.5,
    proxyShareMethod: method,
    waypoints: waypoint
      ? [
          {
            proxy: 'envoy',
            pod: 'shop/waypoint-0',
            share: 0.2,
            shareMethod: waypoint.method,
            shares: [{ method: waypoint.method, share: 0.2 }],
            measured: waypoint.measured,
            cpuMsPerThousandRequests: waypoint.measured ? 30 : 0,
            memMb: waypoint.measured ? 10 : 0,
            cpuMcores: waypoint.measured ? 3 : 0,
          },
        ]
      : [],
  },
});

test("a waypoint added to an ambient pod: its part adds to the node proxy's share, judged", () => {
  const a = session('a', [ambientPod('bytes')]);
  const b = session('b', [ambientPod('bytes', { method: 'on-cpu', measured: true })]);
  const cpu = compareSessions(a, b)
    .items.find((i) => i.key === 'shop/web-0')!
    .metrics.find((m) => m.metric === 'proxy CPU')!;
  // 20 -> 20 + 30 ms/1k; bound: (20 x 0.5) ms over 10,000 requests, and (20 x 0.5 + 20 x 0.2).
  assert.deepEqual([cpu.a, cpu.b, cpu.errorBound], [20, 50, 2.4]);
  assert.equal(cpu.significant, true);
  assert.equal(
    cpu.note,
    'A: node proxy ztunnel at 50% by bytes; B: node proxy ztunnel at 50% by bytes + waypoint envoy at 20% by on-cpu',
  );
});

test('shares made by different methods are not judged; a waypoint not measured leaves no figure', () => {
  const a = session('a', [ambientPod('bytes')]);
  const b = session('b', [{ ...ambientPod('on-cpu'), cpu: 80 }]);
  const cpu = compareSessions(a, b)
    .items.find((i) => i.key === 'shop/web-0')!
    .metrics.find((m) => m.metric === 'proxy CPU')!;
  assert.deepEqual([cpu.a, cpu.b], [20, 80]);
  assert.equal(cpu.significant, false, 'the method moves the share as much as the mesh');
  assert.match(cpu.note, /^share methods differ: A: .* by bytes; B: .* by on-cpu$/);

  const unmeasured = session('c', [ambientPod('bytes', { method: 'bytes', measured: false })]);
  const none = compareSessions(a, unmeasured)
    .items.find((i) => i.key === 'shop/web-0')!
    .metrics.find((m) => m.metric === 'proxy CPU')!;
  assert.deepEqual(
    [none.a, none.b, none.significant, none.note],
    [20, null, false, 'no data in B'],
  );
});
