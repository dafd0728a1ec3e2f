// The viewer's model of the topology: the collector's pods, processes, externals, edges
// and pod costs, keyed by their stable ids, updated in place by live deltas; and the
// scene derived from it for one set of view options (filter, search, width and colour
// measures). Pure: no DOM, so it is unit tested in node.
import type {
  PodCost,
  Topology,
  TopologyDelta,
  TopologyEdge,
  TopologyExternal,
  TopologyPod,
  TopologyProcess,
} from './api-types.js';
import { formatBytes, formatMs, formatRate } from './format.js';
import { type PodRole, sharedProxies, shareText } from './shared-proxies.js';

export type NodeKind = 'app' | 'sidecar' | 'external';
export type WidthBy = 'requests' | 'bytes';
export type ColorBy = 'latency' | 'overhead';

export interface SceneNode {
  id: string;
  kind: NodeKind;
  /** Untrusted text (a process name or a peer's name): drawn as text only. */
  label: string;
  /** The pod id, or null for an external peer or a process outside any pod. */
  group: string | null;
  namespace: string | null;
  /** Matched the search (drawn emphasised). */
  match: boolean;
  /**
   * The processes this node stands for when several of one command in one pod are
   * drawn as one (short-lived clients, a server's workers); absent for a single one.
   */
  members?: string[];
}

export interface SceneLink {
  id: string;
  source: string;
  target: string;
  /** The server's port. */
  port: number;
  /** The measure the width encodes: requests/s or bytes/s. */
  rate: number;
  /**
   * The measure the colour encodes, in ms: the exchange latency p50, or the sidecar's
   * added latency p50 for the direction the edge enters or leaves it (null when neither
   * end is a sidecar, or unknown). For merged edges, the members' p50s weighted by
   * their rates: an estimate of the p50 over all of them, exact when they agree.
   */
  valueMs: number | null;
  /** The edges this one stands for, between grouped processes; absent for a single one. */
  members?: string[];
  /** What the edge label says when zoomed in: its rate and the colour's measure. */
  text: string;
  /**
   * An end is in a shared proxy's pod (a node proxy, a waypoint): the edge is the
   * mechanism that carries the apps' calls, drawn faint so the apps' own calls stand out.
   */
  shared?: boolean;
}

/**
 * A shared proxy serving a pod: drawn as a dashed link from the proxy's pod to the pod,
 * not a traffic edge, saying the pod's share of the proxy's cost and how it was split.
 */
export interface ShareLink {
  /** `share:<proxy pod>><served pod>`: stable across updates. */
  id: string;
  /** The shared proxy's pod (a group id). */
  from: string;
  /** The served pod (a group id). */
  to: string;
  kind: 'node-proxy' | 'waypoint';
  /** "42% by on-cpu"; a waypoint's says so ("waypoint 30% by bytes"). */
  text: string;
}

export interface SceneGroup {
  id: string;
  namespace: string;
  name: string;
  nodes: string[];
  /** An app's pod, or a proxy shared by other pods, drawn apart from them (shared-band.ts). */
  role: PodRole;
  /** For a shared proxy's pod: how many pods of the data it serves. */
  serves: number;
  /** Inbound + outbound added latency p50 (ms), for the overhead colouring. */
  overheadMs: number | null;
  /** The pod's sidecar's added latency p50 per direction (ms), or null without a sidecar. */
  sidecar: {
    /** What adds it: a sidecar in the pod, or a node proxy outside it (ambient mode). */
    via: 'sidecar' | 'node proxy';
    /** The proxy's executable name (ztunnel for a node proxy). Untrusted text. */
    proxy: string;
    /** A waypoint carries the pod's inbound traffic too (its time is not in inboundMs). */
    waypoint: boolean;
    inboundMs: number | null;
    outboundMs: number | null;
  } | null;
}

export interface Scene {
  nodes: SceneNode[];
  links: SceneLink[];
  groups: SceneGroup[];
  /** Shared proxies serving pods, both ends in the scene. */
  shares: ShareLink[];
}

export interface SceneOptions {
  /** Namespaces to show; empty shows every namespace. */
  namespaces?: ReadonlySet<string>;
  /** Case-insensitive text matched against pod, process and peer names. */
  search?: string;
  widthBy?: WidthBy;
  colorBy?: ColorBy;
  /** Draw processes of one command in one pod as one node (the default). */
  groupRepeated?: boolean;
}

type Snapshot = Topology & { costs: PodCost[] };

export class GraphModel {
  readonly pods = new Map<string, TopologyPod>();
  readonly processes = new Map<string, TopologyProcess>();
  readonly externals = new Map<string, TopologyExternal>();
  readonly edges = new Map<string, TopologyEdge>();
  /** Pod costs by pod id ("pod:ns/name"). */
  readonly costs = new Map<string, PodCost>();
  fromMs = 0;
  toMs = 0;
  /** Grouped nodes of the last scene and the processes each stands for. */
  private groupMembers = new Map<string, string[]>();

  applySnapshot(s: Snapshot): void {
    for (const map of [this.pods, this.processes, this.externals, this.edges, this.costs])
      map.clear();
    this.fromMs = s.fromMs;
    this.toMs = s.toMs;
    for (const p of s.pods) this.pods.set(p.id, p);
    for (const p of s.processes) this.processes.set(p.id, p);
    for (const x of s.externals) this.externals.set(x.id, x);
    for (const e of s.edges) this.edges.set(e.id, e);
    for (const c of s.costs) this.costs.set(c.pod, c);
  }

  applyDelta(d: TopologyDelta): void {
    this.fromMs = d.fromMs;
    this.toMs = d.toMs;
    const apply = <T extends { id: string }>(
      map: Map<string, T>,
      upserted: readonly T[],
      removed: readonly string[],
    ) => {
      for (const id of removed) map.delete(id);
      for (const x of upserted) map.set(x.id, x);
    };
    apply(this.pods, d.upserted.pods, d.removed.pods);
    apply(this.processes, d.upserted.processes, d.removed.processes);
    apply(this.externals, d.upserted.externals, d.removed.externals);
    apply(this.edges, d.upserted.edges, d.removed.edges);
    for (const id of d.costs.removed) this.costs.delete(id);
    for (const c of d.costs.upserted) this.costs.set(c.pod, c);
  }

  namespaces(): string[] {
    return [...new Set([...this.pods.values()].map((p) => p.namespace))].sort();
  }

  /** The pod a process (or a grouped node) belongs to, when the model knows it. */
  podOf(nodeId: string): TopologyPod | undefined {
    const id = this.groupMembers.get(nodeId)?.[0] ?? nodeId;
    const pod = this.processes.get(id)?.pod;
    return pod ? this.pods.get(pod) : undefined;
  }

  scene(options: SceneOptions = {}): Scene {
    const widthBy = options.widthBy ?? 'requests';
    const colorBy = options.colorBy ?? 'latency';
    const needle = options.search?.trim().toLowerCase() ?? '';
    const namespaces = options.namespaces ?? new Set<string>();

    const all = new Map<string, SceneNode>();
    for (const p of this.processes.values()) {
      const pod = p.pod ? this.pods.get(p.pod) : undefined;
      all.set(p.id, {
        id: p.id,
        kind: p.role,
        label: p.comm || p.exe || `pid ${p.pid}`,
        group: pod ? pod.id : null,
        namespace: pod?.namespace ?? null,
        match: false,
      });
    }
    for (const x of this.externals.values())
      all.set(x.id, {
        id: x.id,
        kind: 'external',
        label: externalLabel(x),
        group: null,
        namespace: x.name?.split('/')[0] ?? null,
        match: false,
      });

    // Chosen: nodes in the namespaces and matching the search. Shown: those, and the
    // other end of their edges as context.
    const podText = (n: SceneNode) => {
      const pod = n.group ? this.pods.get(n.group) : undefined;
      return pod ? `${pod.namespace}/${pod.name}` : '';
    };
    const chosen = new Set<string>();
    for (const n of all.values()) {
      const inNamespace =
        namespaces.size === 0 || (n.namespace !== null && namespaces.has(n.namespace));
      const matches =
        needle === '' ||
        n.label.toLowerCase().includes(needle) ||
        podText(n).toLowerCase().includes(needle);
      if (inNamespace && matches) {
        chosen.add(n.id);
        n.match = needle !== '';
      }
    }
    const everything = chosen.size === all.size;
    const links: SceneLink[] = [];
    const shown = new Set(chosen);
    for (const e of this.edges.values()) {
      if (!all.has(e.source) || !all.has(e.target)) continue;
      if (!everything && !chosen.has(e.source) && !chosen.has(e.target)) continue;
      shown.add(e.source);
      shown.add(e.target);
      links.push({
        id: e.id,
        source: e.source,
        target: e.target,
        port: e.port,
        rate: widthBy === 'requests' ? e.requestsPerS : e.bytesPerS,
        valueMs: colorBy === 'latency' ? e.latencyMs : this.overheadOf(e),
        text: '',
      });
      const link = links[links.length - 1]!;
      link.text = linkText(link, widthBy, colorBy, e.multiplexed);
    }
    const grouped =
      options.groupRepeated === false
        ? { nodes: [...all.values()].filter((n) => shown.has(n.id)), links }
        : groupRepeated(
            [...all.values()].filter((n) => shown.has(n.id)),
            links,
          );
    for (const l of grouped.links) if (l.members) l.text = linkText(l, widthBy, colorBy, false);
    const nodes = grouped.nodes;
    this.groupMembers = new Map(
      nodes.filter((n) => n.members).map((n) => [n.id, n.members!] as const),
    );
    const sp = sharedProxies({ pods: this.pods, processes: this.processes, costs: this.costs });
    const groupOf = new Map(nodes.map((n) => [n.id, n.group]));
    const isShared = (id: string) => {
      const group = groupOf.get(id);
      return group ? sp.roles.has(group) : false;
    };
    for (const l of grouped.links) if (isShared(l.source) || isShared(l.target)) l.shared = true;
    const groups = new Map<string, SceneGroup>();
    for (const n of nodes) {
      if (!n.group) continue;
      const pod = this.pods.get(n.group)!;
      let g = groups.get(pod.id);
      if (!g) {
        const cost = this.costs.get(pod.id);
        const role = sp.roles.get(pod.id) ?? 'app';
        const parts = [cost?.inbound?.addedLatency.p50Ms, cost?.outbound?.addedLatency.p50Ms];
        const known = parts.filter((v): v is number => typeof v === 'number');
        const meshed =
          role === 'app' &&
          cost?.proxy &&
          (cost.mode === 'sidecar' || cost.mode === 'ambient' || cost.mode === 'ambient+waypoint');
        g = {
          id: pod.id,
          namespace: pod.namespace,
          name: pod.name,
          nodes: [],
          role,
          serves: sp.served.filter((s) => s.proxyPod === pod.id).length,
          overheadMs: role === 'app' && known.length > 0 ? known.reduce((a, b) => a + b, 0) : null,
          sidecar: meshed
            ? {
                via: cost.mode === 'sidecar' ? 'sidecar' : 'node proxy',
                proxy: cost.proxy!,
                waypoint: cost.waypoint !== null,
                inboundMs: cost.inbound?.addedLatency.p50Ms ?? null,
                outboundMs: cost.outbound?.addedLatency.p50Ms ?? null,
              }
            : null,
        };
        groups.set(pod.id, g);
      }
      g.nodes.push(n.id);
    }
    const shares: ShareLink[] = sp.served
      .filter((s) => groups.has(s.proxyPod) && groups.has(s.pod))
      .map((s) => ({
        id: `share:${s.proxyPod}>${s.pod}`,
        from: s.proxyPod,
        to: s.pod,
        kind: s.kind,
        text: `${s.kind === 'waypoint' ? 'waypoint ' : ''}${shareText(s.share)}`,
      }));
    return { nodes, links: grouped.links, groups: [...groups.values()], shares };
  }

  /** The processes a grouped node of the last scene stands for. */
  membersOf(nodeId: string): readonly string[] | undefined {
    return this.groupMembers.get(nodeId);
  }

  /**
   * The sidecar's added latency on this edge: inbound when the edge enters a sidecar
   * from outside its pod, outbound when it leaves one for another pod.
   */
  private overheadOf(e: TopologyEdge): number | null {
    const target = this.processes.get(e.target);
    const source = this.processes.get(e.source);
    if (target?.role === 'sidecar' && target.pod && target.pod !== source?.pod)
      return this.costs.get(target.pod)?.inbound?.addedLatency.p50Ms ?? null;
    if (source?.role === 'sidecar' && source.pod && source.pod !== target?.pod)
      return this.costs.get(source.pod)?.outbound?.addedLatency.p50Ms ?? null;
    return null;
  }
}

/**
 * Processes of one command and role in one pod drawn as one node with a count (each run
 * of a short-lived client would otherwise add a dot), and the edges between the same two
 * nodes on one port merged: rates summed, the colour's p50 weighted by rate. A node or
 * edge that stands alone keeps its own id, so its detail is its own.
 */
export function groupRepeated(
  nodes: readonly SceneNode[],
  links: readonly SceneLink[],
): { nodes: SceneNode[]; links: SceneLink[] } {
  const byKey = new Map<string, SceneNode[]>();
  for (const n of nodes) {
    if (n.kind === 'external' || n.group === null) continue;
    const key = JSON.stringify([n.group, n.kind, n.label]);
    const list = byKey.get(key);
    if (list) list.push(n);
    else byKey.set(key, [n]);
  }
  const alias = new Map<string, string>();
  const out: SceneNode[] = [];
  const placed = new Set<string>();
  for (const n of nodes) {
    const key = JSON.stringify([n.group, n.kind, n.label]);
    const same = n.kind === 'external' || n.group === null ? undefined : byKey.get(key);
    if (!same || same.length < 2) {
      out.push(n);
      continue;
    }
    const id = `group:${key}`;
    alias.set(n.id, id);
    if (placed.has(id)) continue;
    placed.add(id);
    out.push({
      id,
      kind: n.kind,
      label: `${n.label} ×${same.length}`,
      group: n.group,
      namespace: n.namespace,
      match: same.some((m) => m.match),
      members: same.map((m) => m.id).sort(),
    });
  }
  const merged = new Map<string, SceneLink[]>();
  for (const l of links) {
    const source = alias.get(l.source) ?? l.source;
    const target = alias.get(l.target) ?? l.target;
    const key = JSON.stringify([source, target, l.port]);
    const list = merged.get(key);
    const moved = { ...l, source, target };
    if (list) list.push(moved);
    else merged.set(key, [moved]);
  }
  const outLinks: SceneLink[] = [];
  for (const [key, list] of merged) {
    if (list.length === 1) {
      outLinks.push(list[0]!);
      continue;
    }
    const rate = list.reduce((a, l) => a + l.rate, 0);
    const known = list.filter((l) => l.valueMs !== null);
    const weight = known.reduce((a, l) => a + l.rate, 0);
    const valueMs =
      known.length === 0
        ? null
        : weight > 0
          ? known.reduce((a, l) => a + l.rate * l.valueMs!, 0) / weight
          : known.reduce((a, l) => a + l.valueMs!, 0) / known.length;
    outLinks.push({
      id: `merged:${key}`,
      source: list[0]!.source,
      target: list[0]!.target,
      port: list[0]!.port,
      rate,
      valueMs,
      members: list.map((l) => l.id).sort(),
      text: '',
    });
  }
  return { nodes: out, links: outLinks };
}

/** An edge's label: its rate, and its p50 (estimated, ≈, for merged edges). */
function linkText(l: SceneLink, widthBy: WidthBy, colorBy: ColorBy, multiplexed: boolean): string {
  const rate = widthBy === 'requests' ? formatRate(l.rate, ' req/s') : `${formatBytes(l.rate)}/s`;
  if (colorBy === 'latency' && multiplexed) return `${rate} · multiplexed`;
  if (l.valueMs === null) return rate;
  const what = colorBy === 'latency' ? 'p50' : 'added p50';
  return `${rate} · ${what} ${l.members ? '≈ ' : ''}${formatMs(l.valueMs)}`;
}

/**
 * A pod's label: its name and, when meshed, what its sidecar (or the node proxy serving
 * it, "via ztunnel") adds to each request (p50 per direction), so the cost reads without
 * a click, and the waypoint its inbound traffic also goes through (whose time is not in
 * those figures). A shared proxy's pod says what it is and how many pods it serves.
 */
export function podLabelLines(g: SceneGroup): string[] {
  const name = `${g.namespace}/${g.name}`;
  const pods = (n: number) => `${n} pod${n === 1 ? '' : 's'}`;
  if (g.role === 'node-proxy')
    return [name, `node proxy, shared${g.serves > 0 ? ` · serves ${pods(g.serves)}` : ''}`];
  if (g.role === 'waypoint')
    return [name, `waypoint, shared${g.serves > 0 ? ` · inbound of ${pods(g.serves)}` : ''}`];
  if (!g.sidecar) return [name];
  const part = (ms: number | null) => (ms === null ? '–' : `+${formatMs(ms)}`);
  const via = g.sidecar.via === 'sidecar' ? 'sidecar' : `via ${g.sidecar.proxy}`;
  const lines = [
    name,
    `${via} in ${part(g.sidecar.inboundMs)} · out ${part(g.sidecar.outboundMs)}`,
  ];
  if (g.sidecar.waypoint) lines.push('inbound also via a waypoint');
  return lines;
}

/** A peer by its name or address; the kernel's folded peers by what they stand for. */
export function externalLabel(x: TopologyExternal): string {
  // A peer seen only as a client has no port worth showing.
  const port = x.port > 0 ? `:${x.port}` : '';
  if (x.kind === 'folded') return x.port > 0 ? `other servers${port}` : 'other clients';
  return `${x.name ?? x.address}${port}`;
}
