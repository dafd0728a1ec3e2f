// Where the mesh's shared proxies are drawn: in a band of their own below the app pods,
// outside every pod they serve (a node proxy holds sockets in each pod it serves, but its
// process, CPU and memory are its own pod's), each under the pods it serves; and the
// dashed links from each to the pods it serves, routed as a bus so ten or more links
// stay apart: up from the proxy to a rail of its own under the apps, along it, up a trunk
// beside each column of pods, and into each pod's side. World coordinates; pure.
import { NODE_RADIUS } from './geometry.js';
import type { Scene, ShareLink } from './graph.js';
import type { Point } from './layout.js';

/** The room around a pod's marks that its outline takes (geometry.hullOf's padding). */
export const HULL_PAD = NODE_RADIUS + 10;

export const BAND = {
  /** From the apps' outlines to the first rail, and from the last rail to the band. */
  railGap: 22,
  /** Between two proxies' rails, and between their trunks beside one column. */
  laneGap: 10,
  /** From a pod's outline to the trunk of the first proxy serving it. */
  trunkGap: 16,
  /** From the band's top to its proxies' marks: room for their labels above them. */
  inset: 56,
  /** Least distance between two proxies side by side in the band. */
  unitGap: 220,
  /** Beyond the leftmost and rightmost marks. */
  sidePad: 60,
} as const;

/** The ids of the groups (pods) that are shared proxies, drawn in the band. */
export function sharedGroupIds(scene: Pick<Scene, 'groups'>): Set<string> {
  return new Set(scene.groups.filter((g) => g.role !== 'app').map((g) => g.id));
}

/** The nodes of the shared proxies' pods. */
export function sharedNodeIds(scene: Pick<Scene, 'groups'>): Set<string> {
  return new Set(scene.groups.filter((g) => g.role !== 'app').flatMap((g) => g.nodes));
}

/** The lowest point of the apps (every node not in the band), or null with none placed. */
function appBottom(scene: Scene, positions: ReadonlyMap<string, Point>): number | null {
  const band = sharedNodeIds(scene);
  let bottom: number | null = null;
  for (const n of scene.nodes) {
    const p = positions.get(n.id);
    if (p && !band.has(n.id)) bottom = bottom === null ? p.y : Math.max(bottom, p.y);
  }
  return bottom;
}

/** The top of the band: under the apps' outlines and one rail per proxy. */
function bandTop(scene: Scene, positions: ReadonlyMap<string, Point>): number {
  const lanes = sharedGroupIds(scene).size;
  const bottom = appBottom(scene, positions);
  return (bottom === null ? 0 : bottom + HULL_PAD) + 2 * BAND.railGap + (lanes - 1) * BAND.laneGap;
}

/** The middle of a group's marks, and its outline's left edge, from the positions known. */
function extentOf(ids: readonly string[], positions: ReadonlyMap<string, Point>) {
  const points = ids.map((id) => positions.get(id)).filter((p): p is Point => p !== undefined);
  if (points.length === 0) return null;
  const ys = points.map((p) => p.y);
  const xs = points.map((p) => p.x);
  return {
    x: xs.reduce((a, b) => a + b, 0) / xs.length,
    y: (Math.min(...ys) + Math.max(...ys)) / 2,
    left: Math.min(...xs) - HULL_PAD,
    top: Math.min(...ys) - HULL_PAD,
  };
}

/**
 * Positions of the shared proxies' marks, given the apps' (`positions`; entries for the
 * band's own nodes are ignored). Each proxy goes under the middle of the pods it serves
 * (or of what its edges reach), and no nearer than BAND.unitGap to another. One placed
 * before (`previous`) keeps its place, moved down only as far as the apps below it need.
 */
export function placeBand(
  scene: Scene,
  positions: ReadonlyMap<string, Point>,
  rowGap: number,
  previous: ReadonlyMap<string, Point> = new Map(),
): Map<string, Point> {
  const band = sharedNodeIds(scene);
  const apps = new Map([...positions].filter(([id]) => !band.has(id)));
  const top = bandTop(scene, apps) + BAND.inset;
  const groups = new Map(scene.groups.map((g) => [g.id, g]));
  const nodeGroup = new Map(scene.nodes.map((n) => [n.id, n.group]));
  const xs = [...apps.values()].map((p) => p.x);
  const fallbackX = xs.length > 0 ? Math.min(...xs) : 0;

  const units = [...sharedGroupIds(scene)].sort().map((id) => {
    const g = groups.get(id)!;
    const kept = g.nodes.every((n) => previous.has(n));
    if (kept) {
      const first = previous.get(g.nodes[0]!)!;
      return { g, x: first.x, y: Math.max(first.y, top), kept };
    }
    const served = scene.shares
      .filter((s) => s.from === id)
      .map((s) => extentOf(groups.get(s.to)?.nodes ?? [], apps))
      .filter((e) => e !== null);
    const neighbours = scene.links.flatMap((l) => {
      const [a, b] = [nodeGroup.get(l.source), nodeGroup.get(l.target)];
      if (a === id && b !== id) return [apps.get(l.target)];
      if (b === id && a !== id) return [apps.get(l.source)];
      return [];
    });
    const reach = served.length > 0 ? served : neighbours.filter((p) => p !== undefined);
    const x = reach.length > 0 ? reach.reduce((a, p) => a + p.x, 0) / reach.length : fallbackX;
    return { g, x, y: top, kept };
  });
  // Side by side: a new proxy too near one placed before it moves right.
  units.sort((a, b) => a.x - b.x || (a.g.id < b.g.id ? -1 : 1));
  for (let i = 1; i < units.length; i++) {
    const u = units[i]!;
    const before = units[i - 1]!;
    if (!u.kept && u.x < before.x + BAND.unitGap) u.x = before.x + BAND.unitGap;
  }
  const out = new Map<string, Point>();
  for (const u of units) {
    // A kept proxy keeps its marks' places relative to each other.
    const first = previous.get(u.g.nodes[0]!);
    for (const [k, id] of u.g.nodes.entries()) {
      const p = previous.get(id);
      out.set(
        id,
        u.kept && p && first
          ? { x: p.x, y: u.y + (p.y - first.y) }
          : { x: u.x, y: u.y + k * rowGap },
      );
    }
  }
  return out;
}

/** The band's rectangle, spanning the picture's width; null without shared proxies. */
export function bandBox(
  scene: Scene,
  positions: ReadonlyMap<string, Point>,
): { x0: number; y0: number; x1: number; y1: number } | null {
  const band = sharedNodeIds(scene);
  const inBand = [...band].map((id) => positions.get(id)).filter((p): p is Point => !!p);
  if (inBand.length === 0) return null;
  const all = scene.nodes.map((n) => positions.get(n.id)).filter((p): p is Point => !!p);
  return {
    x0: Math.min(...all.map((p) => p.x)) - BAND.sidePad,
    x1: Math.max(...all.map((p) => p.x)) + BAND.sidePad + 80,
    y0: bandTop(scene, positions),
    y1: Math.max(...inBand.map((p) => p.y)) + HULL_PAD + 16,
  };
}

export interface ShareRoute extends ShareLink {
  /** The dashed line, from the proxy's outline to the served pod's left side. */
  points: Point[];
  /** Where the line meets the trunk beside the served pod: its label goes next to it. */
  anchor: Point;
}

/**
 * The dashed links as drawn; each proxy has its own rail (its lane), and beside each
 * column of pods a trunk of its own.
 */
export function shareRoutes(scene: Scene, positions: ReadonlyMap<string, Point>): ShareRoute[] {
  const groups = new Map(scene.groups.map((g) => [g.id, g]));
  const bottom = appBottom(scene, positions);
  if (bottom === null) return [];
  // Lanes from left to right, so that rails fan out without crossing near the band.
  const lanes = [...sharedGroupIds(scene)]
    .map((id) => ({ id, at: extentOf(groups.get(id)!.nodes, positions) }))
    .sort((a, b) => (a.at?.x ?? 0) - (b.at?.x ?? 0) || (a.id < b.id ? -1 : 1))
    .map((l) => l.id);
  // Beside a column (pods with one left edge), a trunk per proxy serving pods there, the
  // first next to the pods: a column one proxy serves has its trunk nearest.
  const ends = scene.shares.flatMap((s) => {
    const proxy = extentOf(groups.get(s.from)?.nodes ?? [], positions);
    const pod = extentOf(groups.get(s.to)?.nodes ?? [], positions);
    return proxy && pod ? [{ s, proxy, pod }] : [];
  });
  const beside = new Map<number, Set<number>>();
  for (const { s, pod } of ends)
    beside.set(pod.left, (beside.get(pod.left) ?? new Set()).add(lanes.indexOf(s.from)));
  const routes: ShareRoute[] = [];
  for (const { s, proxy, pod } of ends) {
    const lane = lanes.indexOf(s.from);
    const rail = bottom + HULL_PAD + BAND.railGap + lane * BAND.laneGap;
    const local = [...beside.get(pod.left)!].sort((a, b) => a - b).indexOf(lane);
    const trunk = pod.left - BAND.trunkGap - local * BAND.laneGap;
    routes.push({
      ...s,
      points: [
        { x: proxy.x, y: proxy.top },
        { x: proxy.x, y: rail },
        { x: trunk, y: rail },
        { x: trunk, y: pod.y },
        { x: pod.left, y: pod.y },
      ],
      anchor: { x: trunk, y: pod.y },
    });
  }
  return routes;
}

/** A served pod's shares as one tag: a line per shared proxy serving it, by its link. */
export interface ShareTag {
  /** The served pod (a group id). */
  pod: string;
  lines: { text: string; kind: ShareLink['kind'] }[];
  /** Where the link furthest out (its trunk leftmost) turns into the pod. */
  anchor: Point;
}

/** The routes' labels, one tag per served pod, node proxies' lines first. */
export function shareTags(routes: readonly ShareRoute[]): ShareTag[] {
  const byPod = new Map<string, ShareRoute[]>();
  for (const r of routes) byPod.set(r.to, [...(byPod.get(r.to) ?? []), r]);
  return [...byPod].map(([pod, list]) => ({
    pod,
    lines: [...list]
      .sort((a, b) => Number(a.kind === 'waypoint') - Number(b.kind === 'waypoint'))
      .map((r) => ({ text: r.text, kind: r.kind })),
    anchor: list.reduce((a, r) => (r.anchor.x < a.anchor.x ? r : a)).anchor,
  }));
}
