// A flame graph (icicle: callers above their callees) of a V8 CPU profile (node
// --cpu-prof), as one self-contained SVG: each frame's width is its share of the samples,
// frames of one function under one caller merged. Idle time is left out, so the widths
// are shares of the time the thread was busy. Pure: profile in, SVG text out.

/** What node --cpu-prof writes (the parts read here). */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  samples: number[];
  timeDeltas: number[];
}

export interface Frame {
  name: string;
  /** Microseconds of samples in it and under it. */
  total: number;
  children: Frame[];
}

const SKIPPED = new Set(['(idle)', '(program)']);

/** Where a script lives, shortened to what tells it apart: the repository's or a package's path. */
function place(url: string): string {
  const packaged = /node_modules\/(.*)$/.exec(url);
  if (packaged) return packaged[1]!;
  const own = /\/(collector|daemonset|proto|bench|cli|lab)\/(.*)$/.exec(url);
  return own ? `${own[1]}/${own[2]}` : url.replace(/^.*\//, '');
}

function frameName(frame: CpuProfile['nodes'][number]['callFrame']): string {
  const name = frame.functionName || '(anonymous)';
  return frame.url ? `${name} ${place(frame.url)}:${frame.lineNumber + 1}` : name;
}

/** The profile's call tree, same-named siblings merged, with each frame's time. */
export function callTree(profile: CpuProfile): Frame {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const build = (id: number): Frame | undefined => {
    const node = byId.get(id);
    if (!node || SKIPPED.has(node.callFrame.functionName)) return undefined;
    const merged = new Map<string, Frame>();
    for (const child of node.children ?? []) {
      const frame = build(child);
      if (!frame) continue;
      const same = merged.get(frame.name);
      if (same) merge(same, frame);
      else merged.set(frame.name, frame);
    }
    const children = [...merged.values()].sort((a, b) => b.total - a.total);
    const total = Math.max(0, self.get(id) ?? 0) + children.reduce((n, c) => n + c.total, 0);
    return { name: frameName(node.callFrame), total, children };
  };
  const root = profile.nodes[0];
  return (root && build(root.id)) ?? { name: '(root)', total: 0, children: [] };
}

function merge(into: Frame, other: Frame): void {
  into.total += other.total;
  for (const child of other.children) {
    const same = into.children.find((c) => c.name === child.name);
    if (same) merge(same, child);
    else into.children.push(child);
  }
  into.children.sort((a, b) => b.total - a.total);
}

const xmlText = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export interface FlameGraphOptions {
  title: string;
  width?: number;
  rowHeight?: number;
  /** Frames narrower than this share of the whole are left out. */
  minShare?: number;
}

/** The SVG of a call tree: one row per depth, each frame's share in its tooltip and label. */
export function flameGraphSvg(tree: Frame, options: FlameGraphOptions): string {
  const width = options.width ?? 1200;
  const row = options.rowHeight ?? 17;
  const minShare = options.minShare ?? 0.002;
  const top = 28;
  const rects: string[] = [];
  let depthMax = 0;
  const draw = (frame: Frame, x: number, depth: number) => {
    const share = tree.total > 0 ? frame.total / tree.total : 0;
    if (share < minShare) return;
    depthMax = Math.max(depthMax, depth);
    const w = share * width;
    const y = top + depth * row;
    const label = `${frame.name} (${(share * 100).toFixed(1)}%)`;
    // Warm colours by name, so one function keeps its colour across the graph.
    let hash = 0;
    for (const c of frame.name) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
    const fill = `hsl(${20 + (hash % 40)}, ${60 + (hash % 30)}%, ${55 + ((hash >> 8) % 20)}%)`;
    const fits = Math.floor((w - 6) / 7);
    const text =
      fits >= 4
        ? `<text x="${(x + 3).toFixed(1)}" y="${y + row - 5}">${xmlText(label.length > fits ? `${label.slice(0, fits - 1)}…` : label)}</text>`
        : '';
    rects.push(
      `<g><title>${xmlText(label)}</title><rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${row - 1}" fill="${fill}"/>${text}</g>`,
    );
    let childX = x;
    for (const child of frame.children) {
      draw(child, childX, depth + 1);
      childX += tree.total > 0 ? (child.total / tree.total) * width : 0;
    }
  };
  draw(tree, 0, 0);
  const height = top + (depthMax + 1) * row + 4;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="monospace" font-size="11">`,
    `<title>${xmlText(options.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="4" y="18" font-size="13">${xmlText(options.title)}</text>`,
    ...rects,
    '</svg>',
  ].join('\n');
}
