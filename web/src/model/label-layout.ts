// Where labels go so that none covers another: each label tries its places in order of
// preference and takes the first one clear of the labels placed before it and of the
// obstacles (marks, other text); one with no clear place takes the place that overlaps
// least. Screen coordinates, pure, so it is unit tested in node. A grid of cells keeps
// each test to the boxes nearby: a thousand pods are placed in a few milliseconds.

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface LabelRequest {
  id: string;
  width: number;
  height: number;
  /** Top-left corners to try, the preferred first. */
  places: readonly { x: number; y: number }[];
}

export interface PlacedLabel {
  id: string;
  box: Box;
  /** No place was clear: this box overlaps another label or an obstacle. */
  overlaps: boolean;
}

const CELL = 64;

export function overlapArea(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

class BoxGrid {
  private readonly cells = new Map<string, Box[]>();

  add(box: Box): void {
    for (const key of this.keys(box)) {
      let list = this.cells.get(key);
      if (!list) {
        list = [];
        this.cells.set(key, list);
      }
      list.push(box);
    }
  }

  /** Total area of `box` covered by boxes in the grid (a box in two cells counts once). */
  covered(box: Box): number {
    const seen = new Set<Box>();
    let area = 0;
    for (const key of this.keys(box))
      for (const other of this.cells.get(key) ?? []) {
        if (seen.has(other)) continue;
        seen.add(other);
        area += overlapArea(box, other);
      }
    return area;
  }

  /** The boxes in the grid within `margin` of `box` (and some a little further). */
  near(box: Box, margin: number): Set<Box> {
    const around = {
      x: box.x - margin,
      y: box.y - margin,
      width: box.width + 2 * margin,
      height: box.height + 2 * margin,
    };
    const found = new Set<Box>();
    for (const key of this.keys(around)) for (const b of this.cells.get(key) ?? []) found.add(b);
    return found;
  }

  private *keys(box: Box): Generator<string> {
    const x0 = Math.floor(box.x / CELL);
    const x1 = Math.floor((box.x + box.width) / CELL);
    const y0 = Math.floor(box.y / CELL);
    const y1 = Math.floor((box.y + box.height) / CELL);
    for (let x = x0; x <= x1; x++) for (let y = y0; y <= y1; y++) yield `${x},${y}`;
  }
}

/** The distance between two boxes; 0 where they touch or overlap. */
export function boxDistance(a: Box, b: Box): number {
  const dx = Math.max(0, a.x - (b.x + b.width), b.x - (a.x + a.width));
  const dy = Math.max(0, a.y - (b.y + b.height), b.y - (a.y + a.height));
  return Math.hypot(dx, dy);
}

/** Pixels within which two distances count as the same (a label filling a gap between two pods). */
const SAME_DISTANCE = 2;

/**
 * The regions labels belong to (pods' outlines), for keeping each label's places to
 * those where it reads as its own region's: none clearly nearer to another region. A
 * label pushed away by crowded neighbours would otherwise end up beside another pod.
 */
export class Regions {
  private readonly grid = new BoxGrid();

  constructor(regions: Iterable<Box>) {
    for (const r of regions) this.grid.add(r);
  }

  /** The places (top-left corners of a `width` x `height` label) nearest to `own`. */
  nearestTo(
    places: readonly { x: number; y: number }[],
    width: number,
    height: number,
    own: Box,
  ): { x: number; y: number }[] {
    return places.filter((p) => {
      const box = { x: p.x, y: p.y, width, height };
      const d = boxDistance(box, own);
      for (const other of this.grid.near(box, d))
        if (other !== own && boxDistance(box, other) + SAME_DISTANCE < d) return false;
      return true;
    });
  }
}

/**
 * Places labels in the order given (put the most important first). With `view` (the
 * canvas), a place partly outside it counts as covered there: a label is not cut.
 */
export function placeLabels(
  requests: readonly LabelRequest[],
  obstacles: readonly Box[] = [],
  view?: Box,
): PlacedLabel[] {
  const grid = new BoxGrid();
  for (const o of obstacles) grid.add(o);
  const placed: PlacedLabel[] = [];
  for (const r of requests) {
    let best: Box | null = null;
    let bestArea = Number.POSITIVE_INFINITY;
    for (const p of r.places) {
      const box = { x: p.x, y: p.y, width: r.width, height: r.height };
      const outside = view ? box.width * box.height - overlapArea(box, view) : 0;
      const area = grid.covered(box) + outside;
      if (area < bestArea) {
        best = box;
        bestArea = area;
        if (area === 0) break;
      }
    }
    if (!best) continue;
    grid.add(best);
    placed.push({ id: r.id, box: best, overlaps: bestArea > 0 });
  }
  return placed;
}

/**
 * The places to try for a label of a region (a pod's outline, by its bounding box):
 * centred above it, centred below it; beside it on the right, past `right` pixels (its
 * marks' own labels), when given; then further above and below in steps of the label's
 * height, so crowded neighbours stack their labels instead of covering them (a label
 * beside its pod reads as its own sooner than one three pods up).
 * Shifted sideways to stay within `view` (the canvas) when the region is in it: a pod at
 * the edge keeps its label on screen.
 */
export function placesAround(
  region: Box,
  width: number,
  height: number,
  view?: Box,
  gap = 4,
  steps = 4,
  right?: number,
): { x: number; y: number }[] {
  let x = region.x + region.width / 2 - width / 2;
  if (view && overlapArea(region, view) > 0)
    x = Math.max(view.x, Math.min(x, view.x + view.width - width));
  const above = region.y - gap - height;
  const below = region.y + region.height + gap;
  const places = [
    { x, y: above },
    { x, y: below },
  ];
  if (right !== undefined)
    places.push({
      x: region.x + region.width + right + gap,
      y: region.y + region.height / 2 - height / 2,
    });
  for (let k = 1; k <= steps; k++)
    places.push({ x, y: above - k * height }, { x, y: below + k * height });
  return places;
}

/**
 * The places to try for a label of a point on a line (a share link where it turns into
 * its pod): left of it, centred, then just above and below, then further up and down in
 * steps of the label's height, then right of it above and below.
 */
export function placesBeside(
  at: { x: number; y: number },
  width: number,
  height: number,
  gap = 3,
  steps = 3,
): { x: number; y: number }[] {
  const left = at.x - gap - width;
  const right = at.x + gap;
  const places = [
    { x: left, y: at.y - height / 2 },
    { x: left, y: at.y - height - 1 },
    { x: left, y: at.y + 1 },
  ];
  for (let k = 1; k < steps; k++)
    places.push({ x: left, y: at.y - (k + 1) * height - 1 }, { x: left, y: at.y + k * height + 1 });
  places.push({ x: right, y: at.y - height - 2 }, { x: right, y: at.y + 2 });
  return places;
}
