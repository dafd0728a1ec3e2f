// What the viewer exposes on `window.tollgate` for its browser tests and the UI
// benchmark: what is drawn, where, and how fast. Types only, free of the DOM, so the
// tests (compiled without DOM types) share them.
import type { Hit } from './geometry.js';
import type { Box } from './label-layout.js';
import type { Point } from './layout.js';

export interface Introspection {
  /** Frames drawn so far. */
  frames(): number;
  /** performance.now() of the first frame with marks in it. */
  firstRenderMs(): number | null;
  /** The ids of the nodes, edges and pod groups in the current scene. */
  drawn(): { nodes: string[]; links: string[]; groups: string[] };
  /** The pod labels drawn in the last frame: their boxes on the canvas (CSS pixels). */
  podLabels(): { id: string; box: Box; lines: string[] }[];
  /**
   * The other labels drawn in the last frame: each served pod's shares, a line per
   * shared proxy serving it (id `shares:<pod>`), and the shared proxies' band caption
   * (id `band`).
   */
  texts(): { id: string; box: Box; lines: string[] }[];
  /**
   * The shared proxies' band and every pod's outline, as boxes on the canvas in the last
   * frame (CSS pixels); a pod's role says whether it is an app's or a shared proxy's.
   */
  shapes(): {
    band: Box | null;
    pods: { id: string; role: 'app' | 'node-proxy' | 'waypoint'; box: Box }[];
  };
  /** Where a node, or the middle of an edge, is on the canvas (CSS pixels). */
  screenOf(hit: Hit): Point | null;
  /** A node's world position. */
  position(id: string): Point | null;
  /** The canvas colour (r, g, b) at a point in CSS pixels. */
  pixelAt(p: Point): [number, number, number];
  select(hit: Hit | null): void;
  /**
   * Pans by (dx, dy) CSS pixels every animation frame for `ms`, through the same zoom
   * transform a drag sets; resolves with the frames drawn meanwhile. In the page, so the
   * count is the renderer's, not the driver's round trips.
   */
  pan(ms: number, dx: number, dy: number): Promise<{ frames: number; seconds: number }>;
}

/** The page's globals as a page function sees them (tests run without DOM types). */
export interface PageGlobals {
  tollgate?: Introspection;
}
