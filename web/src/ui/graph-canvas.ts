// The topology drawn on a Canvas: pod outlines, directed edges, process and peer marks,
// labels. Canvas because SVG cannot keep 1,000 processes and 3,000 edges smooth while
// panning: everything is in world coordinates and a pan or zoom only changes the
// transform. Marks are batched by colour and width, so a frame is a few dozen strokes.
// Text goes through fillText, which draws characters and never interprets them.
// The mesh's shared proxies (node proxies, waypoints) are drawn apart from the apps: in
// a band below them, as boxes rather than outlines, with dashed links (not edges) to the
// pods they serve, each saying that pod's share (shared-band.ts places them).
import { type D3ZoomEvent, select, type ZoomTransform, zoom, zoomIdentity } from 'd3';
import { colourOf, widthScale } from '../model/encoding.js';
import { type Hit, hitTest, hullOf, linkPath, NODE_RADIUS } from '../model/geometry.js';
import {
  podLabelLines,
  type Scene,
  type SceneGroup,
  type SceneLink,
  type SceneNode,
} from '../model/graph.js';
import {
  type Box,
  placeLabels,
  placesAround,
  placesBeside,
  Regions,
} from '../model/label-layout.js';
import { bounds, fitTransform, type Point } from '../model/layout.js';
import {
  bandBox,
  HULL_PAD,
  type ShareRoute,
  shareRoutes,
  shareTags,
} from '../model/shared-band.js';

export interface GraphCallbacks {
  select(hit: Hit | null): void;
  hover(hit: Hit | null, at: { x: number; y: number }): void;
}

const KIND_FILL = { app: '#3b6fb6', sidecar: '#e07b1a', external: '#6b7280' } as const;
const FONT = '11px system-ui, sans-serif';
const POD_FONT = '11px system-ui, sans-serif';
const POD_LINE = 13;
/** The shared proxies' colours: their band, their boxes and their links to the pods. */
const SHARED = {
  band: '#faf7ff',
  bandEdge: '#c4b5fd',
  box: '#ede9fe',
  boxEdge: '#7c3aed',
  link: { 'node-proxy': '#7c3aed', waypoint: '#0f766e' },
} as const;
const BAND_CAPTION = 'shared proxies, outside the pods they serve';
/** Room kept at the canvas's sides by a fit (CSS pixels): the labels of the outer pods. */
const FIT_ROOM = 36;

/** A pod's label as placed: its top-left in world units (a pan keeps it), size in pixels. */
interface PodLabel {
  group: SceneGroup;
  lines: string[];
  world: Point;
  width: number;
  height: number;
  overlaps: boolean;
}

/**
 * A label other than a pod's: the shares of a served pod (one line per shared proxy
 * serving it, in its link's colour), or the band's caption.
 */
interface PlacedText {
  id: string;
  lines: { text: string; colour: string }[];
  world: Point;
  width: number;
  height: number;
}

interface Prepared {
  nodes: Map<string, SceneNode>;
  links: (SceneLink & { width: number; colour: string; bend: number })[];
  /** Outlines of app pods; a shared proxy's pod is a box (its outline's four corners). */
  hulls: { group: SceneGroup; outline: Point[]; top: Point }[];
  routes: ShareRoute[];
  band: { x0: number; y0: number; x1: number; y1: number } | null;
}

export class GraphCanvas {
  readonly canvas: HTMLCanvasElement;
  private readonly context: CanvasRenderingContext2D;
  private scene: Scene = { nodes: [], links: [], groups: [], shares: [] };
  private positions = new Map<string, Point>();
  private prepared: Prepared = { nodes: new Map(), links: [], hulls: [], routes: [], band: null };
  private transform: ZoomTransform = zoomIdentity;
  private readonly zoomBehaviour = zoom<HTMLCanvasElement, unknown>().scaleExtent([0.02, 8]);
  private selected: Hit | null = null;
  private hovered: Hit | null = null;
  private pending = false;
  private fitted = false;
  /** The user panned or zoomed: from then on only they move the view. */
  private userMoved = false;
  /** Room kept clear on the left when fitting (the legend, when it is open). */
  private fitInsetLeft = 0;
  /**
   * Pod labels placed for one zoom level, one canvas size and one scene (a pan does not
   * move them; the size matters, as labels are kept on the canvas).
   */
  private podLabels: {
    key: string;
    prepared: Prepared | null;
    labels: PodLabel[];
    texts: PlacedText[];
  } = { key: '', prepared: null, labels: [], texts: [] };
  /** The pod labels drawn in the last frame, in CSS pixels (for tests and tooling). */
  drawnPodLabels: { id: string; box: Box; lines: string[] }[] = [];
  /** The share links' labels and the band's caption drawn in the last frame (CSS pixels). */
  drawnTexts: { id: string; box: Box; lines: string[] }[] = [];
  /** The band and each pod's outline (its bounding box) in the last frame (CSS pixels). */
  drawnShapes: { band: Box | null; pods: { id: string; role: SceneGroup['role']; box: Box }[] } = {
    band: null,
    pods: [],
  };
  /** Frames drawn, and when the first frame with marks was drawn (ms since page start). */
  frames = 0;
  firstRenderMs: number | null = null;

  constructor(
    private readonly container: HTMLElement,
    private readonly callbacks: GraphCallbacks,
  ) {
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'graph';
    this.canvas.setAttribute('aria-label', 'topology');
    container.appendChild(this.canvas);
    this.context = this.canvas.getContext('2d', { alpha: false })!;
    this.zoomBehaviour.on('zoom', (event: D3ZoomEvent<HTMLCanvasElement, unknown>) => {
      this.transform = event.transform;
      if (event.sourceEvent) this.userMoved = true;
      this.requestDraw();
    });
    const canvasSelection = select(this.canvas);
    canvasSelection.call(this.zoomBehaviour).on('dblclick.zoom', null);
    this.canvas.addEventListener('click', (event) => {
      this.selected = this.hitAt(event);
      this.callbacks.select(this.selected);
      this.requestDraw();
    });
    this.canvas.addEventListener('pointermove', (event) => {
      if (event.buttons !== 0) return; // panning
      const hit = this.hitAt(event);
      if (hit?.id !== this.hovered?.id) {
        this.hovered = hit;
        this.requestDraw();
      }
      this.callbacks.hover(hit, { x: event.offsetX, y: event.offsetY });
    });
    new ResizeObserver(() => this.resize()).observe(container);
    this.resize();
  }

  /** The scene being drawn. */
  get drawnScene(): Scene {
    return this.scene;
  }

  setScene(scene: Scene, positions: Map<string, Point>): void {
    this.scene = scene;
    this.positions = positions;
    this.prepare();
    if (!this.fitted && scene.nodes.length > 0) {
      this.fit();
      this.fitted = true;
    }
    this.requestDraw();
  }

  /** Marks a node or edge as selected (from a panel or the search), or clears it. */
  setSelected(hit: Hit | null): void {
    this.selected = hit;
    this.requestDraw();
  }

  /** Zooms to show every node, in the room right of `fitInsetLeft`. */
  fit(): void {
    const { width, height } = this.size();
    const inset = width - this.fitInsetLeft >= 320 ? this.fitInsetLeft : 0;
    // Everything drawn: the marks, and the shared proxies' band, which reaches past them.
    const band = this.prepared.band;
    const corners = band
      ? [
          { x: band.x0, y: band.y0 },
          { x: band.x1, y: band.y1 },
        ]
      : [];
    const t = fitTransform(
      bounds([...this.positions.values(), ...corners], 30),
      width - inset,
      height,
      2,
      FIT_ROOM,
    );
    select(this.canvas).call(
      this.zoomBehaviour.transform,
      zoomIdentity.translate(t.x + inset, t.y).scale(t.k),
    );
  }

  /** Keeps `pixels` on the left clear when fitting (the legend); refits if the view is ours. */
  setFitInsetLeft(pixels: number): void {
    if (pixels === this.fitInsetLeft) return;
    this.fitInsetLeft = pixels;
    if (this.fitted && !this.userMoved) this.fit();
  }

  /** Moves the view by (dx, dy) CSS pixels, as a drag would. */
  panBy(dx: number, dy: number): void {
    select(this.canvas).call(
      this.zoomBehaviour.translateBy,
      dx / this.transform.k,
      dy / this.transform.k,
    );
  }

  /** Centres the view on a node. */
  focus(id: string): void {
    const p = this.positions.get(id);
    if (!p) return;
    const { width, height } = this.size();
    const k = Math.max(this.transform.k, 1);
    select(this.canvas).call(
      this.zoomBehaviour.transform,
      zoomIdentity.translate(width / 2 - k * p.x, height / 2 - k * p.y).scale(k),
    );
  }

  /** Screen position (CSS pixels, relative to the canvas) of a world point. */
  toScreen(p: Point): Point {
    return { x: this.transform.applyX(p.x), y: this.transform.applyY(p.y) };
  }

  /** Where a node is drawn, and where the middle of an edge is (for tests and tooling). */
  screenOf(hit: Hit): Point | null {
    if (hit.kind === 'node') {
      const p = this.positions.get(hit.id);
      return p ? this.toScreen(p) : null;
    }
    const link = this.prepared.links.find((l) => l.id === hit.id);
    const a = link && this.positions.get(link.source);
    const b = link && this.positions.get(link.target);
    if (!link || !a || !b) return null;
    const path = linkPath(a, b, link.bend);
    // The quadratic curve's midpoint.
    return this.toScreen({
      x: 0.25 * path.start.x + 0.5 * path.control.x + 0.25 * path.end.x,
      y: 0.25 * path.start.y + 0.5 * path.control.y + 0.25 * path.end.y,
    });
  }

  /**
   * The colour drawn at a point (CSS pixels). A frame still pending (the view moved, as a
   * resize refits it) is drawn first, so the pixels match the transform screenOf uses.
   */
  pixelAt(p: Point): [number, number, number] {
    if (this.pending) this.draw();
    const ratio = window.devicePixelRatio || 1;
    const [r, g, b] = this.context.getImageData(
      Math.round(p.x * ratio),
      Math.round(p.y * ratio),
      1,
      1,
    ).data;
    return [r!, g!, b!];
  }

  private size() {
    return { width: this.canvas.clientWidth || 1, height: this.canvas.clientHeight || 1 };
  }

  private resize(): void {
    const ratio = window.devicePixelRatio || 1;
    const { width, height } = this.container.getBoundingClientRect();
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    this.canvas.width = Math.max(1, Math.round(width * ratio));
    this.canvas.height = Math.max(1, Math.round(height * ratio));
    // Until the user moves the view, it keeps showing everything at any size.
    if (this.fitted && !this.userMoved) this.fit();
    this.requestDraw();
  }

  private hitAt(event: MouseEvent): Hit | null {
    const [x, y] = this.transform.invert([event.offsetX, event.offsetY]);
    return hitTest({ x, y }, this.positions, this.prepared.links, 6 / this.transform.k);
  }

  /** Widths, colours, bends and outlines: computed when the scene changes, not per frame. */
  private prepare(): void {
    const width = widthScale(this.scene.links.map((l) => l.rate));
    const pairs = new Map<string, number>();
    const links = this.scene.links.map((l) => {
      // Edges between the same two nodes bend apart, both directions included.
      const pair = l.source < l.target ? `${l.source}|${l.target}` : `${l.target}|${l.source}`;
      const k = pairs.get(pair) ?? 0;
      pairs.set(pair, k + 1);
      const side = l.source < l.target ? 1 : -1;
      return { ...l, width: width(l.rate), colour: colourOf(l.valueMs), bend: side * (8 + 14 * k) };
    });
    const hulls = this.scene.groups.map((group) => {
      const points = group.nodes.map((id) => this.positions.get(id)).filter((p): p is Point => !!p);
      const outline = group.role === 'app' ? hullOf(points) : boxOf(points);
      const top = outline.reduce((t, p) => (p.y < t.y ? p : t), outline[0] ?? { x: 0, y: 0 });
      return { group, outline, top };
    });
    this.prepared = {
      nodes: new Map(this.scene.nodes.map((n) => [n.id, n])),
      links,
      hulls,
      routes: shareRoutes(this.scene, this.positions),
      band: bandBox(this.scene, this.positions),
    };
  }

  private requestDraw(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  private draw(): void {
    const ctx = this.context;
    const ratio = window.devicePixelRatio || 1;
    const t = this.transform;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.setTransform(ratio * t.k, 0, 0, ratio * t.k, ratio * t.x, ratio * t.y);

    // What is on screen, in world coordinates, to skip labels that cannot be seen.
    const { width, height } = this.size();
    const [vx0, vy0] = t.invert([0, 0]);
    const [vx1, vy1] = t.invert([width, height]);
    const visible = (p: Point) => p.x >= vx0 && p.x <= vx1 && p.y >= vy0 && p.y <= vy1;

    this.drawBand(ctx);
    this.drawRoutes(ctx);
    this.drawHulls(ctx);
    this.drawLinks(ctx);
    this.drawNodes(ctx);
    this.drawLabels(ctx, visible);
    this.drawPodLabels(ctx);
    this.frames++;
    if (this.firstRenderMs === null && this.scene.nodes.length > 0)
      this.firstRenderMs = performance.now();
  }

  /** The shared proxies' band: a strip across the picture, apart from the apps. */
  private drawBand(ctx: CanvasRenderingContext2D): void {
    const b = this.prepared.band;
    if (!b) return;
    const k = this.transform.k;
    ctx.fillStyle = SHARED.band;
    ctx.fillRect(b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0);
    ctx.setLineDash([6 / k, 4 / k]);
    ctx.strokeStyle = SHARED.bandEdge;
    ctx.lineWidth = 1 / k;
    ctx.strokeRect(b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0);
    ctx.setLineDash([]);
  }

  /** Dashed links from each shared proxy to the pods it serves: not traffic, so no arrows. */
  private drawRoutes(ctx: CanvasRenderingContext2D): void {
    const k = this.transform.k;
    ctx.lineWidth = 1.5 / k;
    ctx.setLineDash([5 / k, 4 / k]);
    ctx.lineJoin = 'round';
    for (const kind of ['node-proxy', 'waypoint'] as const) {
      const path = new Path2D();
      for (const r of this.prepared.routes) {
        if (r.kind !== kind) continue;
        path.moveTo(r.points[0]!.x, r.points[0]!.y);
        for (const p of r.points.slice(1)) path.lineTo(p.x, p.y);
      }
      ctx.strokeStyle = SHARED.link[kind];
      ctx.stroke(path);
    }
    ctx.setLineDash([]);
  }

  private drawHulls(ctx: CanvasRenderingContext2D): void {
    const k = this.transform.k;
    for (const { group, outline } of this.prepared.hulls) {
      if (outline.length === 0) continue;
      ctx.beginPath();
      ctx.moveTo(outline[0]!.x, outline[0]!.y);
      for (const p of outline) ctx.lineTo(p.x, p.y);
      ctx.closePath();
      const selected = this.selected?.kind === 'node' && group.nodes.includes(this.selected.id);
      const shared = group.role !== 'app';
      ctx.fillStyle = shared
        ? SHARED.box
        : group.overheadMs === null
          ? '#f1f4f8'
          : tint(colourOf(group.overheadMs));
      ctx.fill();
      ctx.lineWidth = (shared ? 1.5 : 1) / k;
      ctx.strokeStyle = selected ? '#1f2937' : shared ? SHARED.boxEdge : '#c5ccd6';
      ctx.stroke();
    }
  }

  private drawLinks(ctx: CanvasRenderingContext2D): void {
    const k = this.transform.k;
    // One stroke per (colour, width step): a few dozen draw calls for thousands of edges.
    const batches = new Map<string, Path2D>();
    const heads = new Map<string, Path2D>();
    const arrows = k > 0.35;
    for (const l of this.prepared.links) {
      const a = this.positions.get(l.source);
      const b = this.positions.get(l.target);
      if (!a || !b) continue;
      const step = Math.round(l.width);
      // Edges into and out of a shared proxy faint: its own batch.
      const key = `${l.colour}|${step}|${l.shared ? 'faint' : ''}`;
      let path = batches.get(key);
      if (!path) {
        path = new Path2D();
        batches.set(key, path);
      }
      const p = linkPath(a, b, l.bend);
      path.moveTo(p.start.x, p.start.y);
      path.quadraticCurveTo(p.control.x, p.control.y, p.end.x, p.end.y);
      if (arrows) {
        const headKey = `${l.colour}|${l.shared ? 'faint' : ''}`;
        let head = heads.get(headKey);
        if (!head) {
          head = new Path2D();
          heads.set(headKey, head);
        }
        // Along the curve's last tangent (control -> end).
        const dx = p.end.x - p.control.x;
        const dy = p.end.y - p.control.y;
        const len = Math.hypot(dx, dy) || 1;
        const ux = dx / len;
        const uy = dy / len;
        const size = 5 + step;
        head.moveTo(p.end.x, p.end.y);
        head.lineTo(p.end.x - ux * size - uy * size * 0.5, p.end.y - uy * size + ux * size * 0.5);
        head.lineTo(p.end.x - ux * size + uy * size * 0.5, p.end.y - uy * size - ux * size * 0.5);
        head.closePath();
      }
    }
    ctx.lineCap = 'round';
    for (const [key, path] of batches) {
      const [colour, step, faint] = key.split('|');
      ctx.globalAlpha = faint ? 0.3 : 1;
      ctx.strokeStyle = colour!;
      ctx.lineWidth = Math.max(Number(step), 1 / k);
      ctx.stroke(path);
    }
    for (const [key, head] of heads) {
      const [colour, faint] = key.split('|');
      ctx.globalAlpha = faint ? 0.3 : 1;
      ctx.fillStyle = colour!;
      ctx.fill(head);
    }
    ctx.globalAlpha = 1;
    // Edges drawn light (the yellow steps) get a thin outline so they stay visible.
    const focus = [this.selected, this.hovered].filter((h): h is Hit => h?.kind === 'link');
    for (const h of focus) {
      const l = this.prepared.links.find((x) => x.id === h.id);
      const a = l && this.positions.get(l.source);
      const b = l && this.positions.get(l.target);
      if (!l || !a || !b) continue;
      const p = linkPath(a, b, l.bend);
      ctx.beginPath();
      ctx.moveTo(p.start.x, p.start.y);
      ctx.quadraticCurveTo(p.control.x, p.control.y, p.end.x, p.end.y);
      ctx.strokeStyle = '#111827';
      ctx.lineWidth = l.width + 3 / k;
      ctx.globalAlpha = 0.35;
      ctx.stroke();
      ctx.globalAlpha = 1;
    }
  }

  private drawNodes(ctx: CanvasRenderingContext2D): void {
    const shapes = { app: new Path2D(), sidecar: new Path2D(), external: new Path2D() };
    const r = NODE_RADIUS;
    for (const n of this.scene.nodes) {
      const p = this.positions.get(n.id);
      if (!p) continue;
      const path = shapes[n.kind];
      if (n.kind === 'app') {
        path.moveTo(p.x + r, p.y);
        path.arc(p.x, p.y, r, 0, 2 * Math.PI);
      } else if (n.kind === 'sidecar') {
        // A hexagon: the proxy's usual mark.
        for (let i = 0; i < 6; i++) {
          const a = (Math.PI / 3) * i;
          const x = p.x + r * Math.cos(a);
          const y = p.y + r * Math.sin(a);
          if (i === 0) path.moveTo(x, y);
          else path.lineTo(x, y);
        }
        path.closePath();
      } else {
        path.rect(p.x - r * 0.85, p.y - r * 0.85, r * 1.7, r * 1.7);
      }
    }
    for (const kind of ['app', 'sidecar', 'external'] as const) {
      ctx.fillStyle = KIND_FILL[kind];
      ctx.fill(shapes[kind]);
    }
    ctx.lineWidth = 2.5 / this.transform.k;
    const ring = (id: string, radius: number, colour: string) => {
      const p = this.positions.get(id);
      if (!p) return;
      ctx.beginPath();
      ctx.arc(p.x, p.y, radius, 0, 2 * Math.PI);
      ctx.strokeStyle = colour;
      ctx.stroke();
    };
    for (const h of [this.selected, this.hovered])
      if (h?.kind === 'node') ring(h.id, r + 3, '#111827');
    for (const n of this.scene.nodes) if (n.match) ring(n.id, r + 6, '#7c3aed');
  }

  private drawLabels(ctx: CanvasRenderingContext2D, visible: (p: Point) => boolean): void {
    const k = this.transform.k;
    // Below ~8 px on screen a label is noise; the hovered and selected stay labelled.
    const all = k * 11 >= 8;
    ctx.font = FONT;
    ctx.textBaseline = 'middle';
    ctx.fillStyle = '#111827';
    const scale = 1 / Math.max(k, 1); // keep text from growing past 11 px when zoomed in
    const label = (text: string, p: Point, dx: number, dy: number) => {
      ctx.save();
      ctx.translate(p.x + dx, p.y + dy);
      ctx.scale(scale, scale);
      ctx.fillText(clip(text), 0, 0);
      ctx.restore();
    };
    if (all) {
      for (const n of this.scene.nodes) {
        const p = this.positions.get(n.id);
        if (p && visible(p)) label(n.label, p, NODE_RADIUS + 4, 0);
      }
      // Zoomed in, edges say their rate and latency at their middle (the hover does anyway).
      if (k >= 1.5) {
        ctx.fillStyle = '#374151';
        for (const l of this.prepared.links) {
          const a = this.positions.get(l.source);
          const b = this.positions.get(l.target);
          if (!a || !b || !l.text) continue;
          const c = linkPath(a, b, l.bend);
          const mid = {
            x: 0.25 * c.start.x + 0.5 * c.control.x + 0.25 * c.end.x,
            y: 0.25 * c.start.y + 0.5 * c.control.y + 0.25 * c.end.y,
          };
          if (visible(mid)) label(l.text, mid, 4, -8);
        }
      }
    } else {
      for (const h of [this.selected, this.hovered]) {
        if (h?.kind !== 'node') continue;
        const n = this.prepared.nodes.get(h.id);
        const p = this.positions.get(h.id);
        if (!n || !p) continue;
        ctx.save();
        ctx.translate(p.x + (NODE_RADIUS + 4) / k, p.y);
        ctx.scale(1 / k, 1 / k);
        ctx.fillText(clip(n.label), 0, 0);
        ctx.restore();
      }
    }
  }

  /**
   * Pod labels, drawn last and at a constant size on screen: the pod's name and what its
   * sidecar adds; then the share links' labels and the band's caption. Placed so none
   * covers another, a process label, a mark or a pod's outline; where no place is clear
   * (a crowded view zoomed out) the label is left out until zoomed in.
   */
  private drawPodLabels(ctx: CanvasRenderingContext2D): void {
    const t = this.transform;
    const ratio = window.devicePixelRatio || 1;
    const { width, height } = this.size();
    const key = `${t.k} ${width} ${height}`;
    if (this.podLabels.key !== key || this.podLabels.prepared !== this.prepared)
      this.podLabels = { key, prepared: this.prepared, ...this.placePodLabels(ctx) };
    const drawn: typeof this.drawnPodLabels = [];
    const onScreen = (x: number, y: number, w: number, h: number) =>
      !(x > width || y > height || x + w < 0 || y + h < 0);
    ctx.save();
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.font = POD_FONT;
    ctx.textBaseline = 'middle';
    for (const l of this.podLabels.labels) {
      if (l.overlaps) continue;
      const x = t.applyX(l.world.x);
      const y = t.applyY(l.world.y);
      if (!onScreen(x, y, l.width, l.height)) continue;
      ctx.fillStyle = '#ffffffd9';
      ctx.fillRect(x, y, l.width, l.height);
      l.lines.forEach((line, i) => {
        const baseline = y + 2 + POD_LINE * i + POD_LINE / 2;
        if (i === 0) {
          ctx.fillStyle = '#1f2937';
          ctx.fillText(clip(line), x + 4, baseline);
          return;
        }
        // The sidecar's line starts with a swatch of the pod fill's colour (same steps).
        if (i === 1 && l.group.sidecar) {
          ctx.fillStyle = colourOf(l.group.overheadMs);
          ctx.fillRect(x + 4, baseline - 4, 8, 8);
        }
        ctx.fillStyle = l.group.role === 'app' ? '#4b5563' : SHARED.boxEdge;
        ctx.fillText(line, x + 16, baseline);
      });
      drawn.push({
        id: l.group.id,
        box: { x, y, width: l.width, height: l.height },
        lines: l.lines,
      });
    }
    const texts: typeof this.drawnTexts = [];
    for (const l of this.podLabels.texts) {
      const x = t.applyX(l.world.x);
      const y = t.applyY(l.world.y);
      if (!onScreen(x, y, l.width, l.height)) continue;
      ctx.fillStyle = '#ffffffe6';
      ctx.fillRect(x, y, l.width, l.height);
      // A pod's shares are a tag on its dashed links, in their colour: not a process's name.
      if (l.id !== 'band') {
        ctx.strokeStyle = l.lines[0]!.colour;
        ctx.lineWidth = 1;
        ctx.strokeRect(x + 0.5, y + 0.5, l.width - 1, l.height - 1);
      }
      l.lines.forEach((line, i) => {
        ctx.fillStyle = line.colour;
        ctx.fillText(line.text, x + 3, y + 1 + POD_LINE * i + POD_LINE / 2);
      });
      texts.push({
        id: l.id,
        box: { x, y, width: l.width, height: l.height },
        lines: l.lines.map((line) => line.text),
      });
    }
    ctx.restore();
    this.drawnPodLabels = drawn;
    this.drawnTexts = texts;
    this.drawnShapes = this.shapesOnScreen();
  }

  /** The band and the pods' outlines as boxes on the canvas (for tests and tooling). */
  private shapesOnScreen(): typeof this.drawnShapes {
    const t = this.transform;
    const box = (x0: number, y0: number, x1: number, y1: number): Box => ({
      x: t.applyX(x0),
      y: t.applyY(y0),
      width: (x1 - x0) * t.k,
      height: (y1 - y0) * t.k,
    });
    const b = this.prepared.band;
    return {
      band: b ? box(b.x0, b.y0, b.x1, b.y1) : null,
      pods: this.prepared.hulls
        .filter((h) => h.outline.length > 0)
        .map(({ group, outline }) => {
          const xs = outline.map((p) => p.x);
          const ys = outline.map((p) => p.y);
          return {
            id: group.id,
            role: group.role,
            box: box(Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)),
          };
        }),
    };
  }

  private placePodLabels(ctx: CanvasRenderingContext2D): {
    labels: PodLabel[];
    texts: PlacedText[];
  } {
    const t = this.transform;
    const k = t.k;
    ctx.save();
    ctx.font = POD_FONT;
    const measured = this.prepared.hulls
      .filter((h) => h.outline.length > 0)
      .map(({ group, outline }) => {
        const lines = podLabelLines(group);
        const width =
          Math.max(
            ...lines.map(
              (l, i) => ctx.measureText(i === 0 ? clip(l) : l).width + (i === 0 ? 0 : 12),
            ),
          ) + 8;
        const xs = outline.map((p) => t.applyX(p.x));
        const ys = outline.map((p) => t.applyY(p.y));
        const region = {
          x: Math.min(...xs),
          y: Math.min(...ys),
          width: Math.max(...xs) - Math.min(...xs),
          height: Math.max(...ys) - Math.min(...ys),
        };
        return { group, lines, width, height: lines.length * POD_LINE + 4, region };
      });
    // Obstacles: the marks, and the process labels where they are drawn at this zoom.
    const obstacles: Box[] = [];
    const textScale = Math.min(k, 1);
    /** How far right of its outline each pod's process labels reach (CSS pixels). */
    const reach = new Map<string, number>();
    for (const n of this.scene.nodes) {
      const p = this.positions.get(n.id);
      if (!p) continue;
      const x = t.applyX(p.x);
      const y = t.applyY(p.y);
      const r = NODE_RADIUS * k;
      obstacles.push({ x: x - r, y: y - r, width: 2 * r, height: 2 * r });
      if (k * 11 >= 8) {
        const label = {
          x: t.applyX(p.x + NODE_RADIUS + 4),
          y: y - 7 * textScale,
          width: ctx.measureText(clip(n.label)).width * textScale,
          height: 14 * textScale,
        };
        obstacles.push(label);
        if (n.group) {
          const past = label.x + label.width - t.applyX(p.x + HULL_PAD);
          reach.set(n.group, Math.max(reach.get(n.group) ?? 0, past));
        }
      }
    }
    // And the pods' outlines: a label over another pod would read as that pod's.
    for (const m of measured) obstacles.push(m.region);
    const band = this.prepared.band;
    // Every label of a pod (its own, its shares') nearer to it than to any other pod.
    const regions = new Regions(measured.map((m) => m.region));
    const regionOf = new Map(measured.map((m) => [m.group.id, m.region]));
    const own = (pod: string, places: { x: number; y: number }[], w: number, h: number) => {
      const region = regionOf.get(pod);
      return region ? regions.nearestTo(places, w, h, region) : places;
    };
    const texts = [
      ...(band
        ? [
            {
              id: 'band',
              lines: [{ text: BAND_CAPTION, colour: SHARED.boxEdge }],
              // Inside the band: at its top left, else its bottom left.
              at: [
                { x: Math.max(t.applyX(band.x0) + 6, 4), y: t.applyY(band.y0) + 4 },
                {
                  x: Math.max(t.applyX(band.x0) + 6, 4),
                  y: t.applyY(band.y1) - POD_LINE - 6,
                },
              ],
            },
          ]
        : []),
      // Each served pod's shares as one tag, where its link furthest out turns into it.
      ...shareTags(this.prepared.routes).map((tag) => ({
        id: `shares:${tag.pod}`,
        lines: tag.lines.map((l) => ({ text: l.text, colour: SHARED.link[l.kind] })),
        at: { x: t.applyX(tag.anchor.x), y: t.applyY(tag.anchor.y) },
      })),
    ].map((x) => {
      const width = Math.max(...x.lines.map((l) => ctx.measureText(l.text).width)) + 6;
      const height = x.lines.length * POD_LINE + 2;
      return {
        ...x,
        width,
        height,
        places: Array.isArray(x.at)
          ? x.at
          : own(x.id.slice('shares:'.length), placesBeside(x.at, width, height), width, height),
      };
    });
    ctx.restore();
    const { width, height } = this.size();
    const view = { x: 0, y: 0, width, height };
    // Meshed pods first (their cost is the point), then the shared proxies, then by name.
    const rank = (m: (typeof measured)[number]) =>
      m.group.sidecar !== null ? 0 : m.group.role !== 'app' ? 1 : 2;
    measured.sort((a, b) => rank(a) - rank(b) || a.lines[0]!.localeCompare(b.lines[0]!));
    const placed = placeLabels(
      [
        ...measured.map((m) => ({
          id: m.group.id,
          width: m.width,
          height: m.height,
          places: own(
            m.group.id,
            placesAround(m.region, m.width, m.height, view, 4, 4, reach.get(m.group.id) ?? 0),
            m.width,
            m.height,
          ),
        })),
        ...texts.map((x) => ({
          id: `text:${x.id}`,
          width: x.width,
          height: x.height,
          places: x.places,
        })),
      ],
      obstacles,
      view,
    );
    const byId = new Map(measured.map((m) => [m.group.id, m]));
    const textById = new Map(texts.map((x) => [`text:${x.id}`, x]));
    const labels: PodLabel[] = [];
    const placedTexts: PlacedText[] = [];
    for (const p of placed) {
      const world = { x: t.invertX(p.box.x), y: t.invertY(p.box.y) };
      const x = textById.get(p.id);
      if (x) {
        // A share's label with no clear place waits until zoomed in, as a pod's does.
        if (!p.overlaps)
          placedTexts.push({ id: x.id, lines: x.lines, world, width: x.width, height: x.height });
        continue;
      }
      const m = byId.get(p.id)!;
      labels.push({
        group: m.group,
        lines: m.lines,
        world,
        width: m.width,
        height: m.height,
        overlaps: p.overlaps,
      });
    }
    return { labels, texts: placedTexts };
  }
}

/** Observed names can be long: the canvas shows 48 characters, the panels all of them. */
function clip(text: string): string {
  return text.length > 48 ? `${text.slice(0, 47)}…` : text;
}

/** A shared proxy's pod: the box around its marks, with an outline's room around them. */
function boxOf(points: readonly Point[]): Point[] {
  if (points.length === 0) return [];
  const x0 = Math.min(...points.map((p) => p.x)) - HULL_PAD;
  const x1 = Math.max(...points.map((p) => p.x)) + HULL_PAD;
  const y0 = Math.min(...points.map((p) => p.y)) - HULL_PAD;
  const y1 = Math.max(...points.map((p) => p.y)) + HULL_PAD;
  return [
    { x: x0, y: y0 },
    { x: x1, y: y0 },
    { x: x1, y: y1 },
    { x: x0, y: y1 },
  ];
}

/** A colour lightened for a pod's fill, so the edges over it stay readable. */
function tint(hex: string): string {
  const n = Number.parseInt(hex.slice(1), 16);
  const mix = (c: number) => Math.round(c + (255 - c) * 0.7);
  return `rgb(${mix((n >> 16) & 255)}, ${mix((n >> 8) & 255)}, ${mix(n & 255)})`;
}
