// Sessions of one shop before and after a migration from sidecars to ambient mode
// (mode-batches.ts, every figure worked out there by hand): each pod's mode, the proxy that
// carries its traffic and its share by method, the SMPS sidecars and the data plane the
// export describes, the comparison's before and after per pod; and a file written before
// these fields existed still imports, exports unchanged but for them, and compares.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { comparisonTable } from '../../collector/sessions/compare-table.js';
import type { Comparison, SessionSummary } from '../../proto/api.js';
import { MAX_RELATIVE_ERROR } from '../../proto/histogram.js';
import type { startCollector } from './fixture.js';
import { HOP_NS, INTERVALS, PER_INTERVAL } from './mode-batches.js';
import { modeSessions } from './mode-sessions.js';
import { call } from './recorded-session.js';

/**
 * A file the collector wrote of mode-batches' ambient session before mode signs, shares by
 * method, waypoints and the data plane (indented since by the formatter; its content as
 * written).
 */
const BEFORE = new URL(
  './fixtures/ambient-session-before-mode-signs.tollgate.json',
  import.meta.url,
);
const ADDED = {
  pod: [
    'mode_signs',
    'proxy_shares',
    'sidecar_cpu_mcores',
    'waypoints',
    'proxy_unmeasured',
    'proxy_processes',
    'inbound_handoff_ends',
    'outbound_handoff_ends',
  ],
  tollgate: ['dataplane'],
};

interface PodJson {
  pod: { namespace: string; name: string };
  proxy: string;
  requests: number;
  mesh_mode: string;
  mode_signs: string[];
  proxy_share: number;
  proxy_share_method: string;
  proxy_shares: { method: string; share: number }[];
  sidecar_cpu_ms_per_thousand_requests: number;
  sidecar_mem_mb: number;
  sidecar_cpu_mcores: number;
  app_cpu_ms_per_thousand_requests: number;
  waypoints: unknown[];
}
interface SessionJson {
  start_unix_ms: number;
  end_unix_ms: number;
  mesh_config: { mesh: string; proxy_concurrency: number };
  sidecars: { pod: { name: string }; proxy: string; cpu_mcores: number; mem_mb: number }[];
  tollgate: {
    pods: PodJson[];
    edges: { id: string }[];
    dataplane: { modes: unknown[]; proxies: unknown[] };
  };
}

async function resultOf(collector: Awaited<ReturnType<typeof startCollector>>, id: string) {
  const response = await call(collector, 'GET', `/api/sessions/${id}`);
  return ((await response.json()) as SessionSummary & { result: SessionJson }).result;
}

// Whole-window figures from mode-batches.ts: CPU counts INTERVALS - 1 intervals.
const SECONDS = INTERVALS;
const CPU_MS = (perInterval: number) => perInterval * (INTERVALS - 1);
const CART_REQUESTS = 2 * PER_INTERVAL.requests * INTERVALS;
const STOCK_REQUESTS = PER_INTERVAL.requests * INTERVALS;
const ZTUNNEL_MS = CPU_MS(PER_INTERVAL.cpuMs.ztunnel);
const ENVOY_MS = CPU_MS(PER_INTERVAL.cpuMs.envoy);

test("a session records each pod's mode, the proxy carrying it and its share, worked out by hand", async (t) => {
  const { collector, sidecars, ambient } = await modeSessions(t);
  const before = await resultOf(collector, sidecars);
  const after = await resultOf(collector, ambient);
  const pod = (r: SessionJson, name: string) => r.tollgate.pods.find((p) => p.pod.name === name)!;

  // Sidecar mode: each pod's own envoy, all of it the pod's.
  const cartBefore = pod(before, 'cart-0');
  assert.equal(cartBefore.mesh_mode, 'sidecar');
  assert.equal(cartBefore.proxy, 'envoy');
  assert.equal(cartBefore.requests, CART_REQUESTS);
  assert.equal(cartBefore.sidecar_cpu_ms_per_thousand_requests, (ENVOY_MS / CART_REQUESTS) * 1000);
  assert.equal(cartBefore.sidecar_cpu_mcores, ENVOY_MS / SECONDS);
  assert.equal(cartBefore.sidecar_mem_mb, PER_INTERVAL.rssMiB.envoy);
  assert.deepEqual([cartBefore.proxy_share, cartBefore.proxy_share_method], [0, '']);
  assert.deepEqual(cartBefore.proxy_shares, []);
  assert.deepEqual(cartBefore.waypoints, []);
  assert.deepEqual(
    before.sidecars.map((s) => [s.pod.name, s.proxy, s.cpu_mcores, s.mem_mb]),
    [
      ['cart-0', 'envoy', ENVOY_MS / SECONDS, PER_INTERVAL.rssMiB.envoy],
      ['stock-0', 'envoy', ENVOY_MS / SECONDS, PER_INTERVAL.rssMiB.envoy],
    ],
  );
  assert.deepEqual(
    [before.mesh_config.mesh, before.mesh_config.proxy_concurrency],
    ['istio', 2],
    "istio-proxy containers; envoy's --concurrency 2",
  );
  assert.deepEqual(before.tollgate.dataplane, {
    modes: [{ mode: 'sidecar', pods: 2 }],
    proxies: [
      {
        kind: 'sidecar',
        proxy: 'envoy',
        processes: 2,
        pods: 2,
        cpu_mcores: (2 * ENVOY_MS) / SECONDS,
        mem_mb: 2 * PER_INTERVAL.rssMiB.envoy,
      },
    ],
  });

  // Ambient mode: ztunnel's bytes through cart-0 are 60,000 of 80,000 per interval.
  const cart = pod(after, 'cart-0');
  const stock = pod(after, 'stock-0');
  assert.equal(cart.mesh_mode, 'ambient');
  assert.equal(cart.proxy, 'ztunnel');
  assert.deepEqual([cart.proxy_share, cart.proxy_share_method], [0.75, 'bytes']);
  assert.deepEqual(cart.proxy_shares, [{ method: 'bytes', share: 0.75 }], 'on-cpu not measured');
  assert.deepEqual(
    [stock.proxy_share, stock.proxy_shares],
    [0.25, [{ method: 'bytes', share: 0.25 }]],
  );
  assert.equal(cart.requests, CART_REQUESTS);
  assert.equal(
    cart.sidecar_cpu_ms_per_thousand_requests,
    ((0.75 * ZTUNNEL_MS) / CART_REQUESTS) * 1000,
  );
  assert.equal(
    stock.sidecar_cpu_ms_per_thousand_requests,
    ((0.25 * ZTUNNEL_MS) / STOCK_REQUESTS) * 1000,
  );
  assert.equal(cart.sidecar_cpu_mcores, (0.75 * ZTUNNEL_MS) / SECONDS);
  assert.equal(cart.sidecar_mem_mb, 0.75 * PER_INTERVAL.rssMiB.ztunnel);
  assert.deepEqual(cart.waypoints, []);
  // The mode signs are the cost model's, as the API gives them for the same window.
  const { costs } = await collector.queries.view(
    { fromMs: after.start_unix_ms, toMs: after.end_unix_ms },
    after.end_unix_ms,
  );
  const signs = costs.find((c) => c.name === 'cart-0')!.modeSigns;
  assert.ok(signs.length > 0);
  assert.deepEqual(cart.mode_signs, signs);
  // SMPS's sidecars are sidecars: none here. ztunnel is Istio's; its concurrency is no sidecar's.
  assert.deepEqual(after.sidecars, []);
  assert.deepEqual([after.mesh_config.mesh, after.mesh_config.proxy_concurrency], ['istio', 0]);
  // One node proxy serving both pods; their parts add up to all of it (shares sum to 1).
  assert.deepEqual(after.tollgate.dataplane, {
    modes: [{ mode: 'ambient', pods: 2 }],
    proxies: [
      {
        kind: 'node-proxy',
        proxy: 'ztunnel',
        processes: 1,
        pods: 2,
        cpu_mcores: ZTUNNEL_MS / SECONDS,
        mem_mb: PER_INTERVAL.rssMiB.ztunnel,
      },
    ],
  });
  // Its edges name it for what it is.
  assert.ok(
    after.tollgate.edges.some((e) => e.id.startsWith('istio-system/ztunnel-x7k2p/node-proxy>')),
    after.tollgate.edges.map((e) => e.id).join(', '),
  );
  assert.ok(after.tollgate.edges.every((e) => !e.id.includes('ztunnel-x7k2p/sidecar')));
});

test('compare: sidecar to ambient per pod, added latency and proxy CPU before and after, the share and its method said', async (t) => {
  const { collector, sidecars, ambient } = await modeSessions(t);
  const c = (await (
    await call(collector, 'GET', `/api/sessions/compare?a=${sidecars}&b=${ambient}`)
  ).json()) as Comparison;
  const item = (key: string) => c.items.find((i) => i.key === key)!;
  const metric = (key: string, name: string) => item(key).metrics.find((m) => m.metric === name)!;
  assert.deepEqual(item('shop/cart-0').meshModes, { a: 'sidecar', b: 'ambient' });
  // Each exchange's added latency is its two hops: 2 x 400 us -> 2 x 100 us inbound.
  const close = (value: number | null, ms: number) =>
    assert.ok(
      value !== null && Math.abs(value - ms) <= MAX_RELATIVE_ERROR * ms,
      `${value} ~ ${ms}`,
    );
  const inbound = metric('shop/cart-0', 'inbound added p50');
  close(inbound.a, (2 * HOP_NS.sidecar.cartInbound) / 1e6);
  close(inbound.b, (2 * HOP_NS.ambient.cartInbound) / 1e6);
  assert.equal(inbound.significant, true);
  const outbound = metric('shop/cart-0', 'outbound added p50');
  close(outbound.a, (2 * HOP_NS.sidecar.cartOutbound) / 1e6);
  close(outbound.b, (2 * HOP_NS.ambient.cartOutbound) / 1e6);
  // CPU per 1,000 requests: envoy's all, then ztunnel's at 75%.
  const cpu = metric('shop/cart-0', 'proxy CPU');
  assert.equal(cpu.a, (ENVOY_MS / CART_REQUESTS) * 1000);
  assert.equal(cpu.b, ((0.75 * ZTUNNEL_MS) / CART_REQUESTS) * 1000);
  assert.equal(cpu.significant, true);
  assert.equal(cpu.note, 'A: sidecar envoy; B: node proxy ztunnel at 75% by bytes');
  const stockCpu = metric('shop/stock-0', 'proxy CPU');
  assert.deepEqual(
    [stockCpu.a, stockCpu.b],
    [(ENVOY_MS / STOCK_REQUESTS) * 1000, ((0.25 * ZTUNNEL_MS) / STOCK_REQUESTS) * 1000],
  );
  assert.equal(stockCpu.note, 'A: sidecar envoy; B: node proxy ztunnel at 25% by bytes');
  const memory = metric('shop/cart-0', 'proxy memory');
  assert.deepEqual(
    [memory.a, memory.b],
    [PER_INTERVAL.rssMiB.envoy, 0.75 * PER_INTERVAL.rssMiB.ztunnel],
  );
  const table = comparisonTable(c);
  assert.match(table, /^pod shop\/cart-0 \(mesh: sidecar → ambient\)$/m);
  assert.match(
    table,
    /\*\s+proxy CPU \[ms\/1k req\]\s+500\s+225\s+-275 .*B: node proxy ztunnel at 75% by bytes$/m,
  );
});

test('a file written before mode signs and shares by method imports, exports unchanged but for them, and compares', async (t) => {
  const bytes = readFileSync(BEFORE);
  const old: SessionJson & { id: string } = JSON.parse(bytes.toString('utf8'));
  assert.equal(old.tollgate.pods[0]!.mesh_mode, 'ambient', 'the fixture is an ambient session');
  assert.ok(!('mode_signs' in old.tollgate.pods[0]!) && !('dataplane' in old.tollgate));
  const { collector, sidecars } = await modeSessions(t);
  const imported = await call(collector, 'POST', '/api/sessions/import?format=json', {
    bytes: new Uint8Array(bytes),
  });
  assert.equal(imported.status, 201, await imported.clone().text());
  const text = await (
    await call(collector, 'GET', `/api/sessions/${old.id}/export?format=json`)
  ).text();
  const again: SessionJson = JSON.parse(text);
  // The new fields read empty; everything the file held is there as it was.
  for (const p of again.tollgate.pods)
    assert.deepEqual(
      [p.mode_signs, p.proxy_shares, p.sidecar_cpu_mcores, p.waypoints],
      [[], [], 0, []],
    );
  assert.deepEqual(again.tollgate.dataplane, { modes: [], proxies: [] });
  const raw: { tollgate: Record<string, unknown> & { pods: Record<string, unknown>[] } } =
    JSON.parse(text);
  for (const p of raw.tollgate.pods) for (const field of ADDED.pod) delete p[field];
  for (const field of ADDED.tollgate) delete raw.tollgate[field];
  assert.deepEqual(raw, old);

  // Against today's sidecar session: the old file's share is by bytes, as its method says.
  const c = (await (
    await call(collector, 'GET', `/api/sessions/compare?a=${sidecars}&b=${old.id}`)
  ).json()) as Comparison;
  const cart = c.items.find((i) => i.key === 'shop/cart-0')!;
  assert.deepEqual(cart.meshModes, { a: 'sidecar', b: 'ambient' });
  const cpu = cart.metrics.find((m) => m.metric === 'proxy CPU')!;
  assert.deepEqual([cpu.a, cpu.b], [500, 225]);
  assert.equal(cpu.note, 'A: sidecar envoy; B: node proxy ztunnel at 75% by bytes');
});
