// The viewer in Debian's Chromium against a collector loaded with a known mesh (three
// pods, five processes, the edges of test/collector/mesh-batches): what is drawn is what
// the API holds, an edge's click shows its histograms with the exact sample count, a
// process named like markup shows as text and runs nothing, a live delta adds a process
// without moving the others, and the compare view shows the injected difference.
// Screenshots go to test/artifacts/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeSessionJson } from '../../collector/sessions/session-file.js';
import { openBrowser } from '../../lab/browser.js';
import type { PageGlobals } from '../../web/src/model/introspection.js';
import { meshBatch, PER_INTERVAL, PROCESSES } from '../collector/mesh-batches.js';
import { sessionWithAddedLatency } from './session-files.js';
import {
  ARTIFACTS,
  clickCanvas,
  collectorWithShipper,
  drawn,
  screenOf,
  screenshotsAtSizes,
  until,
} from './viewer-page.js';

const HOSTILE = '<img src=x onerror=alert(1)>';
const TOKEN = 'viewer-test-token';
const INTERVALS = 5;

test('the viewer draws the known mesh, details its edges and pods, stays safe, and compares', async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const { collector, shipper } = await collectorWithShipper(t, {
    token: TOKEN,
    liveIntervalMs: 200,
    liveWindowMs: 120_000,
  });
  // The decoy pod's process carries a name made of markup.
  const t0 = Math.floor(Date.now() / 1000) * 1000 - (INTERVALS + 1) * 1000;
  const hostile = (i: number) => {
    const b = meshBatch(i, t0 + (i - 1) * 1000);
    b.processes = b.processes!.map((p) =>
      p.comm === PROCESSES.c.comm ? { ...p, comm: HOSTILE } : p,
    );
    return b;
  };
  for (let i = 1; i <= INTERVALS; i++) shipper.send(hostile(i));
  assert.ok(await shipper.flush(5000), 'batches stored');

  const api = async <T>(path: string): Promise<T> =>
    (await (
      await fetch(`${collector.httpUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).json()) as T;
  const topology = await api<{
    pods: { id: string }[];
    processes: { id: string; comm: string; pod: string }[];
    externals: { id: string }[];
    edges: { id: string; source: string; target: string; client: { bytesSent: number } | null }[];
  }>('/api/topology?window=120');
  assert.equal(topology.processes.length, 5);
  assert.equal(topology.pods.length, 3);

  const browser = await openBrowser();
  t.after(() => browser.close());
  const { page } = browser;
  await page.goto(`${collector.httpUrl}/#token=${TOKEN}`);

  // Everything the API holds is drawn: the same ids, and paint where each node is.
  const shown = await until('the snapshot drawn', async () => {
    const d = await drawn(page);
    return d.nodes.length === topology.processes.length + topology.externals.length && d;
  });
  assert.deepEqual(
    [...shown.nodes].sort(),
    [...topology.processes, ...topology.externals].map((n) => n.id).sort(),
  );
  assert.deepEqual([...shown.links].sort(), topology.edges.map((e) => e.id).sort());
  assert.deepEqual([...shown.groups].sort(), topology.pods.map((p) => p.id).sort());
  assert.ok(!page.url().includes(TOKEN), 'the token left the address bar');
  const painted = await page.evaluate(
    (ids) =>
      ids.map((id) => {
        const [r, g, b] = (globalThis as PageGlobals).tollgate!.pixelAt(
          (globalThis as PageGlobals).tollgate!.screenOf({ kind: 'node', id })!,
        );
        return r + g + b < 600; // not the white background
      }),
    shown.nodes,
  );
  assert.ok(painted.every(Boolean), `every node painted: ${painted}`);
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-topology.png') });

  // Clicking an edge shows its histograms: the sidecar-to-sidecar hop across pods.
  const sa = PROCESSES.sa.ref!.pid;
  const sb = PROCESSES.sb.ref!.pid;
  const crossing = topology.edges.find(
    (e) => e.source.includes(`:${sa}:`) && e.target.includes(`:${sb}:`),
  )!;
  assert.ok(crossing, 'the sa -> sb edge');
  await clickCanvas(page, await screenOf(page, { kind: 'link', id: crossing.id }));
  const panel = page.locator(`.edge-panel[data-edge="${crossing.id}"]`);
  await panel.waitFor({ timeout: 10_000 });
  assert.equal(await panel.locator('figure.histogram').count(), 4);
  const samples = INTERVALS * PER_INTERVAL.exchanges;
  assert.equal(
    await panel.locator('figure.histogram figcaption').first().textContent(),
    `exchange latency (client) · ${samples} samples`,
  );
  assert.ok((await panel.locator('figure.histogram').first().locator('rect.bar').count()) > 3);
  const stats = await panel.locator('table.edge-stats tr').allTextContents();
  assert.ok(stats.includes(`exchanges${samples}${samples}`), JSON.stringify(stats));
  assert.ok(stats.includes('bytes sent29.3 KiB195 KiB'), JSON.stringify(stats)); // 5 x 6,000 and 5 x 40,000
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-edge.png') });

  // The decoy named like markup: shown as those characters, nothing runs, no image made.
  const decoy = topology.processes.find((p) => p.comm === HOSTILE)!;
  await clickCanvas(page, await screenOf(page, { kind: 'node', id: decoy.id }));
  const pod = page.locator(`.pod-panel[data-pod="${decoy.pod}"]`);
  await pod.waitFor({ timeout: 5000 });
  assert.equal(await pod.locator('table.processes td').first().textContent(), HOSTILE);
  await page.fill('input[name=search]', 'onerror');
  await until('the search matched', async () => (await drawn(page)).nodes.includes(decoy.id));
  await page.fill('input[name=search]', '');
  assert.equal(await page.locator('img').count(), 0);
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-hostile-name.png') });

  // A pod panel with a sidecar: added latency per direction and the cost side by side.
  const sbNode = topology.processes.find((p) => p.id.includes(`:${sb}:`))!;
  await clickCanvas(page, await screenOf(page, { kind: 'node', id: sbNode.id }));
  const podB = page.locator(`.pod-panel[data-pod="${sbNode.pod}"]`);
  await podB.waitFor({ timeout: 5000 });
  const inbound = await podB
    .locator('table.added-latency tbody tr')
    .first()
    .locator('td')
    .allTextContents();
  assert.equal(inbound[0], 'inbound');
  assert.match(inbound[1]!, /ms$/, 'inbound added p50 known');
  const paired = INTERVALS * PER_INTERVAL.exchanges;
  const unpaired = INTERVALS * PER_INTERVAL.unpaired;
  assert.equal(inbound[5], String(paired + unpaired), 'inbound exchanges seen complete');
  assert.equal(inbound[6], '96.2%', 'coverage: 250 of 260');
  assert.deepEqual(await podB.locator('ul.coverage li').allTextContents(), [
    `inbound: ${paired} of ${paired + unpaired} exchanges · ${unpaired} unpaired · arrival-to-forward, joint · ${INTERVALS * PER_INTERVAL.handoffs} handed off · ${INTERVALS * PER_INTERVAL.replyHandoffs} replies handed off · hand-offs timed wake-up to wake-up · neighbours wait 50 µs a request`,
  ]);
  assert.equal(await podB.locator('table.cost tbody tr').count(), 2, 'sidecar and app');
  // Its added latency per exchange as histograms, one per direction (outbound empty).
  const charts = podB.locator('.pod-histograms figure.histogram');
  await charts.first().waitFor({ timeout: 5000 });
  assert.equal(await charts.count(), 2);
  assert.match((await charts.first().textContent()) ?? '', /inbound/);
  // Where the time goes through it: the chain from its caller's pod, kept while shown.
  await podB.getByRole('button', { name: 'where the time goes through this pod' }).click();
  const title = page.locator('.waterfall h2');
  await title.waitFor({ timeout: 5000 });
  assert.match((await title.textContent()) ?? '', /shop\/pod-a → shop\/pod-b$/);
  assert.ok((await page.locator('.waterfall .part[data-kind="sidecar-inbound"]').count()) === 1);
  await podB.waitFor({ state: 'detached', timeout: 5000 });
  await clickCanvas(page, await screenOf(page, { kind: 'node', id: sbNode.id }));
  await podB.waitFor({ timeout: 5000 });
  // The pod panel with its small print at several window sizes, for a look.
  await screenshotsAtSizes(page, 'viewer-pod');
  await page.setViewportSize({ width: 1400, height: 900 });

  // Live: a new process arrives in a delta; the ones on screen keep their places.
  const before = await page.evaluate(
    (ids) => ids.map((id) => (globalThis as PageGlobals).tollgate!.position(id)),
    shown.nodes,
  );
  const next = hostile(INTERVALS + 1);
  const extra = { ...PROCESSES.a, ref: { pid: 111, startTimeTicks: 1111 }, comm: 'frontend-2' };
  next.processes = [...next.processes!, extra];
  next.edges = [
    ...next.edges!,
    { ...next.edges![0]!, process: extra.ref, local: { address: '10.1.0.1' }, connections: [] },
  ];
  shipper.send(next);
  assert.ok(await shipper.flush(5000));
  await until('the new process drawn', async () =>
    (await drawn(page)).nodes.some((id) => id.includes(':111:')),
  );
  const after = await page.evaluate(
    (ids) => ids.map((id) => (globalThis as PageGlobals).tollgate!.position(id)),
    shown.nodes,
  );
  assert.deepEqual(after, before, 'positions kept across a live update');

  // Sessions: import two files through the page, compare them, see the injected delta.
  await page.click('nav button[data-tab=sessions]');
  const files = [
    sessionWithAddedLatency(
      '11111111-1111-4111-8111-111111111111',
      'mesh before',
      1_000_000,
      Date.now() - 7_200_000,
    ),
    sessionWithAddedLatency(
      '22222222-2222-4222-8222-222222222222',
      'mesh after',
      3_000_000,
      Date.now() - 3_600_000,
    ),
  ];
  for (const f of files) {
    await page.setInputFiles('input[name=import]', {
      name: `${f.name}.tollgate.json`,
      mimeType: 'application/json',
      buffer: Buffer.from(encodeSessionJson(f)),
    });
    await page
      .locator('table.sessions td', { hasText: f.name })
      .waitFor({ timeout: 5000 })
      .catch(async (error: Error) => {
        const said = await page.locator('.messages').textContent();
        throw new Error(`${error.message}; the page said: ${said}`);
      });
  }
  const boxes = page.locator('table.sessions input[type=checkbox]');
  assert.equal(await boxes.count(), 2);
  await boxes.nth(0).check();
  await boxes.nth(1).check();
  await page.click('button:has-text("Compare selected")');
  const compare = page.locator('.compare-view');
  await compare.waitFor({ timeout: 5000 });
  const flagged = compare.locator('tr.significant', { hasText: 'inbound added p50' });
  assert.equal(await flagged.count(), 1);
  const cells = await flagged.locator('td').allTextContents();
  // 1 ms + 1 ms of hops -> 3 ms + 3 ms: +4 ms, within the histograms' ~3%.
  const delta = Number(/^\+([\d.]+) ms$/.exec(cells[5]!)?.[1]);
  assert.ok(Math.abs(delta - 4) < 0.2, `delta ${cells[5]}`);
  assert.equal(cells[0], '*');
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-compare.png') });

  // Open one: its result renders, with the pod's added latency.
  await compare.locator('button:has-text("Close")').click();
  await page
    .locator('table.sessions tr', { hasText: 'mesh after' })
    .locator('button:has-text("Open")')
    .click();
  const result = page.locator('.session-result table.session-pods tbody tr');
  await result.first().waitFor({ timeout: 5000 });
  assert.match((await result.first().textContent()) ?? '', /shop\/web/);
  // Its added latency says what it covers: 2,000 exchanges joined, 20 unpaired.
  const covered = result.first().locator('small.coverage').first();
  assert.equal(await covered.textContent(), '99% joint');
  assert.equal(
    await covered.locator('xpath=..').getAttribute('title'),
    '2,000 of 2,020 exchanges · 20 unpaired · arrival-to-forward, joint',
  );
  await screenshotsAtSizes(page, 'viewer-session');

  assert.deepEqual(browser.problems, [], 'no page errors, no dialogs');
});
