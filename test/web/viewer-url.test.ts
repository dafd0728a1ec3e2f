// The view in the URL, in Debian's Chromium: a link with a view opens it (layout,
// colour, namespace, selection), the token leaves the address bar while the view stays,
// every choice made is a history entry, and back and forward restore the views.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { meshOfPods } from '../../bench/ui.js';
import { openBrowser } from '../../lab/browser.js';
import type { PageGlobals } from '../../web/src/model/introspection.js';
import { NODE } from '../collector/mesh-batches.js';
import { collectorWithShipper, drawn, until } from './viewer-page.js';

const TOKEN = 'viewer-url-token';
/** meshOfPods' sidecar of pod 1 (pid 10000 + 2 x 1 + 1, start ticks 1), on NODE. */
const SIDECAR_1 = `p:${NODE}:10003:1`;
const SIDECAR_2 = `p:${NODE}:10005:1`;

test('a link opens its view; choices are history entries; back and forward restore them', async (t) => {
  const { collector, shipper } = await collectorWithShipper(t, { token: TOKEN });
  for (const batch of meshOfPods({ pods: 6, edgesPerPod: 2, nodes: 1 }))
    shipper.send({ ...batch, node: NODE });
  assert.ok(await shipper.flush(5000), 'batches stored');
  const browser = await openBrowser({ width: 1280, height: 800 });
  t.after(() => browser.close());
  const { page } = browser;
  // Page functions are sent as source: no named helpers inside (tsx would wrap them).
  const values = () =>
    page.evaluate(() => {
      const g = globalThis as unknown as {
        document: { querySelector(s: string): { value: string } | null };
        location: { hash: string };
      };
      return {
        layout: g.document.querySelector('select[name="layout"]')?.value,
        colour: g.document.querySelector('select[name="colour"]')?.value,
        namespace: g.document.querySelector('select[name="namespace"]')?.value,
        hash: g.location.hash,
      };
    });
  const panelTitle = () => page.locator('.panel h2').first().textContent();

  await page.goto(
    `${collector.httpUrl}/#token=${TOKEN}&layout=force&colour=overhead&ns=ns-1&sel=node:${encodeURIComponent(SIDECAR_1)}`,
  );
  await until('the linked pod detailed', async () => (await panelTitle())?.includes('ns-1/svc-1'));
  const opened = await values();
  assert.deepEqual(
    { layout: opened.layout, colour: opened.colour, namespace: opened.namespace },
    { layout: 'force', colour: 'overhead', namespace: 'ns-1' },
  );
  assert.ok(!opened.hash.includes('token'), `the token left the address bar: ${opened.hash}`);
  assert.match(opened.hash, /layout=force/);
  // The namespace filter holds: ns-1's processes, and the other ends of their edges.
  const shown = await drawn(page);
  assert.ok(shown.nodes.includes(SIDECAR_1) && shown.nodes.length < 12, JSON.stringify(shown));

  // Two choices, two history entries.
  await page.selectOption('select[name="layout"]', 'layered');
  await page.evaluate(
    (id) => (globalThis as PageGlobals).tollgate!.select({ kind: 'node', id }),
    SIDECAR_2,
  );
  await until('the second pod detailed', async () => (await panelTitle())?.includes('ns-2/svc-2'));
  const chosen = await values();
  assert.equal(chosen.layout, 'layered');
  assert.ok(!chosen.hash.includes('layout='), chosen.hash);
  assert.match(decodeURIComponent(chosen.hash), new RegExp(`sel=node:${SIDECAR_2}`));

  await page.goBack();
  await until('back: the first selection', async () =>
    (await panelTitle())?.includes('ns-1/svc-1'),
  );
  assert.equal((await values()).layout, 'layered', 'one step back undoes only the selection');
  await page.goBack();
  await until('back: the layout', async () => (await values()).layout === 'force');
  await page.goForward();
  await page.goForward();
  await until('forward: the second selection', async () =>
    (await panelTitle())?.includes('ns-2/svc-2'),
  );
  assert.equal((await values()).layout, 'layered');
});
