// Naming the peers at the far side of ends no join reached: apart from the joins because
// it answers another question (who is that address?) from other data: the pods seen
// serving on an address, the names the agents' Kubernetes watch gave it, the kernel's
// folding. Pure but for the list of peers it fills as they are first asked for.
import type { TopologyExternal } from '../../proto/api.js';
import { externalId, isLoopback, isUnspecified } from './ids.js';
import type { NetnsOf } from './join-ends.js';
import type { EndRecord, PeerNameRecord } from './topology.js';

export interface ExternalPeers {
  /** The peer of an end no join reached: by address, a loopback one within the end's pod. */
  peerOf(address: string, port: number, end: EndRecord): string;
  /** Every peer asked for so far, by id. */
  externals: ReadonlyMap<string, TopologyExternal>;
}

export function externalPeers(input: {
  ends: readonly EndRecord[];
  netns: NetnsOf;
  /** The pod an end's socket is in: its process's, or the pod a node proxy serves there. */
  podOf: (end: EndRecord) => { namespace: string; name: string } | undefined;
  peerNames: ReadonlyMap<string, PeerNameRecord> | undefined;
}): ExternalPeers {
  const podOfAddress = podsByServedAddress(input.ends, input.podOf);
  const externals = new Map<string, TopologyExternal>();
  const peerOf = (address: string, port: number, end: EndRecord) => {
    // A loopback address repeats in every network namespace: the peer is in the end's own
    // (its pod, or its node's host namespace), never one node shared by the cluster.
    const loopback = isLoopback(address);
    const id = loopback
      ? externalId(`${input.netns(end)}/${address}`, port)
      : externalId(address, port);
    if (externals.has(id)) return id;
    if (loopback) {
      externals.set(id, loopbackPeer(id, address, port, input.podOf(end)));
    } else if (isUnspecified(address)) {
      externals.set(id, { id, address, port, name: null, kind: 'folded' });
    } else {
      externals.set(id, namedPeer(id, address, port, podOfAddress, input.peerNames));
    }
    return id;
  };
  return { peerOf, externals };
}

/**
 * Addresses that belong to a pod: where its processes accept connections, or a node proxy
 * does in the pod's namespace (the pod's address, not the node proxy's pod's).
 */
function podsByServedAddress(
  ends: readonly EndRecord[],
  podOf: (end: EndRecord) => { namespace: string; name: string } | undefined,
): Map<string, string> {
  const podOfAddress = new Map<string, string>();
  for (const e of ends) {
    const pod = podOf(e);
    if (e.side === 'server' && !isLoopback(e.localAddress) && pod)
      podOfAddress.set(e.localAddress, `${pod.namespace}/${pod.name}`);
  }
  return podOfAddress;
}

/** A loopback peer takes the name of the pod of the end that saw it, if it has one. */
function loopbackPeer(
  id: string,
  address: string,
  port: number,
  pod: { namespace: string; name: string } | undefined,
): TopologyExternal {
  return {
    id,
    address,
    port,
    name: pod ? `${pod.namespace}/${pod.name}` : null,
    kind: pod ? 'pod' : null,
  };
}

function namedPeer(
  id: string,
  address: string,
  port: number,
  podOfAddress: ReadonlyMap<string, string>,
  peerNames: ReadonlyMap<string, PeerNameRecord> | undefined,
): TopologyExternal {
  // A pod seen serving on the address beats a name from the agents' watch.
  const served = podOfAddress.get(address);
  const named = peerNames?.get(address);
  return {
    id,
    address,
    port,
    name: served ?? (named ? `${named.namespace}/${named.name}` : null),
    kind: served ? 'pod' : (named?.kind ?? null),
  };
}
