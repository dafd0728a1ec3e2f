// Which server ends each client end reached: the first step of the topology, apart
// because it is the one place that decides which processes talk to which. Pure.
//
// Each kernel aggregation key of a process is an "end": a client end names the service it
// dialed (address:port), a server end the port it accepted on. The store links a client
// end to the server ends its sampled connections reached, on the client's (address,
// port), which survives iptables REDIRECT and DNAT. Ends without such a link are joined by
// address when the dialed address:port is a server end's own (no NAT in between); the rest
// are drawn to or from an external peer (external-peers.ts).
import type { JoinMethod } from '../../proto/api.js';
import { isLoopback, isUnspecified } from './ids.js';
import type { EndRecord } from './topology.js';

/** The server ends one client end is joined to, and how the join was made. */
export interface ServerJoin {
  ends: EndRecord[];
  method: JoinMethod;
}

/** Joins by client end id; a client end without an entry reached no server end. */
export type ServersOf = ReadonlyMap<number, ServerJoin>;

/** The network namespace of an end's process, where a loopback address means something. */
export type NetnsOf = (end: EndRecord) => string;

/** Links from sampled connections, then address joins for client ends without one. */
export function joinEnds(
  ends: readonly EndRecord[],
  links: readonly { clientEnd: number; serverEnd: number }[],
  netns: NetnsOf,
): ServersOf {
  const linked = joinByLinks(ends, links);
  const dialed = joinByDialedAddress(ends, linked, netns);
  const joined = new Map([...linked, ...dialed.joins]);
  return new Map([...joined, ...joinByAddressPair(ends, joined, dialed.directly)]);
}

/** The store's links, kept where both ends are in the range. */
function joinByLinks(
  ends: readonly EndRecord[],
  links: readonly { clientEnd: number; serverEnd: number }[],
): Map<number, ServerJoin> {
  const byId = new Map(ends.map((e) => [e.id, e]));
  const serversOf = new Map<number, ServerJoin>();
  for (const link of links) {
    const client = byId.get(link.clientEnd);
    const server = byId.get(link.serverEnd);
    if (!client || !server) continue;
    const entry = serversOf.get(client.id) ?? { ends: [], method: 'tuple' as JoinMethod };
    entry.ends.push(server);
    serversOf.set(client.id, entry);
  }
  return serversOf;
}

/**
 * Client ends that dialed a server end's own address:port (no NAT in between), and the
 * (local address, dialed address:port) of each, which the address pair join leaves alone.
 */
function joinByDialedAddress(
  ends: readonly EndRecord[],
  linked: ServersOf,
  netns: NetnsOf,
): { joins: Map<number, ServerJoin>; directly: Set<string> } {
  const listening = new Map<string, EndRecord[]>();
  for (const e of ends) {
    if (e.side !== 'server') continue;
    const key = `${e.localAddress}:${e.port}`;
    listening.set(key, [...(listening.get(key) ?? []), e]);
  }
  const joins = new Map<number, ServerJoin>();
  const directly = new Set<string>();
  for (const client of ends) {
    if (client.side !== 'client' || linked.has(client.id) || joins.has(client.id)) continue;
    const candidates = (listening.get(`${client.remoteAddress}:${client.port}`) ?? []).filter(
      (s) => !isLoopback(client.remoteAddress) || netns(s) === netns(client),
    );
    if (candidates.length === 0) continue;
    joins.set(client.id, { ends: candidates, method: 'address' });
    directly.add(`${client.localAddress}>${client.remoteAddress}:${client.port}`);
  }
  return { joins, directly };
}

// Then by the pair of addresses, for a client whose connections' server end none of its
// sampled connections reached and whose dialed port is redirected (a sidecar behind
// REDIRECT keeps the dialed address, not the port): the server ends whose peer is the
// client's address and whose own is the dialed one, when they are one listener. Only
// routable addresses (loopback pairs repeat in every namespace), and never a folded end.
function joinByAddressPair(
  ends: readonly EndRecord[],
  joined: ServersOf,
  dialedDirectly: ReadonlySet<string>,
): Map<number, ServerJoin> {
  const byAddresses = new Map<string, EndRecord[]>();
  for (const e of ends) {
    if (e.side !== 'server' || isLoopback(e.localAddress) || isUnspecified(e.remoteAddress))
      continue;
    if (dialedDirectly.has(`${e.remoteAddress}>${e.localAddress}:${e.port}`)) continue;
    const key = `${e.remoteAddress}>${e.localAddress}`;
    byAddresses.set(key, [...(byAddresses.get(key) ?? []), e]);
  }
  const joins = new Map<number, ServerJoin>();
  for (const client of ends) {
    if (client.side !== 'client' || joined.has(client.id) || joins.has(client.id)) continue;
    const candidates = byAddresses.get(`${client.localAddress}>${client.remoteAddress}`) ?? [];
    const listeners = new Set(candidates.map((s) => `${s.processKey}:${s.port}`));
    if (listeners.size === 1) joins.set(client.id, { ends: candidates, method: 'address' });
  }
  return joins;
}
