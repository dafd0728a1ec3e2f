// Waypoints, as seen from their connections, and the pods whose traffic each carries. Pure.
//
// In ambient mode a waypoint (Istio's: an Envoy Deployment; the lab's: haproxy) is an L7
// proxy in a pod of its own between two node proxies: the source pod's node proxy tunnels
// to it, and it tunnels on to the destination pod's node proxy, whose tunnel listener
// (15008) lives in that pod's namespace. So a waypoint is a process that is no node proxy,
// that node proxies dial, and that dials node proxies' tunnel listeners in pods, and is not
// in a pod with an app of its own: a sidecar that speaks the tunnel's protocol itself (as
// Istio's do beside ambient pods, during a migration) dials tunnel listeners too, but
// serves its own pod. An app's own calls are redirected to its node proxy first.
// Its cost goes to the destination pods, by their share of its upstream bytes: its hops
// are timed per listener, not per destination, so on-CPU time cannot split it.
import type { EndRecord } from './topology.js';

/** A waypoint's upstream bytes (both ways), toward each destination pod and in all. */
export interface WaypointUse {
  bytes: Map<string, number>;
  bytesAll: number;
}

const at = (address: string, port: number) => `${address}|${port}`;

/** The waypoints among the processes of `ends`, each with its bytes by destination pod. */
export function waypointUses(
  ends: readonly EndRecord[],
  nodeProxies: ReadonlySet<string>,
  /** Processes in pods with an app of their own: sidecars, never waypoints. */
  withApps: ReadonlySet<string> = new Set(),
): Map<string, WaypointUse> {
  // The node proxies' listeners in pods (by address and port: the pod it is in), and the
  // addresses they dial.
  const tunnels = new Map<string, string>();
  const dialedByNodeProxies = new Set<string>();
  for (const e of ends) {
    if (!nodeProxies.has(e.processKey)) continue;
    if (e.side === 'server' && e.socketPod) tunnels.set(at(e.localAddress, e.port), e.socketPod);
    if (e.side === 'client') dialedByNodeProxies.add(at(e.remoteAddress, e.port));
  }
  const dialed = new Set<string>();
  const uses = new Map<string, WaypointUse>();
  for (const e of ends) {
    if (nodeProxies.has(e.processKey) || withApps.has(e.processKey)) continue;
    if (e.side === 'server') {
      if (dialedByNodeProxies.has(at(e.localAddress, e.port))) dialed.add(e.processKey);
      continue;
    }
    const pod = tunnels.get(at(e.remoteAddress, e.port));
    if (!pod) continue;
    const use = uses.get(e.processKey) ?? { bytes: new Map<string, number>(), bytesAll: 0 };
    const bytes = e.metrics.sums.bytes_sent! + e.metrics.sums.bytes_received!;
    use.bytes.set(pod, (use.bytes.get(pod) ?? 0) + bytes);
    uses.set(e.processKey, use);
  }
  for (const key of [...uses.keys()]) if (!dialed.has(key)) uses.delete(key);
  // Its share is of its upstream bytes in all, toward pods or not.
  for (const e of ends) {
    const use = uses.get(e.processKey);
    if (use && e.side === 'client')
      use.bytesAll += e.metrics.sums.bytes_sent! + e.metrics.sums.bytes_received!;
  }
  return uses;
}
