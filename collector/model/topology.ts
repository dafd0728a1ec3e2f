// The topology of a time range: pods holding processes, external peers, and edges
// between processes with both ends of their connections joined. Built from what the
// store holds for the range; pure, so it is tested without SQLite.
//
// buildTopology is a pipeline; each step is in the file of its concern: joining client
// ends to server ends (join-ends.ts), naming the peers no join reached (external-peers.ts),
// placing the ends in edges (edge-drafts.ts), folding their counters and histograms into
// each edge (edge-summary.ts); the processes grouped into pods, each with the mesh signs
// its agent shipped, are here.
import type { MeshSigns, Topology, TopologyPod, TopologyProcess } from '../../proto/api.js';
import type { ProcessIdentity } from '../../proto/gen/tollgate/v1.js';
import type { Aggregate } from '../store/aggregate.js';
import { draftEdges } from './edge-drafts.js';
import { summarizeEdges } from './edge-summary.js';
import { externalPeers } from './external-peers.js';
import { podId, podOfId } from './ids.js';
import { joinEnds } from './join-ends.js';

export { summarize } from './edge-summary.js';

export interface EndRecord {
  id: number;
  processKey: string;
  side: 'client' | 'server';
  localAddress: string;
  remoteAddress: string;
  port: number;
  /** The pod (its id) a node proxy's socket here serves; absent or null for every other end. */
  socketPod?: string | null;
  metrics: Aggregate;
}

export interface ProcessRecord {
  key: string;
  node: string;
  identity: ProcessIdentity;
}

/** What an agent's Kubernetes watch named a remote address after. */
export interface PeerNameRecord {
  kind: 'pod' | 'service';
  namespace: string;
  name: string;
}

/** Which ends make up each edge, for the edge detail's histograms and time series. */
export type EdgeEnds = Map<string, { client: EndRecord[]; server: EndRecord[] }>;

export function processNode(p: ProcessRecord): TopologyProcess {
  const id = p.identity;
  return {
    id: p.key,
    pod: id.pod?.name ? podId(id.pod.namespace, id.pod.name) : null,
    node: p.node,
    pid: id.ref?.pid ?? 0,
    comm: id.comm,
    exe: id.exe,
    cmdline: id.cmdline,
    container: id.containerName,
    role: id.role === 'ROLE_SIDECAR' ? 'sidecar' : 'app',
  };
}

export function buildTopology(input: {
  fromMs: number;
  toMs: number;
  processes: readonly ProcessRecord[];
  ends: readonly EndRecord[];
  links: readonly { clientEnd: number; serverEnd: number }[];
  /** Names the agents gave remote addresses (from their Kubernetes watch). */
  peerNames?: ReadonlyMap<string, PeerNameRecord>;
  /** The mesh signs the agents shipped for pods, by pod id (from their Kubernetes watch). */
  podSigns?: ReadonlyMap<string, MeshSigns>;
}): { topology: Topology; edgeEnds: EdgeEnds } {
  const processes = new Map(input.processes.map((p) => [p.key, p]));
  // An end is drawn at its process: one whose process the range lacks has nowhere to be.
  const ends = input.ends.filter((e) => processes.has(e.processKey));
  // The namespace an end's socket is in: its process's, but for a node proxy's end in a
  // pod it serves, that pod's (as its processes show it).
  const podNetns = new Map<string, string>();
  for (const p of input.processes)
    if (p.identity.pod?.name)
      podNetns.set(
        podId(p.identity.pod.namespace, p.identity.pod.name),
        `${p.node}/${p.identity.netnsInode}`,
      );
  const netns = (e: EndRecord) => {
    if (e.socketPod) return podNetns.get(e.socketPod) ?? `socket-pod/${e.socketPod}`;
    const p = processes.get(e.processKey)!;
    return `${p.node}/${p.identity.netnsInode}`;
  };
  const podOf = (e: EndRecord) => {
    if (e.socketPod) return podOfId(e.socketPod);
    const pod = processes.get(e.processKey)!.identity.pod;
    return pod?.name ? { namespace: pod.namespace, name: pod.name } : undefined;
  };

  const serversOf = joinEnds(ends, input.links, netns);
  const peers = externalPeers({ ends, netns, podOf, peerNames: input.peerNames });
  const drafts = draftEdges(ends, serversOf, peers.peerOf);
  const edges = summarizeEdges(drafts, input.fromMs, input.toMs);
  const edgeEnds: EdgeEnds = new Map(
    [...drafts].map(([id, d]) => [id, { client: d.client, server: d.server }]),
  );
  return {
    topology: {
      fromMs: input.fromMs,
      toMs: input.toMs,
      pods: byIdOrder(podsOf(input.processes, input.podSigns)),
      processes: byIdOrder(input.processes.map(processNode)),
      externals: byIdOrder([...peers.externals.values()]),
      edges: byIdOrder(edges),
    },
    edgeEnds,
  };
}

/**
 * The pods the processes are in, each listing its processes in the order given, with the
 * mesh signs shipped for it where there are any.
 */
function podsOf(
  processes: readonly ProcessRecord[],
  signs?: ReadonlyMap<string, MeshSigns>,
): TopologyPod[] {
  const pods = new Map<string, TopologyPod>();
  for (const p of processes) {
    const node = processNode(p);
    const pod = p.identity.pod;
    if (!node.pod || !pod) continue;
    let entry = pods.get(node.pod);
    if (!entry) {
      entry = {
        id: node.pod,
        namespace: pod.namespace,
        name: pod.name,
        node: p.node,
        source: pod.source,
        labels: { ...pod.labels },
        processes: [],
      };
      const mesh = signs?.get(node.pod);
      if (mesh) entry.mesh = mesh;
      pods.set(node.pod, entry);
    }
    entry.processes.push(node.id);
  }
  return [...pods.values()];
}

/** Sorted by id, in place, so the same range gives the same lists whatever the row order. */
function byIdOrder<T extends { id: string }>(list: T[]): T[] {
  return list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
