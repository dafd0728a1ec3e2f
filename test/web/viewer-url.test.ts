// The view in the URL, in Debian's Chromium: a link with a view opens it (layout,
// colour, namespace, selection), the token leaves the address bar while the view stays,
// every choice made is a history entry, and back and forward restore the views; a
// waterfall's path chosen step by step is one of them.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { meshOfPods } from '../../bench/ui.js';
import { openBrowser } from '../../lab/browser.js';
import type { PageGlobals } from '../../web/src/model/introspection.js';
import { NODE } from '../collector/mesh-batches.js';
import { ARTIFACTS, collectorWithShipper, drawn, until } from './viewer-page.js';

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

test('a waterfall path is chosen step by step, kept in the URL, and back restores it', async (t) => {
  const { collector, shipper } = await collectorWithShipper(t, { token: TOKEN });
  // Six pods, each sidecar calling two others: svc-0 calls svc-1 and svc-2.
  for (const batch of meshOfPods({ pods: 6, edgesPerPod: 3, nodes: 1 }))
    shipper.send({ ...batch, node: NODE });
  assert.ok(await shipper.flush(5000), 'batches stored');
  const browser = await openBrowser({ width: 1280, height: 800 });
  t.after(() => browser.close());
  const { page } = browser;
  const steps = () =>
    page.evaluate(() => {
      const g = globalThis as unknown as {
        document: {
          querySelectorAll(
            s: string,
          ): ArrayLike<{ value: string; options: ArrayLike<{ value: string }> }>;
        };
      };
      return Array.from(g.document.querySelectorAll('.path-editor select')).map((s) => ({
        value: s.value,
        options: Array.from(s.options).map((o) => o.value),
      }));
    });
  const hash = () =>
    page.evaluate(() => (globalThis as unknown as { location: { hash: string } }).location.hash);
  const title = () => page.locator('.panel.waterfall h2').textContent();

  // A link with a path opens its waterfall.
  await page.goto(
    `${collector.httpUrl}/#token=${TOKEN}&path=${encodeURIComponent('pod:ns-0/svc-0')}&path=${encodeURIComponent('pod:ns-1/svc-1')}`,
  );
  await until('the linked path shown', async () => (await title())?.includes('ns-1/svc-1'));
  const opened = await steps();
  assert.deepEqual(
    opened.map((s) => s.value),
    ['pod:ns-0/svc-0', 'pod:ns-1/svc-1', ''],
    'the two pods, then the choice to go on',
  );
  // Step 2 offers what svc-0 calls; the step after svc-1 offers ending, and its calls.
  assert.deepEqual([...opened[1]!.options].sort(), ['pod:ns-1/svc-1', 'pod:ns-2/svc-2']);
  assert.equal(opened[2]!.options[0], '');
  assert.ok(opened[2]!.options.length > 1, JSON.stringify(opened[2]));

  // The other callee: the path goes on from it by its busiest calls, into the URL.
  await page.selectOption('select[name="path-step-1"]', 'pod:ns-2/svc-2');
  await until('the chosen path shown', async () => (await title())?.includes('ns-2/svc-2'));
  const chosen = await steps();
  assert.equal(chosen[0]!.value, 'pod:ns-0/svc-0');
  assert.equal(chosen[1]!.value, 'pod:ns-2/svc-2');
  assert.ok(chosen.length >= 3, 'and onward by the busiest calls');
  const chosenHash = decodeURIComponent(await hash());
  assert.match(chosenHash, /path=pod:ns-0\/svc-0&path=pod:ns-2\/svc-2/);
  // The waterfall's parts still add up to its total.
  const sums = await page.evaluate(() => {
    const g = globalThis as unknown as {
      document: {
        querySelector(s: string): { getAttribute(n: string): string | null } | null;
        querySelectorAll(s: string): ArrayLike<{ getAttribute(n: string): string | null }>;
      };
    };
    const total = Number(
      g.document.querySelector('.panel.waterfall')?.getAttribute('data-total-ms'),
    );
    const parts = Array.from(g.document.querySelectorAll('.waterfall .part[data-ms]')).map((p) =>
      Number(p.getAttribute('data-ms')),
    );
    return { total, sum: parts.reduce((a, b) => a + b, 0) };
  });
  assert.ok(Math.abs(sums.total - sums.sum) < 1e-6, JSON.stringify(sums));

  await page.goBack();
  await until('back: the linked path', async () => (await title())?.includes('ns-1/svc-1'));
  assert.equal((await steps())[1]!.value, 'pod:ns-1/svc-1');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-path.png') });
});
