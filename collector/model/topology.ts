// The topology of a time range: pods holding processes, external peers, and edges
// between processes with both ends of their connections joined. Built from what the
// store holds for the range; pure, so it is tested without SQLite.
//
// Joining. Each kernel aggregation key of a process is an "end": a client end names the
// service it dialed (address:port), a server end the port it accepted on. The store links
// a client end to the server ends its sampled connections reached, on the client's
// (address, port), which survives iptables REDIRECT and DNAT. Ends without such a link
// are joined by address when the dialed address:port is a server end's own (no NAT in
// between); the rest are drawn to or from an external peer.
//
// Folded ends. The kernel keeps a server end per client only for the first clients of a
// listener in each interval; the rest are summed in one end whose remote address is
// unspecified. A client end linked to it is drawn to the server's process with its own
// counts only (the folded end's are many clients'), and the folded end itself is drawn from
// one external "other clients" peer, so that each count is in one edge.
import type {
  EndCounters,
  EndSummary,
  JoinMethod,
  Topology,
  TopologyEdge,
  TopologyExternal,
  TopologyPod,
  TopologyProcess,
} from '../../proto/api.js';
import { WIRE_COUNTERS } from '../../proto/edge-metrics.js';
import type { ProcessIdentity } from '../../proto/gen/tollgate/v1.js';
import { emptyHistogram, merge, type SparseHistogram } from '../../proto/histogram.js';
import { latencyStats, round } from '../../proto/latency.js';
import type { Aggregate } from '../store/aggregate.js';
import { edgeId, externalId, isLoopback, isUnspecified, podId } from './ids.js';

export interface EndRecord {
  id: number;
  processKey: string;
  side: 'client' | 'server';
  localAddress: string;
  remoteAddress: string;
  port: number;
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

/**
 * One side of an edge, its ends' counters summed. `multiplexed`: the edge carries several
 * requests at once, and the exchange latency of this side is left out (empty).
 */
export function summarize(
  ends: readonly EndRecord[],
  shared = false,
  multiplexed = false,
): EndSummary | null {
  if (ends.length === 0) return null;
  const sum = (c: string) => ends.reduce((n, e) => n + (e.metrics.sums[c] ?? 0), 0);
  const hist = (c: string) =>
    ends.reduce<SparseHistogram | undefined>(
      (h, e) => (h ? merge(h, e.metrics.hists[c]!) : e.metrics.hists[c]),
      undefined,
    )!;
  const counters = {} as EndCounters;
  for (const m of WIRE_COUNTERS) counters[m.ts] = sum(m.name);
  return {
    ends: ends.length,
    ...counters,
    exchangeLatency: latencyStats(multiplexed ? emptyHistogram() : hist('exchange_latency')),
    connectLatency: latencyStats(hist('connect_latency')),
    srtt: latencyStats(hist('srtt')),
    shared,
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
}): { topology: Topology; edgeEnds: EdgeEnds } {
  const processes = new Map(input.processes.map((p) => [p.key, p]));
  const ends = input.ends.filter((e) => processes.has(e.processKey));
  const byId = new Map(ends.map((e) => [e.id, e]));
  const netns = (e: EndRecord) => {
    const p = processes.get(e.processKey)!;
    return `${p.node}/${p.identity.netnsInode}`;
  };

  // Links from sampled connections, then address joins for client ends without one.
  const serversOf = new Map<number, { ends: EndRecord[]; method: JoinMethod }>();
  for (const link of input.links) {
    const client = byId.get(link.clientEnd);
    const server = byId.get(link.serverEnd);
    if (!client || !server) continue;
    const entry = serversOf.get(client.id) ?? { ends: [], method: 'tuple' as JoinMethod };
    entry.ends.push(server);
    serversOf.set(client.id, entry);
  }
  const listening = new Map<string, EndRecord[]>();
  for (const e of ends) {
    if (e.side !== 'server') continue;
    const key = `${e.localAddress}:${e.port}`;
    listening.set(key, [...(listening.get(key) ?? []), e]);
  }
  const dialedDirectly = new Set<string>();
  for (const client of ends) {
    if (client.side !== 'client' || serversOf.has(client.id)) continue;
    const candidates = (listening.get(`${client.remoteAddress}:${client.port}`) ?? []).filter(
      (s) => !isLoopback(client.remoteAddress) || netns(s) === netns(client),
    );
    if (candidates.length === 0) continue;
    serversOf.set(client.id, { ends: candidates, method: 'address' });
    dialedDirectly.add(`${client.localAddress}>${client.remoteAddress}:${client.port}`);
  }
  // Then by the pair of addresses, for a client whose connections' server end none of its
  // sampled connections reached and whose dialed port is redirected (a sidecar behind
  // REDIRECT keeps the dialed address, not the port): the server ends whose peer is the
  // client's address and whose own is the dialed one, when they are one listener. Only
  // routable addresses (loopback pairs repeat in every namespace), and never a folded end.
  const byAddresses = new Map<string, EndRecord[]>();
  for (const e of ends) {
    if (e.side !== 'server' || isLoopback(e.localAddress) || isUnspecified(e.remoteAddress))
      continue;
    if (dialedDirectly.has(`${e.remoteAddress}>${e.localAddress}:${e.port}`)) continue;
    const key = `${e.remoteAddress}>${e.localAddress}`;
    byAddresses.set(key, [...(byAddresses.get(key) ?? []), e]);
  }
  for (const client of ends) {
    if (client.side !== 'client' || serversOf.has(client.id)) continue;
    const candidates = byAddresses.get(`${client.localAddress}>${client.remoteAddress}`) ?? [];
    const listeners = new Set(candidates.map((s) => `${s.processKey}:${s.port}`));
    if (listeners.size === 1) serversOf.set(client.id, { ends: candidates, method: 'address' });
  }

  // Addresses that belong to a pod: where its processes accept connections.
  const podOfAddress = new Map<string, string>();
  for (const e of ends) {
    const pod = processes.get(e.processKey)!.identity.pod;
    if (e.side === 'server' && !isLoopback(e.localAddress) && pod?.name)
      podOfAddress.set(e.localAddress, `${pod.namespace}/${pod.name}`);
  }

  const externals = new Map<string, TopologyExternal>();
  /** The peer of an end no join reached: by address, a loopback one within the end's pod. */
  const external = (address: string, port: number, end: EndRecord) => {
    if (isLoopback(address)) return loopbackPeer(address, port, end);
    const id = externalId(address, port);
    if (!externals.has(id) && isUnspecified(address)) {
      externals.set(id, { id, address, port, name: null, kind: 'folded' });
    } else if (!externals.has(id)) {
      // A pod seen serving on the address beats a name from the agents' watch.
      const served = podOfAddress.get(address);
      const named = input.peerNames?.get(address);
      externals.set(id, {
        id,
        address,
        port,
        name: served ?? (named ? `${named.namespace}/${named.name}` : null),
        kind: served ? 'pod' : (named?.kind ?? null),
      });
    }
    return id;
  };
  // A loopback address repeats in every network namespace: the peer is in the end's own
  // (its pod, or its node's host namespace), never one node shared by the cluster.
  const loopbackPeer = (address: string, port: number, end: EndRecord) => {
    const id = externalId(`${netns(end)}/${address}`, port);
    if (!externals.has(id)) {
      const pod = processes.get(end.processKey)!.identity.pod;
      externals.set(id, {
        id,
        address,
        port,
        name: pod?.name ? `${pod.namespace}/${pod.name}` : null,
        kind: pod?.name ? 'pod' : null,
      });
    }
    return id;
  };

  interface Draft {
    source: string;
    target: string;
    port: number;
    joined: JoinMethod;
    client: EndRecord[];
    server: EndRecord[];
    shared: boolean;
  }
  const drafts = new Map<string, Draft>();
  const draft = (source: string, target: string, port: number, joined: JoinMethod) => {
    const id = edgeId(source, target, port);
    let d = drafts.get(id);
    if (!d) {
      d = { source, target, port, joined, client: [], server: [], shared: false };
      drafts.set(id, d);
    }
    return d;
  };
  const joinedServers = new Set<number>();
  for (const client of ends) {
    if (client.side !== 'client') continue;
    const servers = serversOf.get(client.id);
    if (!servers) {
      draft(
        client.processKey,
        external(client.remoteAddress, client.port, client),
        client.port,
        'none',
      ).client.push(client);
      continue;
    }
    const targets = new Set(servers.ends.map((s) => s.processKey));
    for (const server of servers.ends) {
      const d = draft(client.processKey, server.processKey, client.port, servers.method);
      if (!d.client.includes(client)) d.client.push(client);
      d.shared ||= targets.size > 1;
      if (isUnspecified(server.remoteAddress)) continue; // drawn from "other clients"
      joinedServers.add(server.id);
      if (!d.server.includes(server)) d.server.push(server);
    }
  }
  for (const server of ends) {
    if (server.side !== 'server' || joinedServers.has(server.id)) continue;
    draft(
      external(server.remoteAddress, 0, server),
      server.processKey,
      server.port,
      'none',
    ).server.push(server);
  }

  // A server end in several edges (the kernel keys it by the client's address, which every
  // process of the client's pod shares) is counted in each: said so, as `shared`.
  const draftsOf = new Map<number, number>();
  for (const d of drafts.values())
    for (const e of d.server) draftsOf.set(e.id, (draftsOf.get(e.id) ?? 0) + 1);

  const seconds = Math.max(1, (input.toMs - input.fromMs) / 1000);
  const edgeEnds: EdgeEnds = new Map();
  const edges: TopologyEdge[] = [];
  for (const [id, d] of drafts) {
    edgeEnds.set(id, { client: d.client, server: d.server });
    const multiplexed = [...d.client, ...d.server].some(
      (e) => (e.metrics.sums.multiplexed_exchanges ?? 0) > 0,
    );
    const client = summarize(d.client, d.shared, multiplexed);
    const server = summarize(
      d.server,
      d.server.some((e) => (draftsOf.get(e.id) ?? 0) > 1),
      multiplexed,
    );
    const main = client ?? server!;
    edges.push({
      id,
      source: d.source,
      target: d.target,
      port: d.port,
      joined: d.joined,
      requestsPerS: round((main.exchanges + main.multiplexedExchanges) / seconds),
      bytesPerS: round((main.bytesSent + main.bytesReceived) / seconds),
      latencyMs: client?.exchangeLatency.p50Ms ?? server?.exchangeLatency.p50Ms ?? null,
      multiplexed,
      client,
      server,
    });
  }

  const processNodes = input.processes.map(processNode);
  const pods = new Map<string, TopologyPod>();
  for (const p of input.processes) {
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
      pods.set(node.pod, entry);
    }
    entry.processes.push(node.id);
  }
  const byIdOrder = <T extends { id: string }>(list: T[]) =>
    list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    topology: {
      fromMs: input.fromMs,
      toMs: input.toMs,
      pods: byIdOrder([...pods.values()]),
      processes: byIdOrder(processNodes),
      externals: byIdOrder([...externals.values()]),
      edges: byIdOrder(edges),
    },
    edgeEnds,
  };
}
