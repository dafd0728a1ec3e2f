// How a pod's panel names the proxy that carries its mesh traffic: a sidecar in the pod,
// or a node proxy outside it (ambient mode) at its share of that proxy's cost, and a
// waypoint carrying its inbound traffic at its share of the waypoint's. The figures read
// the same whatever the mode; only these words differ. A shared proxy's own pod says its
// cost is in the pods it serves. Pure.
import type { PodCost } from './api-types.js';
import { formatPercent } from './format.js';
import { isAmbient, type PodRole, type ProxyShare } from './shared-proxies.js';

/** The heading over the added latency, or null when no proxy carries the pod's traffic. */
export function proxyHeading(cost: PodCost): string | null {
  if (!cost.proxy) return null;
  if (isAmbient(cost)) return `Node proxy (${cost.proxy}, outside the pod) added latency`;
  if (cost.mode === 'sidecar') return `Sidecar (${cost.proxy}) added latency`;
  return null;
}

/** A proxy's row in the cost table at the pod's share: "node proxy, 42.5% (by bytes)". */
function shareLabel(what: string, share: ProxyShare | null | undefined): string {
  return `${what}, ${formatPercent(share?.share)} (by ${share?.method ?? 'bytes'})`;
}

/** The proxy's row in the cost table: an ambient pod's holds its share of the node proxy. */
export function proxyCostLabel(cost: PodCost): string {
  return isAmbient(cost) ? shareLabel('node proxy', cost.proxyShare) : 'sidecar';
}

/** The waypoint's row in the cost table, at the pod's share of it. */
export function waypointCostLabel(cost: PodCost): string {
  return shareLabel('waypoint', cost.waypoint?.share);
}

/**
 * A share by each method, for a table: the method, its share ("not measured" where the
 * kernel did not time it), and whether the cost uses it, so the method's effect shows.
 */
export function shareRows(share: ProxyShare): [string, string, string][] {
  const row = (method: ProxyShare['method'], value: number | null): [string, string, string] => [
    method,
    value === null ? 'not measured' : formatPercent(value),
    method === share.method ? 'used for the cost' : '',
  ];
  return [row('on-cpu', share.byMethod.onCpu), row('bytes', share.byMethod.bytes)];
}

/**
 * What the panel says when no figures of its own are shown. `role` is the pod's among
 * the shared proxies (sharedProxies), which also knows a waypoint by the pods naming it.
 */
export function modeNote(cost: PodCost | undefined, role: PodRole = 'app'): string {
  const proxy = cost?.proxy ? ` (${cost.proxy})` : '';
  if (role === 'node-proxy' || cost?.mode === 'node-proxy')
    return `a node proxy${proxy} runs in this pod: its added latency and cost count in the pods it serves`;
  if (role === 'waypoint' || cost?.mode === 'waypoint')
    return `a waypoint${proxy} runs in this pod: its cost counts in the pods whose inbound traffic it carries`;
  return 'no sidecar or node proxy seen for this pod';
}
