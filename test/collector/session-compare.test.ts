// Comparing two sessions: differences beyond the histograms' error are flagged, those
// within it are not, small samples are not judged, and pods match by workload when
// Kubernetes renamed them.
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
          proxy: p.proxy ?? '',
          meshMode: p.meshMode ?? '',
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
  assert.equal(metric('shop/web', 'sidecar CPU').significant, true, '50 -> 80 ms per 1k requests');
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
