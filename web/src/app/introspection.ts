// Puts `window.tollgate` (model/introspection.ts) on the page: the hooks the browser
// tests and the UI benchmark call. Apart from the viewer's wiring so that what they rely
// on is in one place; names and behaviour are a contract with test/web and bench/ui.ts.
import type { Hit } from '../model/geometry.js';
import type { Introspection } from '../model/introspection.js';
import type { Point } from '../model/layout.js';
import type { GraphCanvas } from '../ui/graph-canvas.js';

declare global {
  interface Window {
    tollgate?: Introspection;
  }
}

export function exposeIntrospection(
  graph: GraphCanvas,
  position: (id: string) => Point | null,
  select: (hit: Hit | null) => void,
): void {
  window.tollgate = {
    frames: () => graph.frames,
    firstRenderMs: () => graph.firstRenderMs,
    drawn: () => {
      const scene = graph.drawnScene;
      return {
        nodes: scene.nodes.map((n) => n.id),
        links: scene.links.map((l) => l.id),
        groups: scene.groups.map((g) => g.id),
      };
    },
    screenOf: (hit) => graph.screenOf(hit),
    podLabels: () => graph.drawnPodLabels,
    texts: () => graph.drawnTexts,
    shapes: () => graph.drawnShapes,
    position,
    pixelAt: (p) => graph.pixelAt(p),
    pan: (ms, dx, dy) =>
      new Promise((resolve) => {
        const frames = graph.frames;
        const began = performance.now();
        const step = (now: number) => {
          if (now - began >= ms) {
            resolve({ frames: graph.frames - frames, seconds: (now - began) / 1000 });
            return;
          }
          graph.panBy(dx, dy);
          requestAnimationFrame(step);
        };
        requestAnimationFrame(step);
      }),
    select,
  };
}
