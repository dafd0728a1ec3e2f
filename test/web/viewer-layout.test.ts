// The viewer's page at the window sizes people use (1280x720, 1600x1000, 1920x1080), on
// a known mesh of 9 meshed pods: the graph fills its area, no toolbar control is covered,
// every pod is labelled with its name and its sidecar's added latency each way, no two
// labels overlap, and the legend folds away. In Debian's Chromium; screenshots go to
// test/artifacts/viewer-layout-*.png for a person to look at.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { meshOfPods } from '../../bench/ui.js';
import { openBrowser } from '../../lab/browser.js';
import type { PageGlobals } from '../../web/src/model/introspection.js';
import { overlapArea } from '../../web/src/model/label-layout.js';
import { NODE } from '../collector/mesh-batches.js';
import { ARTIFACTS, collectorWithShipper, drawn, until } from './viewer-page.js';

const TOKEN = 'viewer-layout-token';
const PODS = 9;
const CURLS = 4;

test('9 pods at three window sizes: the graph fills its area, labels are all drawn and apart, controls uncovered', async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const { collector, shipper } = await collectorWithShipper(t, { token: TOKEN });
  const [batch] = meshOfPods({ pods: PODS, edgesPerPod: 3, nodes: 1 });
  // Four short-lived curls in svc-0's pod, each with one connection to svc-1's sidecar:
  // drawn as one node with a count, their edges as one.
  const app0 = batch!.processes!.find((p) => p.comm === 'svc-0')!;
  const sidecar1 = batch!.processes!.find(
    (p) => p.pod?.name === 'svc-1' && p.role === 'ROLE_SIDECAR',
  )!;
  for (let k = 0; k < CURLS; k++) {
    const ref = { pid: 30_000 + k, startTimeTicks: 7 };
    batch!.processes!.push({ ...app0, ref, comm: 'curl', exe: '/usr/bin/curl', cmdline: ['curl'] });
    const client = { address: '10.20.0.0', port: 50_000 + k };
    const server = { address: '10.20.0.1', port: 15006 };
    const counters = { exchanges: 5, sendOps: 5, recvOps: 5, bytesSent: 500, bytesReceived: 500 };
    batch!.edges!.push(
      {
        process: ref,
        side: 'CONNECTION_SIDE_CLIENT',
        local: { address: client.address },
        remote: server,
        connects: 1,
        ...counters,
        connections: [{ client, server }],
      },
      {
        process: sidecar1.ref,
        side: 'CONNECTION_SIDE_SERVER',
        local: server,
        remote: { address: client.address },
        accepts: 1,
        ...counters,
        connections: [{ client, server }],
      },
    );
  }
  // Memory: 20 MiB per sidecar, 50 MiB per app, for the summary bar.
  batch!.resources = batch!
    .processes!.filter((p) => p.comm !== 'curl')
    .map((p) => ({
      process: p.ref,
      cpuUserNs: 0,
      cpuSystemNs: 0,
      rssBytes: (p.role === 'ROLE_SIDECAR' ? 20 : 50) * 2 ** 20,
      source: 'RESOURCE_SOURCE_PROC' as const,
    }));
  shipper.send({ ...batch!, node: NODE });
  assert.ok(await shipper.flush(5000), 'batches stored');

  const browser = await openBrowser({ width: 1280, height: 720 });
  t.after(() => browser.close());
  const { page } = browser;
  await page.goto(`${collector.httpUrl}/#token=${TOKEN}`);
  // Each pod's app and sidecar, and svc-0's curls as one node.
  const shown = await until(
    'every process drawn',
    async () => (await drawn(page)).nodes.length === 2 * PODS + 1 && drawn(page),
  );
  // The summary bar: the sidecars' memory against the apps', and the busiest path.
  const bar = await until('the summary bar', async () => {
    const text = await page.locator('.summary-bar').textContent();
    return text?.includes('busiest path') && text;
  });
  assert.match(bar, /9 sidecars: CPU [\d.]+ millicores.*, memory 180 MB \(40% of the apps'\)/);
  assert.match(
    bar,
    /busiest path ns-\d\/svc-\d( → ns-\d\/svc-\d)+: \+[\d.]+ (µs|ms) per request \(mean, \d+ sidecar crossings;/,
  );
  const curls = shown.nodes.filter((id) => id.startsWith('group:'));
  assert.equal(curls.length, 1, JSON.stringify(shown.nodes));
  const mergedEdge = shown.links.find((id) => id.startsWith('merged:'));
  assert.ok(mergedEdge, JSON.stringify(shown.links));
  await page.evaluate(
    (id) => (globalThis as PageGlobals).tollgate!.select({ kind: 'link', id }),
    mergedEdge,
  );
  const panel = await until('the merged edge detailed', async () => {
    const text = await page.locator('.panel').first().textContent();
    return text?.includes('edges of processes of one command') && text;
  });
  assert.match(panel, new RegExp(`^ns-0/svc-0 curl ×${CURLS} → ns-1/svc-1 envoy:15006`));
  assert.equal(await page.locator('.panel tr.clickable').count(), CURLS);
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-layout-merged.png') });
  await page.evaluate(() => (globalThis as PageGlobals).tollgate!.select(null));
  // Where the time goes along that path: the parts add up to the call's total.
  await page.getByRole('button', { name: 'where the time goes' }).click();
  const parts = await until('the waterfall', async () => {
    const rows = await page.locator('.waterfall .part[data-ms]').evaluateAll((list) =>
      list.map((r) => {
        const row = r as unknown as { getAttribute(name: string): string | null };
        return { kind: row.getAttribute('data-kind'), ms: Number(row.getAttribute('data-ms')) };
      }),
    );
    return rows.length > 0 && rows;
  });
  const total = Number(await page.locator('.waterfall').getAttribute('data-total-ms'));
  assert.ok(total > 0);
  const kinds = new Set(parts.map((p) => p.kind));
  for (const k of ['sidecar-outbound', 'network', 'sidecar-inbound', 'unexplained'])
    assert.ok(kinds.has(k), `a ${k} part: ${JSON.stringify(parts)}`);
  const sum = parts.reduce((a, p) => a + p.ms, 0);
  assert.ok(Math.abs(sum - total) < 1e-9, `parts ${sum} ms, total ${total} ms`);
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-layout-waterfall.png') });

  for (const [width, height] of [
    [1280, 720],
    [1600, 1000],
    [1920, 1080],
  ] as const) {
    const size = `${width}x${height}`;
    await page.setViewportSize({ width, height });
    // The canvas covers its area, once it has followed the resize (a ResizeObserver's
    // turn: read at once, the canvas was sometimes still the size before).
    let covered = 0;
    let canvas = (await page.locator('canvas.graph').boundingBox())!;
    await until(`${size}: the canvas covers its area`, async () => {
      canvas = (await page.locator('canvas.graph').boundingBox())!;
      const area = (await page.locator('.graph-area').boundingBox())!;
      covered = (canvas.width * canvas.height) / (area.width * area.height);
      return covered >= 0.95;
    }).catch(() => {});
    assert.ok(covered >= 0.95, `${size}: the canvas covers ${covered} of its area`);
    // The labels as drawn at this size (two frames after the resize).
    await drawn(page);
    const labels = await until(`${size}: every pod labelled`, async () => {
      const l = await page.evaluate(() => (globalThis as PageGlobals).tollgate!.podLabels());
      return l.length === PODS && l;
    });
    // No two pod labels overlap, and each is on the canvas.
    for (let i = 0; i < labels.length; i++) {
      const a = labels[i]!;
      assert.ok(
        a.box.x >= 0 && a.box.y >= 0 && a.box.x + a.box.width <= canvas.width,
        `${size}: ${a.id} on the canvas ${JSON.stringify(a.box)}`,
      );
      for (const b of labels.slice(i + 1))
        assert.equal(overlapArea(a.box, b.box), 0, `${size}: ${a.id} and ${b.id} overlap`);
    }
    // Each says its pod and what its sidecar adds each way (the mesh's values: inbound
    // about 0.2 to 1 ms, outbound half that).
    for (const l of labels) {
      assert.equal(l.lines[0], l.id.replace(/^pod:/, ''), `${size}: the pod's name`);
      assert.match(l.lines[1] ?? '', /^sidecar in \+\d[\d.]* (µs|ms) · out \+\d[\d.]* (µs|ms)$/);
    }
    // No toolbar control is covered by anything at its centre.
    const covering = await page.evaluate(() => {
      const doc = (
        globalThis as unknown as {
          document: {
            querySelectorAll(s: string): ArrayLike<unknown>;
            elementFromPoint(x: number, y: number): unknown;
          };
        }
      ).document;
      type Elementish = {
        getBoundingClientRect(): { x: number; y: number; width: number; height: number };
        contains(other: unknown): boolean;
        outerHTML: string;
      };
      const controls = Array.from(
        doc.querySelectorAll('header.toolbar select, header.toolbar input, header.toolbar button'),
      ) as Elementish[];
      return {
        count: controls.length,
        covered: controls
          .filter((c) => {
            const r = c.getBoundingClientRect();
            return !c.contains(doc.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2));
          })
          .map((c) => c.outerHTML.slice(0, 60)),
      };
    });
    assert.ok(covering.count >= 6, `${size}: ${covering.count} controls`);
    assert.deepEqual(covering.covered, [], `${size}: covered controls`);
    await page.screenshot({ path: join(ARTIFACTS, `viewer-layout-${size}.png`) });
  }

  // The legend folds to its title and opens again.
  const legend = page.locator('details.legend');
  const isOpen = () => legend.evaluate((d) => (d as unknown as { open: boolean }).open);
  assert.equal(
    await isOpen(),
    true,
    'open where there is room (1920x1080; it started folded at 1280x720)',
  );
  const openHeight = (await legend.boundingBox())!.height;
  await page.locator('details.legend > summary').click();
  assert.equal(await isOpen(), false);
  const closed = (await legend.boundingBox())!;
  assert.ok(closed.height < 30 && closed.height < openHeight, `folded: ${closed.height} px`);
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-layout-legend-folded.png') });
});
