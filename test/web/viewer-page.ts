// The viewer page as tests drive it in Chromium: what it drew, where, clicks on the
// canvas, waiting for a state, and screenshots at the window sizes a person looks at.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { Hit } from '../../web/src/model/geometry.js';
import type { PageGlobals } from '../../web/src/model/introspection.js';

export const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));

/** Screenshots of the page at a wide, a laptop and a narrow window, for a person to look at. */
export async function screenshotsAtSizes(page: Page, name: string): Promise<void> {
  for (const [width, height] of [
    [1920, 1080],
    [1280, 800],
    [900, 640],
  ] as const) {
    await page.setViewportSize({ width, height });
    await page.screenshot({ path: join(ARTIFACTS, `${name}-${width}x${height}.png`) });
  }
}
// Page functions are sent to the page as source: they name the viewer's introspection
// through globalThis (these tests compile without DOM types), not through a helper.
// After two animation frames: a scene just set (or a layout shift, such as the summary
// bar filling in, refitting the graph) is drawn by then, so positions and pixels agree.
export const drawn = async (page: Page) => {
  await page.evaluate(() => {
    // Tests compile without DOM types: the page's window, typed here for the call.
    const w = globalThis as unknown as { requestAnimationFrame(f: () => void): void };
    return new Promise<void>((resolve) =>
      w.requestAnimationFrame(() => w.requestAnimationFrame(resolve)),
    );
  });
  return page.evaluate(() => (globalThis as PageGlobals).tollgate!.drawn());
};
export const screenOf = async (page: Page, hit: Hit) =>
  (await page.evaluate((h) => (globalThis as PageGlobals).tollgate!.screenOf(h), hit))!;

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  ms = 10_000,
) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not in time: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Clicks the canvas at a point given in canvas coordinates. */
export async function clickCanvas(page: Page, at: { x: number; y: number }) {
  const box = (await page.locator('canvas.graph').boundingBox())!;
  await page.mouse.click(box.x + at.x, box.y + at.y);
}

export { collectorWithShipper } from '../collector/fixture.js';
