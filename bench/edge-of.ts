// The benchmarks' lookup of their own traffic in a topology: the edge a process (by pid,
// on the one node a benchmark runs on) dialed on a port.
import type { Topology, TopologyEdge } from '../collector/model/topology.js';

export function edgeOf(topology: Topology, pid: number, port: number): TopologyEdge | undefined {
  const source = topology.processes.find((p) => p.pid === pid)?.id;
  return topology.edges.find((e) => e.source === source && e.port === port);
}
