// Where each node of a scene is drawn, in world coordinates. Two layouts:
//   layered: callers left of callees (pods as units, their processes stacked inside),
//            which reads like a request's path through the mesh;
//   force:   d3-force with each pod's processes pulled together, for tangled meshes.
// Either way the shared proxies (node proxies, waypoints) are not among the apps: they go
// in a band below them (shared-band.ts), and the apps are laid out by the calls that
// pass through those proxies where podCalls can tell them.
// Positions already on screen are kept (live updates must not move what the user is
// looking at); only new nodes are placed. Pure: d3-force is run by hand, tick by tick.
import { forceCollide, forceLink, forceManyBody, forceSimulation } from 'd3';
import type { Scene, SceneNode } from './graph.js';
import { podCalls } from './pod-calls.js';
import { placeBand, sharedGroupIds, sharedNodeIds } from './shared-band.js';

export interface Point {
  x: number;
  y: number;
}

export type LayoutKind = 'layered' | 'force';

export const LAYOUT = {
  /** Distance between layers (columns). */
  layerGap: 280,
  /** Vertical distance between processes of one pod. */
  rowGap: 34,
  /** Space between units (pods, peers) in a column. */
  unitGap: 46,
} as const;

interface Unit {
  id: string;
  nodes: SceneNode[];
}

/** Pods are units of their processes; every other node is a unit alone. */
function unitsOf(scene: Scene): { units: Map<string, Unit>; unitOf: Map<string, string> } {
  const units = new Map<string, Unit>();
  const unitOf = new Map<string, string>();
  const order = { external: 0, sidecar: 1, app: 2 } as const;
  const sorted = [...scene.nodes].sort(
    (a, b) =>
      order[a.kind] - order[b.kind] || a.label.localeCompare(b.label) || (a.id < b.id ? -1 : 1),
  );
  for (const n of sorted) {
    const id = n.group ?? n.id;
    let u = units.get(id);
    if (!u) {
      u = { id, nodes: [] };
      units.set(id, u);
    }
    u.nodes.push(n);
    unitOf.set(n.id, id);
  }
  return { units, unitOf };
}

/**
 * Layers by longest path from the callers, after dropping the edges that close a cycle
 * (found by depth-first search in id order, so the result is deterministic).
 */
export function layers(unitIds: readonly string[], arcs: ReadonlyMap<string, Set<string>>) {
  const state = new Map<string, 1 | 2>();
  const dag = new Map<string, string[]>(unitIds.map((id) => [id, []]));
  const visit = (root: string) => {
    const stack: [string, string[]][] = [[root, [...(arcs.get(root) ?? [])].sort()]];
    state.set(root, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const next = top[1].shift();
      if (next === undefined) {
        state.set(top[0], 2);
        stack.pop();
        continue;
      }
      const s = state.get(next);
      if (s === 1) continue; // back edge: closes a cycle
      dag.get(top[0])!.push(next);
      if (s === undefined) {
        state.set(next, 1);
        stack.push([next, [...(arcs.get(next) ?? [])].sort()]);
      }
    }
  };
  for (const id of [...unitIds].sort()) if (!state.has(id)) visit(id);

  // Longest path: each unit one layer after its furthest caller (Kahn's order).
  const indegree = new Map(unitIds.map((id) => [id, 0]));
  for (const targets of dag.values())
    for (const t of targets) indegree.set(t, indegree.get(t)! + 1);
  const layer = new Map(unitIds.map((id) => [id, 0]));
  const ready = unitIds.filter((id) => indegree.get(id) === 0);
  while (ready.length > 0) {
    const id = ready.pop()!;
    for (const t of dag.get(id)!) {
      layer.set(t, Math.max(layer.get(t)!, layer.get(id)! + 1));
      indegree.set(t, indegree.get(t)! - 1);
      if (indegree.get(t) === 0) ready.push(t);
    }
  }
  return layer;
}

export function layeredLayout(scene: Scene): Map<string, Point> {
  const { units, unitOf } = unitsOf(scene);
  const shared = sharedGroupIds(scene);
  const arcs = new Map<string, Set<string>>();
  const callers = new Map<string, Set<string>>();
  // Calls between units, through the shared proxies where they can be followed.
  const calls = podCalls(
    scene.links.map((l) => ({ source: l.source, target: l.target, requestsPerS: l.rate })),
    new Map([...unitOf].map(([node, unit]) => [node, { pod: unit }])),
    shared,
  );
  for (const [a, out] of calls)
    for (const b of out.keys()) {
      arcs.set(a, (arcs.get(a) ?? new Set()).add(b));
      callers.set(b, (callers.get(b) ?? new Set()).add(a));
    }
  const ids = [...units.keys()].filter((id) => !shared.has(id));
  const layerOf = layers(ids, arcs);
  const columns: string[][] = [];
  for (const id of ids.sort()) {
    const layer = layerOf.get(id)!;
    const column = columns[layer] ?? [];
    column.push(id);
    columns[layer] = column;
  }

  // Order each column by the mean position of its callers (a few barycentre sweeps).
  const rank = new Map<string, number>();
  for (const column of columns) for (const [i, id] of (column ?? []).entries()) rank.set(id, i);
  for (let sweep = 0; sweep < 4; sweep++)
    for (const column of columns) {
      if (!column) continue;
      const score = (id: string) => {
        const cs = [...(callers.get(id) ?? [])];
        return cs.length === 0
          ? rank.get(id)!
          : cs.reduce((s, c) => s + rank.get(c)!, 0) / cs.length;
      };
      const scores = new Map(column.map((id) => [id, score(id)]));
      column.sort((a, b) => scores.get(a)! - scores.get(b)! || (a < b ? -1 : 1));
      for (const [i, id] of column.entries()) rank.set(id, i);
    }

  // A column taller than the picture is wide wraps into sub-columns.
  const total = scene.nodes.length - sharedNodeIds(scene).size;
  const maxRows = Math.max(8, Math.ceil(Math.sqrt(total) * 2));
  const positions = new Map<string, Point>();
  let x = 0;
  for (const column of columns) {
    if (!column) continue;
    let rows = 0;
    let y = 0;
    for (const id of column) {
      const unit = units.get(id)!;
      if (rows > 0 && rows + unit.nodes.length > maxRows) {
        x += LAYOUT.layerGap * 0.75;
        rows = 0;
        y = 0;
      }
      for (const [k, n] of unit.nodes.entries())
        positions.set(n.id, { x, y: y + k * LAYOUT.rowGap });
      y += unit.nodes.length * LAYOUT.rowGap + LAYOUT.unitGap;
      rows += unit.nodes.length;
    }
    x += LAYOUT.layerGap;
  }
  for (const [id, p] of placeBand(scene, positions, LAYOUT.rowGap)) positions.set(id, p);
  return positions;
}

/**
 * d3-force from a starting picture (the layered one where nothing is placed yet): links
 * pull callers to callees, nodes repel, and each pod's processes are drawn to their
 * pod's centre so that the pod reads as one group. Nodes in `fixed` do not move.
 */
export function forceLayout(
  scene: Scene,
  start: ReadonlyMap<string, Point>,
  options: { ticks?: number; fixed?: ReadonlySet<string> } = {},
): Map<string, Point> {
  interface SimNode {
    id: string;
    group: string | null;
    x: number;
    y: number;
    fx?: number;
    fy?: number;
  }
  const seed = layeredLayout(scene);
  const band = sharedNodeIds(scene);
  const nodes: SimNode[] = scene.nodes
    .filter((n) => !band.has(n.id))
    .map((n) => {
      const p = start.get(n.id) ?? seed.get(n.id)!;
      const node: SimNode = { id: n.id, group: n.group, x: p.x, y: p.y };
      if (options.fixed?.has(n.id)) {
        node.fx = p.x;
        node.fy = p.y;
      }
      return node;
    });
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const links = scene.links
    .filter((l) => byId.has(l.source) && byId.has(l.target) && l.source !== l.target)
    .map((l) => ({ source: l.source, target: l.target }));

  // Pulls each pod's processes towards their common centre, every tick (forceX/forceY
  // would fix their targets at the start).
  interface Moving extends SimNode {
    vx?: number;
    vy?: number;
  }
  const podCohesion = Object.assign(
    (alpha: number) => {
      const sums = new Map<string, { x: number; y: number; n: number }>();
      for (const n of nodes) {
        if (!n.group) continue;
        const s = sums.get(n.group) ?? { x: 0, y: 0, n: 0 };
        s.x += n.x;
        s.y += n.y;
        s.n++;
        sums.set(n.group, s);
      }
      for (const n of nodes as Moving[]) {
        const s = n.group ? sums.get(n.group) : undefined;
        if (!s || s.n < 2) continue;
        n.vx = (n.vx ?? 0) + (s.x / s.n - n.x) * alpha * 0.8;
        n.vy = (n.vy ?? 0) + (s.y / s.n - n.y) * alpha * 0.8;
      }
    },
    { initialize: () => {} },
  );

  const simulation = forceSimulation(nodes)
    .force(
      'link',
      forceLink<SimNode, { source: string; target: string }>(links)
        .id((n) => n.id)
        .distance(90)
        .strength(0.3),
    )
    .force('charge', forceManyBody().strength(-120).distanceMax(600))
    .force('collide', forceCollide(16))
    .force('pods', podCohesion)
    .stop();
  const ticks = options.ticks ?? 150;
  simulation.tick(ticks);
  const out = new Map(nodes.map((n) => [n.id, { x: n.x, y: n.y }]));
  for (const [id, p] of placeBand(scene, out, LAYOUT.rowGap, start)) out.set(id, p);
  return out;
}

/**
 * The positions for a scene: what was placed before stays where it is, and new nodes
 * take their place from the chosen layout (force runs with the old nodes held still).
 * The shared proxies' band follows the apps: below them, moved down only when new apps
 * are placed below it.
 */
export function place(
  scene: Scene,
  kind: LayoutKind,
  previous: ReadonlyMap<string, Point> = new Map(),
): Map<string, Point> {
  const band = sharedNodeIds(scene);
  const apps = scene.nodes.filter((n) => !band.has(n.id));
  const missing = apps.filter((n) => !previous.has(n.id));
  const positions = new Map<string, Point>();
  for (const n of apps) {
    const p = previous.get(n.id);
    if (p) positions.set(n.id, p);
  }
  if (missing.length > 0) placeApps(scene, kind, positions, missing);
  for (const [id, p] of placeBand(scene, positions, LAYOUT.rowGap, previous)) positions.set(id, p);
  return positions;
}

/** Places the `missing` apps among those in `positions` (the apps already placed). */
function placeApps(
  scene: Scene,
  kind: LayoutKind,
  positions: Map<string, Point>,
  missing: readonly SceneNode[],
): void {
  if (kind === 'force') {
    const fixed = new Set(positions.keys());
    const placed = forceLayout(scene, positions, { fixed, ticks: fixed.size > 0 ? 60 : 150 });
    for (const n of missing) positions.set(n.id, placed.get(n.id)!);
    return;
  }
  const fresh = layeredLayout(scene);
  if (positions.size === 0) {
    for (const n of missing) positions.set(n.id, fresh.get(n.id)!);
    return;
  }
  // New nodes of a pod already drawn go under it; others to the layered spot, shifted
  // below everything so they cannot land on a node that stays.
  const bottom = Math.max(...[...positions.values()].map((p) => p.y)) + LAYOUT.unitGap * 2;
  const groupBottom = new Map<string, Point>();
  for (const n of scene.nodes) {
    const p = positions.get(n.id);
    if (!p || !n.group) continue;
    const b = groupBottom.get(n.group);
    if (!b || p.y > b.y) groupBottom.set(n.group, p);
  }
  const topOfFresh = Math.min(...missing.map((n) => fresh.get(n.id)!.y));
  for (const n of missing) {
    const under = n.group ? groupBottom.get(n.group) : undefined;
    if (under) {
      const p = { x: under.x, y: under.y + LAYOUT.rowGap };
      groupBottom.set(n.group!, p);
      positions.set(n.id, p);
    } else {
      const f = fresh.get(n.id)!;
      positions.set(n.id, { x: f.x, y: bottom + (f.y - topOfFresh) });
    }
  }
}

/** The smallest rectangle holding every point, padded. */
export function bounds(points: Iterable<Point>, pad = 40) {
  let x0 = Number.POSITIVE_INFINITY;
  let y0 = Number.POSITIVE_INFINITY;
  let x1 = Number.NEGATIVE_INFINITY;
  let y1 = Number.NEGATIVE_INFINITY;
  for (const p of points) {
    x0 = Math.min(x0, p.x);
    y0 = Math.min(y0, p.y);
    x1 = Math.max(x1, p.x);
    y1 = Math.max(y1, p.y);
  }
  if (x0 > x1) return { x0: -pad, y0: -pad, x1: pad, y1: pad };
  return { x0: x0 - pad, y0: y0 - pad, x1: x1 + pad, y1: y1 + pad };
}

/**
 * The zoom (scale and translation) that fits a rectangle into a viewport, `room` pixels
 * kept clear on every side (for labels, whose size does not follow the zoom).
 */
export function fitTransform(
  box: { x0: number; y0: number; x1: number; y1: number },
  width: number,
  height: number,
  maxScale = 2,
  room = 0,
) {
  const k = Math.min(
    maxScale,
    Math.max(1, width - 2 * room) / (box.x1 - box.x0),
    Math.max(1, height - 2 * room) / (box.y1 - box.y0),
  );
  return {
    k,
    x: (width - k * (box.x0 + box.x1)) / 2,
    y: (height - k * (box.y0 + box.y1)) / 2,
  };
}
