// The viewer with an ambient mesh of a dozen pods: pod front calls eleven backends, every
// call through the node proxy (ztunnel, in a pod of its own), the first three backends'
// inbound through a waypoint too. The node proxy and the waypoint are drawn outside the
// pods, in a band below them, with a dashed link to each pod they serve saying its share;
// labels never overlap nor leave the canvas; panels give each pod's share by each
// method, the waypoint's part, and the node proxy's list of the pods it serves; the
// summary bar counts the modes apart and its busiest path goes from app to app. In
// Debian's Chromium at three window sizes; screenshots go to test/artifacts/.
//
// The agent's batches are shipped to a real collector, which joins the ends and computes
// each pod's share of the node proxy's bytes. What these batches cannot give it (on-cpu
// shares, which need the kernel's counter; fixed waypoint figures; a cluster's sign) is
// set in its answer on its way to the page, from the figures below.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { openBrowser } from '../../lab/browser.js';
import type { PodCost, TopologyResponse } from '../../proto/api.js';
import type {
  Batch,
  EdgeReport,
  Endpoint,
  HopReport,
  Init,
  PodRef,
  ProcessIdentity,
} from '../../proto/gen/tollgate/v1.js';
import { fromValues } from '../../proto/histogram.js';
import type { PageGlobals } from '../../web/src/model/introspection.js';
import { type Box, overlapArea } from '../../web/src/model/label-layout.js';
import { ARTIFACTS, collectorWithShipper, drawn, until } from './viewer-page.js';

const TOKEN = 'viewer-shared-token';
const NODE = 'node-1';
const INTERVALS = 3;
const BACKENDS = 11;
/** Backends svc-0.. svc-2 take their inbound traffic through the waypoint. */
const VIA_WAYPOINT = 3;
const FRONT_IP = '10.3.0.1';
const WAYPOINT_IP = '10.3.2.1';
const svcIp = (i: number) => `10.3.1.${i + 1}`;
/** Per interval, to backend i: requests, bytes each way at the apps, bytes each way on the tunnel. */
const requests = (i: number) => 10 * (i + 1);
const appBytes = (i: number) => 1000 * (i + 1);
const tunnelBytes = (i: number) => 1200 * (i + 1);
const backends = Array.from({ length: BACKENDS }, (_, i) => i);
const sum = (f: (i: number) => number, list = backends) => list.reduce((a, i) => a + f(i), 0);

const podRef = (namespace: string, name: string): Init<PodRef> => ({
  namespace,
  name,
  node: NODE,
  source: 'POD_SOURCE_NETNS',
});
const proc = (pid: number, comm: string, pod: Init<PodRef>, netns: number, sidecar = false) =>
  ({
    ref: { pid, startTimeTicks: 1000 + pid },
    comm,
    exe: `/usr/local/bin/${comm}`,
    cmdline: [comm],
    netnsInode: netns,
    pod,
    role: sidecar ? 'ROLE_SIDECAR' : 'ROLE_APP',
  }) satisfies Init<ProcessIdentity>;

const FRONT = proc(100, 'front', podRef('shop', 'front'), 6000);
const SVC = backends.map((i) => proc(200 + i, `svc-${i}`, podRef('shop', `svc-${i}`), 6001 + i));
const ZTUNNEL = proc(300, 'ztunnel', podRef('istio-system', 'ztunnel-node-1'), 6100, true);
const WAYPOINT = proc(400, 'haproxy', podRef('shop', 'waypoint'), 6101, true);
const idOf = (p: Init<ProcessIdentity>) => `p:${NODE}:${p.ref!.pid}:${p.ref!.startTimeTicks}`;

/** One end, `n` requests with `bytes` each way; its client tuples, for the tuple join. */
function end(
  p: Init<ProcessIdentity>,
  side: 'client' | 'server',
  local: Init<Endpoint>,
  remote: Init<Endpoint>,
  n: number,
  bytes: number,
  extra: {
    socketPod?: Init<PodRef>;
    tuples?: { client: Init<Endpoint>; server: Init<Endpoint> }[];
  },
): Init<EdgeReport> {
  return {
    process: p.ref,
    side: side === 'client' ? 'CONNECTION_SIDE_CLIENT' : 'CONNECTION_SIDE_SERVER',
    local,
    remote,
    socketPod: extra.socketPod,
    connects: side === 'client' ? n : 0,
    accepts: side === 'server' ? n : 0,
    bytesSent: bytes,
    bytesReceived: bytes,
    sendOps: n,
    recvOps: n,
    exchanges: n,
    exchangeLatency: fromValues(Array.from({ length: n }, (_, k) => 2e6 + k * 1e3)),
    connections: (extra.tuples ?? []).map((t) => ({ ...t, clientIsn: 7 })),
  };
}

/** One interval: front -> node proxy (front's namespace) -> [waypoint] -> node proxy (svc-i's) -> svc-i. */
function batch(seq: number, startMs: number): Init<Batch> {
  const tuple = (i: number) => ({
    client: { address: FRONT_IP, port: 40_000 + i },
    server: { address: svcIp(i), port: 9080 },
  });
  const front = podRef('shop', 'front');
  const svc = (i: number) => podRef('shop', `svc-${i}`);
  const waypointed = backends.filter((i) => i < VIA_WAYPOINT);
  const edges: Init<EdgeReport>[] = [
    // The node proxy's listener in front's namespace takes every call (REDIRECT).
    end(
      ZTUNNEL,
      'server',
      { address: FRONT_IP, port: 15001 },
      { address: FRONT_IP },
      sum(requests),
      sum(appBytes),
      { socketPod: front, tuples: backends.map(tuple) },
    ),
  ];
  for (const i of backends) {
    const viaWaypoint = i < VIA_WAYPOINT;
    const hbone = { address: viaWaypoint ? WAYPOINT_IP : svcIp(i), port: 15008 };
    edges.push(
      end(
        FRONT,
        'client',
        { address: FRONT_IP },
        { address: svcIp(i), port: 9080 },
        requests(i),
        appBytes(i),
        {
          tuples: [tuple(i)],
        },
      ),
      end(ZTUNNEL, 'client', { address: FRONT_IP }, hbone, requests(i), tunnelBytes(i), {
        socketPod: front,
      }),
      end(
        ZTUNNEL,
        'server',
        { address: svcIp(i), port: 15008 },
        { address: viaWaypoint ? WAYPOINT_IP : FRONT_IP },
        requests(i),
        tunnelBytes(i),
        { socketPod: svc(i) },
      ),
      end(
        ZTUNNEL,
        'client',
        { address: svcIp(i) },
        { address: svcIp(i), port: 9080 },
        requests(i),
        appBytes(i),
        {
          socketPod: svc(i),
        },
      ),
      end(
        SVC[i]!,
        'server',
        { address: svcIp(i), port: 9080 },
        { address: svcIp(i) },
        requests(i),
        appBytes(i),
        {},
      ),
    );
    if (viaWaypoint)
      edges.push(
        end(
          WAYPOINT,
          'client',
          { address: WAYPOINT_IP },
          { address: svcIp(i), port: 15008 },
          requests(i),
          tunnelBytes(i),
          {},
        ),
      );
  }
  edges.push(
    end(
      WAYPOINT,
      'server',
      { address: WAYPOINT_IP, port: 15008 },
      { address: FRONT_IP },
      sum(requests, waypointed),
      sum(tunnelBytes, waypointed),
      {},
    ),
  );
  const hops = (
    through: Init<PodRef>,
    direction: HopReport['direction'],
    n: number,
    ns: number,
  ): Init<HopReport> => ({
    process: ZTUNNEL.ref,
    direction,
    socketPod: through,
    requestHop: fromValues(Array.from({ length: n }, () => ns)),
    responseHop: fromValues(Array.from({ length: n }, () => ns)),
    added: fromValues(Array.from({ length: n }, () => 2 * ns)),
    requests: n,
    unpaired: 0,
    method: 'HOP_METHOD_ARRIVAL_TO_FORWARD',
  });
  return {
    agentId: NODE,
    bootId: 'boot-1',
    sequence: seq,
    node: NODE,
    intervalStartUnixMs: startMs,
    intervalEndUnixMs: startMs + 1000,
    processes: [FRONT, ...SVC, ZTUNNEL, WAYPOINT],
    edges,
    hops: [
      hops(front, 'DIRECTION_OUTBOUND', sum(requests), 60_000),
      ...backends.map((i) => hops(svc(i), 'DIRECTION_INBOUND', requests(i), 90_000)),
    ],
  };
}

/**
 * The node proxy's bytes (both ways) through a pod over all of its bytes: the share by
 * bytes, as the API gives figures (four significant digits).
 */
const ALL_BYTES = 2 * sum((i) => appBytes(i) + tunnelBytes(i));
const bytesShare = (pod: string) => {
  const i = Number(pod.slice(4));
  const through =
    pod === 'front' ? sum((k) => appBytes(k) + tunnelBytes(k)) : appBytes(i) + tunnelBytes(i);
  return Number((through / ALL_BYTES).toPrecision(4));
};
/** The fixture's on-cpu shares (batches from before the kernel's on-CPU counter carry none): front 44%, the rest by requests. */
const onCpuShare = (pod: string) =>
  pod === 'front' ? 0.44 : (0.56 * requests(Number(pod.slice(4)))) / sum(requests);
/** The waypoint's part of svc-i: its bytes through the waypoint of all the waypoint's. */
const waypointShare = (i: number) =>
  tunnelBytes(i) / sum(tunnelBytes, backends.slice(0, VIA_WAYPOINT));
const HOSTILE_SIGN = '<img src=x onerror="window.pwned=1">';

/** The collector's answer with what these batches cannot give it, from the figures above. */
function withFixtures(view: TopologyResponse): TopologyResponse {
  const costs = view.costs.map((c): PodCost => {
    if (c.name === 'waypoint')
      return {
        ...c,
        mode: 'waypoint',
        modeSigns: ['gateway.istio.io/managed=istio.io-mesh-controller'],
      };
    if (c.mode !== 'ambient' && c.mode !== 'ambient+waypoint') return c;
    const bytes = c.proxyShare?.byMethod.bytes ?? null;
    const onCpu = onCpuShare(c.name);
    const out: PodCost = {
      ...c,
      proxyShare: {
        processes: c.proxyShare?.processes ?? [],
        method: 'on-cpu',
        share: onCpu,
        byMethod: { onCpu, bytes },
      },
      modeSigns: [...c.modeSigns, 'namespace label istio.io/dataplane-mode=ambient', HOSTILE_SIGN],
    };
    const i = Number(c.name.slice(4));
    if (c.name.startsWith('svc-') && i < VIA_WAYPOINT)
      return {
        ...out,
        mode: 'ambient+waypoint',
        waypoint: {
          process: idOf(WAYPOINT),
          proxy: 'haproxy',
          share: {
            processes: [idOf(WAYPOINT)],
            method: 'bytes',
            share: waypointShare(i),
            byMethod: { onCpu: null, bytes: waypointShare(i) },
          },
          cost: { cpuMsPer1kRequests: 12, millicores: 3, rssMb: 4, rssMbMax: 5 },
          inbound: null,
        },
      };
    return out;
  });
  return { ...view, costs };
}

/** "8.33%" as the viewer writes a share (three significant digits). */
const percent = (share: number) => `${Number((share * 100).toPrecision(3))}%`;

type Drawn = {
  labels: { id: string; box: Box; lines: string[] }[];
  texts: { id: string; box: Box; lines: string[] }[];
  shapes: ReturnType<NonNullable<PageGlobals['tollgate']>['shapes']>;
};
const whatIsDrawn = async (page: Page): Promise<Drawn> => {
  await drawn(page);
  return page.evaluate(() => {
    const t = (globalThis as PageGlobals).tollgate!;
    return { labels: t.podLabels(), texts: t.texts(), shapes: t.shapes() };
  });
};

test('a node proxy and a waypoint drawn outside the dozen pods they serve, each pod with its share', async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const { collector, shipper } = await collectorWithShipper(t, { token: TOKEN });
  const t0 = Math.floor(Date.now() / 1000) * 1000 - (INTERVALS + 1) * 1000;
  for (let i = 1; i <= INTERVALS; i++) shipper.send(batch(i, t0 + (i - 1) * 1000));
  assert.ok(await shipper.flush(5000), 'batches stored');

  const browser = await openBrowser({ width: 1280, height: 800 });
  t.after(() => browser.close());
  const { page, problems } = browser;
  let served = 0;
  await page.route('**/api/topology?*', async (route) => {
    let response: Awaited<ReturnType<typeof route.fetch>>;
    try {
      response = await route.fetch();
    } catch {
      // The collector is gone (the test is over and its teardown stopped it before the
      // browser): the page's next refresh fails as it would, not the test.
      await route.abort().catch(() => undefined);
      return;
    }
    served++;
    await route.fulfill({
      response,
      json: withFixtures((await response.json()) as TopologyResponse),
    });
  });
  // The last 5 minutes: the read route, whose answer the fixture completes.
  await page.goto(`${collector.httpUrl}/#token=${TOKEN}&range=last:5`);
  await until('every pod drawn', async () => (await drawn(page)).groups.length === BACKENDS + 3);
  assert.ok(served > 0, 'the topology went through the fixture');

  // The summary bar counts the modes apart; its busiest path goes from app to app.
  const bar = await until('the summary bar', async () => {
    const text = await page.locator('.summary-bar').textContent();
    return text?.includes('busiest path') && text;
  });
  assert.match(
    bar,
    /9 pods ambient, 3 pods ambient\+waypoint \(shared proxies at the pods’ shares\): CPU/,
  );
  // front's busiest call is svc-10's (110 requests per interval), through the node proxy.
  assert.match(
    bar,
    /busiest path shop\/front → shop\/svc-10: \+[\d.]+ µs per request \(mean, 2 proxy crossings;/,
  );

  for (const [width, height] of [
    [900, 640],
    [1280, 800],
    [1920, 1080],
  ] as const) {
    const size = `${width}x${height}`;
    await page.setViewportSize({ width, height });
    const canvas = await until(`${size}: the canvas resized`, async () => {
      const box = await page.locator('canvas.graph').boundingBox();
      const area = await page.locator('.graph-area').boundingBox();
      return box && area && Math.abs(box.width - area.width) < 2 && box;
    });
    await page.locator('.toolbar button', { hasText: 'Fit' }).click();
    const d = await whatIsDrawn(page);
    await page.screenshot({ path: join(ARTIFACTS, `viewer-shared-proxies-${size}.png`) });
    // The band below the apps holds the node proxy and the waypoint, and no app pod.
    const band = d.shapes.band;
    assert.ok(band, `${size}: a band`);
    const inside = (a: Box, b: Box) =>
      a.x >= b.x - 0.5 &&
      a.y >= b.y - 0.5 &&
      a.x + a.width <= b.x + b.width + 0.5 &&
      a.y + a.height <= b.y + b.height + 0.5;
    const proxies = d.shapes.pods.filter((p) => p.role !== 'app');
    assert.deepEqual(proxies.map((p) => [p.id, p.role]).sort(), [
      ['pod:istio-system/ztunnel-node-1', 'node-proxy'],
      ['pod:shop/waypoint', 'waypoint'],
    ]);
    for (const p of proxies) assert.ok(inside(p.box, band), `${size}: ${p.id} in the band`);
    for (const p of d.shapes.pods.filter((x) => x.role === 'app')) {
      assert.equal(overlapArea(p.box, band), 0, `${size}: app pod ${p.id} outside the band`);
      for (const q of proxies)
        assert.equal(overlapArea(p.box, q.box), 0, `${size}: ${p.id} / ${q.id}`);
    }
    // Every label drawn is on the canvas and clear of every other.
    const boxes = [
      ...d.labels.map((l) => ({ id: l.id, box: l.box })),
      ...d.texts.map((l) => ({ id: l.id, box: l.box })),
    ];
    for (const [k, a] of boxes.entries()) {
      assert.ok(
        a.box.x >= 0 &&
          a.box.y >= 0 &&
          a.box.x + a.box.width <= canvas.width + 0.5 &&
          a.box.y + a.box.height <= canvas.height + 0.5,
        `${size}: ${a.id} on the canvas ${JSON.stringify(a.box)}`,
      );
      for (const b of boxes.slice(k + 1))
        assert.equal(overlapArea(a.box, b.box), 0, `${size}: ${a.id} and ${b.id} overlap`);
    }
    // What the shares say: each pod's part of the node proxy by the method its cost uses
    // (on-cpu here), then of the waypoint (by bytes) where it has one.
    for (const x of d.texts.filter((l) => l.id.startsWith('shares:'))) {
      const name = x.id.slice('shares:pod:shop/'.length);
      const i = Number(name.slice(4));
      assert.deepEqual(
        x.lines,
        [
          `${percent(onCpuShare(name))} by on-cpu`,
          ...(name.startsWith('svc-') && i < VIA_WAYPOINT
            ? [`waypoint ${percent(waypointShare(i))} by bytes`]
            : []),
        ],
        x.id,
      );
    }
    // The proxies' own labels say what they are.
    const label = (id: string) => d.labels.find((l) => l.id === id)?.lines;
    if (width >= 1920) {
      // Room for every label: each pod's, each served pod's shares, the band's caption.
      assert.equal(
        d.labels.length,
        BACKENDS + 3,
        `${size}: pod labels ${d.labels.map((l) => l.id)}`,
      );
      assert.equal(
        d.texts.filter((l) => l.id.startsWith('shares:')).length,
        BACKENDS + 1,
        `${size}: share labels ${d.texts.map((l) => l.id)}`,
      );
      assert.ok(
        d.texts.some((l) => l.id === 'band'),
        `${size}: the band's caption`,
      );
      assert.deepEqual(label('pod:istio-system/ztunnel-node-1'), [
        'istio-system/ztunnel-node-1',
        'node proxy, shared · serves 12 pods',
      ]);
      assert.deepEqual(label('pod:shop/waypoint'), [
        'shop/waypoint',
        'waypoint, shared · inbound of 3 pods',
      ]);
      assert.match(label('pod:shop/svc-0')?.[1] ?? '', /^via ztunnel in \+1[78]\d µs · out –$/);
      assert.deepEqual(label('pod:shop/svc-0')?.[2], 'inbound also via a waypoint');
      assert.match(label('pod:shop/front')?.[1] ?? '', /^via ztunnel in – · out \+1[12]\d µs$/);
    }
  }

  // front's panel: its share of the node proxy by each method, the one used marked.
  const select = (id: string) =>
    page.evaluate((x) => (globalThis as PageGlobals).tollgate!.select({ kind: 'node', id: x }), id);
  await page.setViewportSize({ width: 1280, height: 800 });
  await select(idOf(FRONT));
  const front = page.locator('.pod-panel[data-pod="pod:shop/front"]');
  await front.waitFor({ timeout: 5000 });
  assert.deepEqual(await front.locator('.node-proxy-share tbody tr').evaluateAll(rows), [
    ['on-cpu', '44%', 'used for the cost'],
    ['bytes', percent(bytesShare('front')), ''],
  ]);
  assert.equal(percent(bytesShare('front')), '50%');
  // Why ambient: what was seen and the cluster's sign, as text (the hostile one too).
  assert.deepEqual(await front.locator('.mode-signs li').allTextContents(), [
    "node proxy ztunnel holds sockets in the pod's namespace",
    'namespace label istio.io/dataplane-mode=ambient',
    HOSTILE_SIGN,
  ]);
  assert.equal(await front.locator('.mode-signs img').count(), 0, 'a sign is text, never markup');
  assert.equal(await page.evaluate(() => (globalThis as { pwned?: number }).pwned), undefined);
  assert.deepEqual(await front.locator('table.cost tbody td:first-child').allTextContents(), [
    'node proxy, 44% (by on-cpu)',
    'app',
  ]);
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-shared-proxies-ambient-pod.png') });

  // svc-1: ambient with the waypoint; its part of the waypoint and that row of the cost.
  await select(idOf(SVC[1]!));
  const svc1 = page.locator('.pod-panel[data-pod="pod:shop/svc-1"]');
  await svc1.waitFor({ timeout: 5000 });
  assert.match(
    (await svc1.locator('p.muted').first().textContent()) ?? '',
    /· mesh: ambient\+waypoint$/,
  );
  assert.deepEqual(await svc1.locator('.node-proxy-share tbody tr').evaluateAll(rows), [
    ['on-cpu', percent(onCpuShare('svc-1')), 'used for the cost'],
    ['bytes', percent(bytesShare('svc-1')), ''],
  ]);
  assert.deepEqual(await svc1.locator('.waypoint-share tbody tr').evaluateAll(rows), [
    ['on-cpu', 'not measured', ''],
    ['bytes', percent(waypointShare(1)), 'used for the cost'],
  ]);
  assert.deepEqual(await svc1.locator('table.cost tbody tr').evaluateAll(rows), [
    [`node proxy, ${percent(onCpuShare('svc-1'))} (by on-cpu)`, '–', '–', '–'],
    [`waypoint, ${percent(waypointShare(1))} (by bytes)`, '12 ms', '3', '4 MB'],
    ['app', '–', '–', '–'],
  ]);
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-shared-proxies-waypoint-pod.png') });

  // The node proxy's own pod: the pods it serves, each at its share; by bytes they add
  // up to all of it (every byte of its went through one of them).
  await select(idOf(ZTUNNEL));
  const z = page.locator('.pod-panel[data-pod="pod:istio-system/ztunnel-node-1"]');
  await z.waitFor({ timeout: 5000 });
  assert.equal(await z.locator('.served h3').textContent(), 'It serves 12 pods');
  const servedRows = await z.locator('table.served-pods tbody tr').evaluateAll(rows);
  assert.equal(servedRows.length, BACKENDS + 2);
  // By pod id, as the panel lists them (svc-10 before svc-2).
  const names = ['front', ...backends.map((i) => `svc-${i}`)].sort((a, b) => a.localeCompare(b));
  const expected = names.map((name) => [
    `shop/${name}`,
    `${percent(onCpuShare(name))} by on-cpu`,
    percent(onCpuShare(name)),
    percent(bytesShare(name)),
  ]);
  assert.deepEqual(servedRows.slice(0, -1), expected);
  assert.deepEqual(servedRows.at(-1), ['all of them', '', '100%', '100%']);
  assert.equal(
    await z.getByRole('button', { name: 'where the time goes through this pod' }).count(),
    0,
  );
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-shared-proxies-node-proxy.png') });
  // A served pod's name opens its panel.
  await z.locator('button[data-open-pod="pod:shop/svc-10"]').click();
  await page.locator('.pod-panel[data-pod="pod:shop/svc-10"]').waitFor({ timeout: 5000 });

  // The path's first step offers app pods only, never the node proxy or the waypoint.
  await page.locator('.summary-bar button', { hasText: 'where the time goes' }).click();
  const first = page.locator('select[name="path-step-0"] option');
  await first.first().waitFor({ state: 'attached', timeout: 5000 });
  assert.deepEqual(await first.allTextContents(), ['shop/front']);
  assert.deepEqual(await page.locator('select[name="path-step-1"] option').allTextContents(), [
    ...backends.map((i) => `shop/svc-${BACKENDS - 1 - i}`),
  ]);
  assert.match(
    (await page.locator('.tab p.muted').last().textContent()) ?? '',
    /goes through a shared node proxy \(ambient mode\)/,
  );
  assert.deepEqual(problems, []);
  // No refresh of the page's may outlive the collector, which the teardown stops first.
  await browser.close();
});

/** A table's rows as their cells' text (run in the page). */
function rows(list: unknown[]): string[][] {
  return list.map((r) =>
    Array.from(
      (r as { cells: ArrayLike<{ textContent: string | null }> }).cells,
      (c) => c.textContent ?? '',
    ),
  );
}
