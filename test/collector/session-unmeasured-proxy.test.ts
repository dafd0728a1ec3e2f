// A proxy Tollgate has no process of is not measured, and reads so everywhere: a pod's
// sidecar known only from the cluster's signs (a container istio-proxy in its spec) and
// a pod the signs put in ambient mode with no node proxy seen serving it. The batches
// below hold no process and no CPU or memory sample of either proxy, so each must come
// out of the cost model, the session's result, its export, the viewer's rows, the data
// plane and the comparison as "not measured", never as a measured 0; and a file saying
// both (a reason and a figure) is refused.
//
// Two sessions of mode-batches.ts' shop in sidecar mode, with a pod legacy-0 besides
// (its app serving 40 requests an interval from outside):
// - "measured": legacy-0's sidecar envoy runs, 50 ms of CPU an interval, 60 MiB;
// - "signs": legacy-0's spec names a container istio-proxy, but no process of it runs;
//   and a pod fresh-0 whose namespace label enrols it in ambient mode, no node proxy
//   serving it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { comparisonTable } from '../../collector/sessions/compare-table.js';
import {
  decodeSessionFile,
  encodeSessionFile,
  SessionFileError,
} from '../../collector/sessions/session-file.js';
import type { Comparison, SessionFile, SessionSummary } from '../../proto/api.js';
import type { Batch, Init, PodMeshSigns } from '../../proto/gen/tollgate/v1.js';
import { podRows } from '../../web/src/model/session-view.js';
import { startCollector } from './fixture.js';
import {
  end,
  INTERVALS,
  modeBatch,
  OUTSIDE_IP,
  PER_INTERVAL,
  podRef,
  proc,
} from './mode-batches.js';
import { call, recordFromBatches } from './recorded-session.js';

const LEGACY_IP = '10.2.0.3';
const LEGACY = podRef('shop', 'legacy-0');
const FRESH = podRef('shop', 'fresh-0');
const ENVOY_CPU_MS = 50;
const ENVOY_RSS_MIB = 60;

/** legacy-0's app, its sidecar (only in "measured") and fresh-0's app. */
const LEGACY_APP = proc(701, 'legacy', LEGACY, 4201, 'ROLE_APP');
const LEGACY_ENVOY = proc(702, 'envoy', LEGACY, 4201, 'ROLE_SIDECAR');
const FRESH_APP = proc(721, 'fresh', FRESH, 4202, 'ROLE_APP');

const SIGNS: Init<PodMeshSigns>[] = [
  { namespace: 'shop', name: 'legacy-0', sidecarContainers: ['istio-proxy'] },
  { namespace: 'shop', name: 'fresh-0', namespaceLabels: { 'istio.io/dataplane-mode': 'ambient' } },
];

function batch(which: 'measured' | 'signs', i: number, startMs: number): Init<Batch> {
  const base = modeBatch('sidecar', i, startMs);
  const sample = (p: typeof LEGACY_APP, cpuMs: number, rssMiB: number) => ({
    process: p.ref,
    cpuUserNs: (i + 1) * cpuMs * 1e6,
    cpuSystemNs: 0,
    rssBytes: rssMiB * 2 ** 20,
    source: 'RESOURCE_SOURCE_PROC' as const,
  });
  const served = end(
    LEGACY_APP,
    'server',
    { address: OUTSIDE_IP, port: 31_000 + i },
    { address: LEGACY_IP, port: 8080 },
    5_000,
  );
  return {
    ...base,
    processes: [
      ...(base.processes ?? []),
      LEGACY_APP,
      ...(which === 'measured' ? [LEGACY_ENVOY] : [FRESH_APP]),
    ],
    edges: [...(base.edges ?? []), served],
    resources: [
      ...(base.resources ?? []),
      sample(LEGACY_APP, 10, 20),
      ...(which === 'measured'
        ? [sample(LEGACY_ENVOY, ENVOY_CPU_MS, ENVOY_RSS_MIB)]
        : [sample(FRESH_APP, 10, 20)]),
    ],
    podSigns: which === 'signs' ? SIGNS : [SIGNS[0]!],
  };
}

async function sessions(t: Parameters<typeof startCollector>[0]) {
  const collector = await startCollector(t);
  const t0 = Math.floor((Date.now() - 120_000) / 1000) * 1000;
  const sequence = { next: 0 };
  const record = async (which: 'measured' | 'signs', startMs: number) => {
    const id = await recordFromBatches(
      collector,
      { name: which, target: { namespaces: ['shop'] } },
      (i, at) => batch(which, i, at),
      startMs,
      INTERVALS,
      sequence,
    );
    return { id, startMs, endMs: startMs + INTERVALS * 1000 };
  };
  return {
    collector,
    measured: await record('measured', t0),
    signs: await record('signs', t0 + 10_000),
  };
}

type FilePod = SessionFile['tollgate']['pods'][number];

test('a sidecar known only from signs, and ambient with no node proxy seen, are not measured anywhere: no 0 for a figure', async (t) => {
  const { collector, measured, signs } = await sessions(t);

  // The cost model: no figure, and why.
  const { costs } = await collector.queries.view(
    { fromMs: signs.startMs, toMs: signs.endMs },
    signs.endMs,
  );
  const cost = (name: string) => costs.find((c) => c.name === name)!;
  assert.equal(cost('legacy-0').mode, 'sidecar');
  assert.equal(cost('legacy-0').sidecar, null);
  assert.match(cost('legacy-0').sidecarUnmeasured ?? '', /container istio-proxy .*signs/);
  assert.equal(cost('fresh-0').mode, 'ambient');
  assert.equal(cost('fresh-0').sidecar, null);
  assert.match(cost('fresh-0').sidecarUnmeasured ?? '', /no node proxy seen/);
  // cart-0's envoy ran: measured, no reason.
  assert.notEqual(cost('cart-0').sidecar, null);
  assert.equal(cost('cart-0').sidecarUnmeasured, null);

  // The session's export says so per pod; measured pods say nothing.
  const file = (
    (await (await call(collector, 'GET', `/api/sessions/${signs.id}`)).json()) as SessionSummary & {
      result: SessionFile;
    }
  ).result;
  const pod = (name: string) => file.tollgate.pods.find((p) => p.pod.name === name) as FilePod;
  assert.deepEqual(
    file.tollgate.pods.map((p) => [p.pod.name, p.mesh_mode, p.proxy_unmeasured !== '']),
    [
      ['cart-0', 'sidecar', false],
      ['fresh-0', 'ambient', true],
      ['legacy-0', 'sidecar', true],
      ['stock-0', 'sidecar', false],
    ],
  );
  assert.equal(pod('legacy-0').proxy_unmeasured, cost('legacy-0').sidecarUnmeasured);
  // SMPS's sidecars are measured ones: cart-0's and stock-0's envoys only.
  assert.deepEqual(
    file.sidecars.map((s) => s.pod.name),
    ['cart-0', 'stock-0'],
  );
  // The data plane counts every pod's mode, and groups only measured proxies: the two
  // envoys, their figures unchanged by the pods no proxy of which was seen.
  assert.deepEqual(file.tollgate.dataplane, {
    modes: [
      { mode: 'ambient', pods: 1 },
      { mode: 'sidecar', pods: 3 },
    ],
    proxies: [
      {
        kind: 'sidecar',
        proxy: 'envoy',
        processes: 2,
        pods: 2,
        cpu_mcores: (2 * PER_INTERVAL.cpuMs.envoy * (INTERVALS - 1)) / INTERVALS,
        mem_mb: 2 * PER_INTERVAL.rssMiB.envoy,
      },
    ],
  });

  // The viewer's rows of the file: no figure for either, the reason beside.
  const rows = Object.fromEntries(podRows(file).map((r) => [r.pod, r]));
  for (const name of ['shop/legacy-0', 'shop/fresh-0']) {
    assert.deepEqual([rows[name]!.sidecarCpuMsPer1k, rows[name]!.sidecarMemMb], [null, null], name);
    assert.ok(rows[name]!.proxyUnmeasured, name);
  }
  assert.equal(rows['shop/cart-0']!.proxyUnmeasured, null);
  assert.ok((rows['shop/cart-0']!.sidecarCpuMsPer1k ?? 0) > 0);

  // Compared with the session where legacy-0's envoy ran: no figure on B's side, not a
  // drop to 0. Its 50 ms an interval over 4 intervals (the first sample is the baseline),
  // over its 40 requests an interval for 5 intervals.
  const c = (await (
    await call(collector, 'GET', `/api/sessions/compare?a=${measured.id}&b=${signs.id}`)
  ).json()) as Comparison;
  const legacy = c.items.find((i) => i.key === 'shop/legacy-0')!;
  const cpu = legacy.metrics.find((m) => m.metric === 'proxy CPU')!;
  const requests = PER_INTERVAL.requests * INTERVALS;
  assert.deepEqual(
    [cpu.a, cpu.b, cpu.delta, cpu.significant, cpu.note],
    [((ENVOY_CPU_MS * (INTERVALS - 1)) / requests) * 1000, null, null, false, 'no data in B'],
  );
  const memory = legacy.metrics.find((m) => m.metric === 'proxy memory')!;
  assert.deepEqual([memory.a, memory.b, memory.note], [ENVOY_RSS_MIB, null, 'no data in B']);
  // The terminal's table: a dash for B and for the difference.
  assert.match(
    comparisonTable(c),
    /^pod shop\/legacy-0 .*\n(?:.*\n)*?\s+proxy CPU \[ms\/1k req\]\s+1000\s+-\s+-\s+no data in B$/m,
  );
});

test('a file keeps the reason both ways; one giving a reason and a figure is refused', async (t) => {
  const { collector, signs } = await sessions(t);
  const json = new Uint8Array(
    await (
      await call(collector, 'GET', `/api/sessions/${signs.id}/export?format=json`)
    ).arrayBuffer(),
  );
  const decoded = decodeSessionFile(json, 'json');
  const legacy = decoded.tollgate!.pods.find((p) => p.pod!.name === 'legacy-0')!;
  assert.match(legacy.proxyUnmeasured, /istio-proxy/);
  assert.deepEqual(decodeSessionFile(encodeSessionFile(decoded, 'pb'), 'pb'), decoded);

  const text = new TextDecoder().decode(json);
  const edited = JSON.parse(text) as { tollgate: { pods: FilePod[] } };
  const i = edited.tollgate.pods.findIndex((p) => p.pod.name === 'legacy-0');
  edited.tollgate.pods[i]!.sidecar_mem_mb = 60;
  assert.throws(
    () => decodeSessionFile(new TextEncoder().encode(JSON.stringify(edited)), 'json'),
    (e: Error) =>
      e instanceof SessionFileError &&
      e.message ===
        `tollgate.pods[${i}].proxy_unmeasured says the proxy was not measured, but its sidecar_* figures are not 0`,
  );
});
