// The kernel's folded peer in the viewer: pod-b's sidecar with clients past its listener's
// limit, summed under an unspecified address, is drawn from one "other clients" node
// beside the known mesh, painted, with an edge to the sidecar. Screenshots go to
// test/artifacts/viewer-folded-*.png for a person to look at.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openBrowser } from '../../lab/browser.js';
import type { PageGlobals } from '../../web/src/model/introspection.js';
import { B_IP, meshBatch, PROCESSES } from '../collector/mesh-batches.js';
import {
  ARTIFACTS,
  clickCanvas,
  collectorWithShipper,
  drawn,
  screenOf,
  screenshotsAtSizes,
  until,
} from './viewer-page.js';

const TOKEN = 'viewer-folded-token';
const INTERVALS = 3;

test('a folded peer is drawn as "other clients", joined to the sidecar it called', async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const { collector, shipper } = await collectorWithShipper(t, { token: TOKEN });
  const t0 = Math.floor(Date.now() / 1000) * 1000 - (INTERVALS + 1) * 1000;
  for (let i = 1; i <= INTERVALS; i++) {
    const batch = meshBatch(i, t0 + (i - 1) * 1000);
    batch.edges!.push({
      process: PROCESSES.sb.ref,
      side: 'CONNECTION_SIDE_SERVER',
      local: { address: B_IP, port: 15006 },
      remote: { address: '0.0.0.0' },
      accepts: 400,
      closes: 400,
      exchanges: 400,
      bytesReceived: 40_000,
      bytesSent: 400_000,
    });
    shipper.send(batch);
  }
  assert.ok(await shipper.flush(5000), 'batches stored');

  const browser = await openBrowser();
  t.after(() => browser.close());
  const { page } = browser;
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${collector.httpUrl}/#token=${TOKEN}`);
  const shown = await until('the folded peer drawn', async () => {
    const d = await drawn(page);
    return d.nodes.includes('ext:0.0.0.0') && d;
  });
  const sidecar = `p:node-1:${PROCESSES.sb.ref!.pid}:${PROCESSES.sb.ref!.startTimeTicks}`;
  assert.ok(
    shown.links.some((l) => l.startsWith(`ext:0.0.0.0>${sidecar}`)),
    `an edge from the folded peer to the sidecar: ${shown.links}`,
  );
  const [r, g, b] = await page.evaluate(() => {
    const tg = (globalThis as PageGlobals).tollgate!;
    return tg.pixelAt(tg.screenOf({ kind: 'node', id: 'ext:0.0.0.0' })!);
  });
  assert.ok(r + g + b < 600, 'the folded peer painted');
  // Hovered, it is labelled by what it stands for.
  const at = await screenOf(page, { kind: 'node', id: 'ext:0.0.0.0' });
  const box = (await page.locator('canvas.graph').boundingBox())!;
  await page.mouse.move(box.x + at.x, box.y + at.y);
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-folded-hover.png') });
  // Clicked, its detail says what it stands for.
  await clickCanvas(page, at);
  const panel = await until('the folded peer detailed', async () => {
    const text = await page.locator('.panel').first().textContent();
    return text?.includes('other clients') && text;
  });
  assert.match(panel, /past the ones the kernel keeps apart each interval/);
  await new Promise((r) => setTimeout(r, 300)); // the next frame drawn
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-folded-detail.png') });
  await screenshotsAtSizes(page, 'viewer-folded');
});
