// The benchmarks' lookup of their own traffic in a topology: the edge a process (by pid,
// on the one node a benchmark runs on) dialed on a port.
import type { Topology, TopologyEdge } from '../proto/api.js';

export function edgeOf(topology: Topology, pid: number, port: number): TopologyEdge | undefined {
  const source = topology.processes.find((p) => p.pid === pid)?.id;
  return topology.edges.find((e) => e.source === source && e.port === port);
}

export interface LabelledEdge {
  edge: TopologyEdge;
  /** "source -> target :port (join)", processes by the names given, others by id. */
  label: string;
}

/**
 * The edges a benchmark or test picks by the names of their processes (by pid), labelled
 * and sorted by label: a topology it can compare whole with what it expects.
 */
export function labelledEdges(
  topology: Topology,
  names: ReadonlyMap<number | undefined, string>,
  include: (source: string | undefined, target: string | undefined) => boolean,
): LabelledEdge[] {
  const pids = new Map(topology.processes.map((p) => [p.id, p.pid]));
  const nameOf = (id: string) => names.get(pids.get(id));
  return topology.edges
    .filter((e) => include(nameOf(e.source), nameOf(e.target)))
    .map((edge) => ({
      edge,
      label: `${nameOf(edge.source) ?? edge.source} -> ${nameOf(edge.target) ?? edge.target} :${edge.port} (${edge.joined})`,
    }))
    .sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
}
