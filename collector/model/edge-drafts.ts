// Which ends make up each edge: the joins turned into edges between processes and peers,
// before any counter is read. Apart from the joins (join-ends.ts) because here each end is
// placed in the edges that count it, folded ends included. Pure (peers are named through
// the function it is given).
//
// Folded ends. The kernel keeps a server end per client only for the first clients of a
// listener in each interval; the rest are summed in one end whose remote address is
// unspecified. A client end linked to it is drawn to the server's process with its own
// counts only (the folded end's are many clients'), and the folded end itself is drawn from
// one external "other clients" peer, so that each count is in one edge.
import type { JoinMethod } from '../../proto/api.js';
import { edgeId, isUnspecified } from './ids.js';
import type { ServersOf } from './join-ends.js';
import type { EndRecord } from './topology.js';

export interface EdgeDraft {
  source: string;
  target: string;
  port: number;
  joined: JoinMethod;
  client: EndRecord[];
  server: EndRecord[];
  /** A client end of the edge joined server ends of several processes: it is in each edge. */
  shared: boolean;
}

/** Drafts by edge id, in the order the edges were first met. */
export type EdgeDrafts = Map<string, EdgeDraft>;

/** An end no join reached is drawn to (client) or from (server) the peer this names. */
export type PeerOf = (address: string, port: number, end: EndRecord) => string;

export function draftEdges(
  ends: readonly EndRecord[],
  serversOf: ServersOf,
  peerOf: PeerOf,
): EdgeDrafts {
  const drafts: EdgeDrafts = new Map();
  const joinedServers = draftClientEnds(drafts, ends, serversOf, peerOf);
  draftUnjoinedServerEnds(drafts, ends, joinedServers, peerOf);
  return drafts;
}

/** The draft of an edge, made empty the first time it is asked for. */
function draftOf(
  drafts: EdgeDrafts,
  source: string,
  target: string,
  port: number,
  joined: JoinMethod,
): EdgeDraft {
  const id = edgeId(source, target, port);
  let d = drafts.get(id);
  if (!d) {
    d = { source, target, port, joined, client: [], server: [], shared: false };
    drafts.set(id, d);
  }
  return d;
}

/**
 * Each client end into the edges to the processes of the server ends it joined (with
 * those server ends), or to a peer; returns the ids of the server ends so placed.
 */
function draftClientEnds(
  drafts: EdgeDrafts,
  ends: readonly EndRecord[],
  serversOf: ServersOf,
  peerOf: PeerOf,
): Set<number> {
  const joinedServers = new Set<number>();
  for (const client of ends) {
    if (client.side !== 'client') continue;
    const servers = serversOf.get(client.id);
    if (!servers) {
      const peer = peerOf(client.remoteAddress, client.port, client);
      draftOf(drafts, client.processKey, peer, client.port, 'none').client.push(client);
      continue;
    }
    const targets = new Set(servers.ends.map((s) => s.processKey));
    for (const server of servers.ends) {
      const d = draftOf(drafts, client.processKey, server.processKey, client.port, servers.method);
      if (!d.client.includes(client)) d.client.push(client);
      d.shared ||= targets.size > 1;
      if (isUnspecified(server.remoteAddress)) continue; // drawn from "other clients"
      joinedServers.add(server.id);
      if (!d.server.includes(server)) d.server.push(server);
    }
  }
  return joinedServers;
}

/** Server ends no client end joined: each from the peer it accepted from. */
function draftUnjoinedServerEnds(
  drafts: EdgeDrafts,
  ends: readonly EndRecord[],
  joinedServers: ReadonlySet<number>,
  peerOf: PeerOf,
): void {
  for (const server of ends) {
    if (server.side !== 'server' || joinedServers.has(server.id)) continue;
    const peer = peerOf(server.remoteAddress, 0, server);
    draftOf(drafts, peer, server.processKey, server.port, 'none').server.push(server);
  }
}
