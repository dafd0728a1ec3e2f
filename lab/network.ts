// Pods as network namespaces on a bridge. The bridge lives in a namespace of its own (the
// lab's "node"), not in the host's: the host gets no interface, route or rule, and the
// lab's addresses exist only inside the lab. Deleting the node namespace removes every
// veth; deleting a pod namespace removes its addresses and iptables rules.
import { run } from './exec.js';
import type { Ledger } from './ledger.js';

/** RFC 2544's benchmarking range: reachable only inside the lab's own namespaces. */
export const LAB_PREFIX = '198.18.0';
export const LAB_PREFIX_LENGTH = 24;
/** Pod i gets LAB_PREFIX.(FIRST_HOST + i). */
const FIRST_HOST = 2;
export const MAX_PODS = 250;

export function podAddress(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_PODS) {
    throw new RangeError(`pod index ${index} outside 0..${MAX_PODS - 1}`);
  }
  return `${LAB_PREFIX}.${FIRST_HOST + index}`;
}

export function createNode(ledger: Ledger, nodeNs: string): void {
  ledger.recordNamespace(nodeNs);
  run('ip', ['netns', 'add', nodeNs]);
  run('ip', ['-n', nodeNs, 'link', 'set', 'lo', 'up']);
  run('ip', ['-n', nodeNs, 'link', 'add', 'br0', 'type', 'bridge']);
  run('ip', ['-n', nodeNs, 'link', 'set', 'br0', 'up']);
}

/** A pod namespace with eth0 on the node's bridge and loopback up; returns its address. */
export function createPodNetwork(
  ledger: Ledger,
  nodeNs: string,
  podNs: string,
  index: number,
): string {
  const address = podAddress(index);
  const hostSide = `veth${index}`;
  ledger.recordNamespace(podNs);
  run('ip', ['netns', 'add', podNs]);
  addVeth(nodeNs, hostSide, podNs, 'eth0');
  run('ip', ['-n', nodeNs, 'link', 'set', hostSide, 'master', 'br0', 'up']);
  configurePod(podNs, address);
  return address;
}

/**
 * Two pod namespaces joined by one veth pair, no bridge (each pod's eth0 is the other's
 * peer), as some CNIs wire a pod to its node; returns their addresses.
 */
export function createPodPair(ledger: Ledger, podNs: readonly [string, string]): [string, string] {
  const addresses: [string, string] = [podAddress(0), podAddress(1)];
  for (const ns of podNs) {
    ledger.recordNamespace(ns);
    run('ip', ['netns', 'add', ns]);
  }
  addVeth(podNs[0], 'eth0', podNs[1], 'eth0');
  for (const [i, ns] of podNs.entries()) configurePod(ns, addresses[i]!);
  return addresses;
}

/** A veth pair: `name` in namespace `netns`, its peer `peerName` in `peerNetns`. */
function addVeth(netns: string, name: string, peerNetns: string, peerName: string): void {
  run('ip', [
    '-n',
    netns,
    'link',
    'add',
    name,
    'type',
    'veth',
    'peer',
    'name',
    peerName,
    'netns',
    peerNetns,
  ]);
}

/** A pod's loopback up, and its eth0 with its address. */
function configurePod(podNs: string, address: string): void {
  run('ip', ['-n', podNs, 'link', 'set', 'lo', 'up']);
  run('ip', ['-n', podNs, 'addr', 'add', `${address}/${LAB_PREFIX_LENGTH}`, 'dev', 'eth0']);
  run('ip', ['-n', podNs, 'link', 'set', 'eth0', 'up']);
}
