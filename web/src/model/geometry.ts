// Geometry of the drawing in world coordinates: the outline around a pod's processes,
// and what lies under the pointer. Pure.
import { polygonHull } from 'd3';
import type { Point } from './layout.js';

/** Radius of a process or peer mark (world units). */
export const NODE_RADIUS = 9;

/**
 * The outline of a group: the convex hull of a ring of points around each member, so a
 * one- or two-process pod still gets a rounded outline with room for its marks.
 */
export function hullOf(points: readonly Point[], padding = NODE_RADIUS + 10): Point[] {
  const ring: [number, number][] = [];
  for (const p of points)
    for (let k = 0; k < 12; k++) {
      const a = (k / 12) * 2 * Math.PI;
      ring.push([p.x + padding * Math.cos(a), p.y + padding * Math.sin(a)]);
    }
  const hull = polygonHull(ring);
  return (hull ?? []).map(([x, y]) => ({ x, y }));
}

/** Distance from p to the segment a-b. */
export function segmentDistance(p: Point, a: Point, b: Point): number {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const length2 = dx * dx + dy * dy;
  const t =
    length2 === 0 ? 0 : Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / length2));
  return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

export interface Hit {
  kind: 'node' | 'link';
  id: string;
}

/** Distance from p to an edge as drawn (linkPath's curve, as 16 straight pieces). */
export function curveDistance(p: Point, a: Point, b: Point, bend: number): number {
  const { start, control, end } = linkPath(a, b, bend);
  const at = (t: number): Point => ({
    x: (1 - t) * (1 - t) * start.x + 2 * (1 - t) * t * control.x + t * t * end.x,
    y: (1 - t) * (1 - t) * start.y + 2 * (1 - t) * t * control.y + t * t * end.y,
  });
  let best = Number.POSITIVE_INFINITY;
  let previous = start;
  for (let i = 1; i <= 16; i++) {
    const next = at(i / 16);
    best = Math.min(best, segmentDistance(p, previous, next));
    previous = next;
  }
  return best;
}

/**
 * What is under a world point: the nearest node within its radius first (nodes are drawn
 * over links), else the nearest link within `slop` of where it is drawn (bent by `bend`).
 */
export function hitTest(
  at: Point,
  positions: ReadonlyMap<string, Point>,
  links: readonly { id: string; source: string; target: string; bend?: number }[],
  slop: number,
): Hit | null {
  let best: Hit | null = null;
  let bestDistance = NODE_RADIUS + slop / 2;
  for (const [id, p] of positions) {
    const d = Math.hypot(at.x - p.x, at.y - p.y);
    if (d <= bestDistance) {
      best = { kind: 'node', id };
      bestDistance = d;
    }
  }
  if (best) return best;
  bestDistance = slop;
  for (const l of links) {
    const a = positions.get(l.source);
    const b = positions.get(l.target);
    if (!a || !b) continue;
    const d = curveDistance(at, a, b, l.bend ?? 0);
    if (d <= bestDistance) {
      best = { kind: 'link', id: l.id };
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Where an edge is drawn: from the rim of its source to the rim of its target. Edges
 * between the same two nodes (several ports, or both directions) bend apart by `bend`.
 */
export function linkPath(a: Point, b: Point, bend: number) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const length = Math.hypot(dx, dy) || 1;
  const ux = dx / length;
  const uy = dy / length;
  const start = { x: a.x + ux * NODE_RADIUS, y: a.y + uy * NODE_RADIUS };
  const end = { x: b.x - ux * NODE_RADIUS, y: b.y - uy * NODE_RADIUS };
  const control = { x: (a.x + b.x) / 2 - uy * bend, y: (a.y + b.y) / 2 + ux * bend };
  return { start, end, control, ux, uy };
}
