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
import { formatMs } from './format.js';

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
}

export interface SceneLink {
  id: string;
  source: string;
  target: string;
  /** The measure the width encodes: requests/s or bytes/s. */
  rate: number;
  /**
   * The measure the colour encodes, in ms: the exchange latency p50, or the sidecar's
   * added latency p50 for the direction the edge enters or leaves it (null when neither
   * end is a sidecar, or unknown).
   */
  valueMs: number | null;
}

export interface SceneGroup {
  id: string;
  namespace: string;
  name: string;
  nodes: string[];
  /** Inbound + outbound added latency p50 (ms), for the overhead colouring. */
  overheadMs: number | null;
  /** The pod's sidecar's added latency p50 per direction (ms), or null without a sidecar. */
  sidecar: { inboundMs: number | null; outboundMs: number | null } | null;
}

export interface Scene {
  nodes: SceneNode[];
  links: SceneLink[];
  groups: SceneGroup[];
}

export interface SceneOptions {
  /** Namespaces to show; empty shows every namespace. */
  namespaces?: ReadonlySet<string>;
  /** Case-insensitive text matched against pod, process and peer names. */
  search?: string;
  widthBy?: WidthBy;
  colorBy?: ColorBy;
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

  /** The pod a process or external belongs to, when the model knows it. */
  podOf(nodeId: string): TopologyPod | undefined {
    const pod = this.processes.get(nodeId)?.pod;
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
        rate: widthBy === 'requests' ? e.requestsPerS : e.bytesPerS,
        valueMs: colorBy === 'latency' ? e.latencyMs : this.overheadOf(e),
      });
    }
    const nodes = [...all.values()].filter((n) => shown.has(n.id));
    const groups = new Map<string, SceneGroup>();
    for (const n of nodes) {
      if (!n.group) continue;
      const pod = this.pods.get(n.group)!;
      let g = groups.get(pod.id);
      if (!g) {
        const cost = this.costs.get(pod.id);
        const parts = [cost?.inbound?.addedLatency.p50Ms, cost?.outbound?.addedLatency.p50Ms];
        const known = parts.filter((v): v is number => typeof v === 'number');
        g = {
          id: pod.id,
          namespace: pod.namespace,
          name: pod.name,
          nodes: [],
          overheadMs: known.length > 0 ? known.reduce((a, b) => a + b, 0) : null,
          sidecar: cost?.proxy
            ? {
                inboundMs: cost.inbound?.addedLatency.p50Ms ?? null,
                outboundMs: cost.outbound?.addedLatency.p50Ms ?? null,
              }
            : null,
        };
        groups.set(pod.id, g);
      }
      g.nodes.push(n.id);
    }
    return { nodes, links, groups: [...groups.values()] };
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
 * A pod's label: its name and, when meshed, what its sidecar adds to each request (p50
 * per direction), so the cost reads without a click.
 */
export function podLabelLines(g: SceneGroup): string[] {
  const name = `${g.namespace}/${g.name}`;
  if (!g.sidecar) return [name];
  const part = (ms: number | null) => (ms === null ? '–' : `+${formatMs(ms)}`);
  return [name, `sidecar in ${part(g.sidecar.inboundMs)} · out ${part(g.sidecar.outboundMs)}`];
}

/** A peer by its name or address; the kernel's folded peers by what they stand for. */
export function externalLabel(x: TopologyExternal): string {
  // A peer seen only as a client has no port worth showing.
  const port = x.port > 0 ? `:${x.port}` : '';
  if (x.kind === 'folded') return x.port > 0 ? `other servers${port}` : 'other clients';
  return `${x.name ?? x.address}${port}`;
}
