// Stable names for what the collector tracks. The web keys its drawing by these, so they
// must not change between queries: they are built from identity, never from row order.
import type { ProcessRef } from '../../proto/gen/tollgate/v1.js';

/** A process on a node: pids are reused, (pid, start time) is not. */
export function processId(node: string, ref: ProcessRef | undefined): string {
  return `p:${node}:${ref?.pid ?? 0}:${ref?.startTimeTicks ?? 0}`;
}

export function podId(namespace: string, name: string): string {
  return `pod:${namespace}/${name}`;
}

/** The namespace and name a podId was made of (neither holds a '/'). */
export function podOfId(id: string): { namespace: string; name: string } | undefined {
  const m = /^pod:([^/]*)\/(.*)$/.exec(id);
  return m ? { namespace: m[1]!, name: m[2]! } : undefined;
}

/** A peer outside every profiled node, by address (and port when it is a server). */
export function externalId(address: string, port: number): string {
  return port > 0 ? `ext:${address}:${port}` : `ext:${address}`;
}

export function edgeId(source: string, target: string, port: number): string {
  return `${source}>${target}:${port}`;
}

/** Loopback addresses repeat in every network namespace, so they mean nothing alone. */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

/**
 * An end's peer is unspecified when the kernel folded it: a listener's clients past its
 * per-interval limit, summed (or an end whose own edge found the kernel's map full). No
 * real peer has this address.
 */
export function isUnspecified(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/**
 * Where a connection's client (address, port) is unique: the whole cluster for routable
 * addresses, one network namespace on one node for loopback.
 */
export function tupleScope(address: string, node: string, netnsInode: number): string {
  return isLoopback(address) ? `${node}/${netnsInode}` : '';
}
