// The viewer with an edge that carries several requests at once (HTTP/2 between the two
// sidecars of test/collector/mesh-batches, sa's upstream marked after 10 of each
// interval's 50 exchanges): its panel says why it shows no exchange latency, counts the
// multiplexed exchanges apart, and draws no exchange histogram. In Debian's Chromium, at
// three window sizes; screenshots go to test/artifacts/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { Shipper } from '../../daemonset/shipping/shipper.js';
import { openBrowser } from '../../lab/browser.js';
import { TOLLGATE_VERSION } from '../../proto/version.js';
import type { Hit } from '../../web/src/model/geometry.js';
import type { PageGlobals } from '../../web/src/model/introspection.js';
import { startCollector } from '../collector/fixture.js';
import { B_IP, meshBatch, NODE, PER_INTERVAL, PROCESSES } from '../collector/mesh-batches.js';

const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const TOKEN = 'viewer-multiplexed-token';
const INTERVALS = 3;
const MULTIPLEXED = 40;

const screenOf = async (page: Page, hit: Hit) =>
  (await page.evaluate((h) => (globalThis as PageGlobals).tollgate!.screenOf(h), hit))!;

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not in time: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a multiplexed edge: the panel says so, counts its exchanges apart, times none', async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const collector = await startCollector(t, { token: TOKEN });
  const shipper = new Shipper({
    target: collector.grpcAddress,
    token: TOKEN,
    hello: { agentId: 'agent-1', node: NODE, agentVersion: TOLLGATE_VERSION },
  });
  t.after(() => shipper.stop());
  shipper.start();
  const t0 = Math.floor(Date.now() / 1000) * 1000 - (INTERVALS + 1) * 1000;
  for (let i = 1; i <= INTERVALS; i++) {
    const b = meshBatch(i, t0 + (i - 1) * 1000);
    b.edges = b.edges!.map((e) =>
      e.process?.pid === PROCESSES.sa.ref!.pid &&
      e.side === 'CONNECTION_SIDE_CLIENT' &&
      e.remote?.address === B_IP
        ? {
            ...e,
            exchanges: PER_INTERVAL.exchanges - MULTIPLEXED,
            multiplexedExchanges: MULTIPLEXED,
          }
        : e,
    );
    shipper.send(b);
  }
  assert.ok(await shipper.flush(5000), 'batches stored');
  const topology = (await (
    await fetch(`${collector.httpUrl}/api/topology?window=120`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    })
  ).json()) as { edges: { id: string; source: string; target: string; multiplexed: boolean }[] };
  const crossing = topology.edges.find(
    (e) =>
      e.source.includes(`:${PROCESSES.sa.ref!.pid}:`) &&
      e.target.includes(`:${PROCESSES.sb.ref!.pid}:`),
  );
  assert.ok(crossing?.multiplexed, 'the API marks the sa -> sb edge');
  assert.equal(topology.edges.filter((e) => e.multiplexed).length, 1);

  const browser = await openBrowser();
  t.after(() => browser.close());
  const { page } = browser;
  await page.goto(`${collector.httpUrl}/#token=${TOKEN}`);
  await until('the edge drawn', async () =>
    (await page.evaluate(() => (globalThis as PageGlobals).tollgate!.drawn())).links.includes(
      crossing.id,
    ),
  );
  const at = await screenOf(page, { kind: 'link', id: crossing.id });
  const box = (await page.locator('canvas.graph').boundingBox())!;
  await page.mouse.click(box.x + at.x, box.y + at.y);
  const panel = page.locator(`.edge-panel[data-edge="${crossing.id}"]`);
  await panel.waitFor({ timeout: 10_000 });
  assert.match((await panel.locator('p.note').first().textContent()) ?? '', /^Multiplexed: /);
  const stats = await panel.locator('table.edge-stats tr').allTextContents();
  const timed = INTERVALS * (PER_INTERVAL.exchanges - MULTIPLEXED);
  assert.ok(
    stats.includes(`exchanges${timed}${INTERVALS * PER_INTERVAL.exchanges}`),
    JSON.stringify(stats),
  );
  assert.ok(
    stats.includes(`multiplexed exchanges${INTERVALS * MULTIPLEXED}0`),
    JSON.stringify(stats),
  );
  assert.ok(stats.includes('exchange p50––'), JSON.stringify(stats));
  // The exchange histograms are there, empty; connect latency and srtt as ever.
  const captions = await panel.locator('figure.histogram figcaption').allTextContents();
  assert.equal(captions[0], 'exchange latency (client) · 0 samples');
  assert.equal(captions[1], 'exchange latency (server) · 0 samples');
  for (const [width, height] of [
    [1920, 1080],
    [1280, 800],
    [900, 640],
  ] as const) {
    await page.setViewportSize({ width, height });
    await page.screenshot({
      path: join(ARTIFACTS, `viewer-multiplexed-${width}x${height}.png`),
      fullPage: true,
    });
  }
});
