// How a pod's panel names the proxy that carries its mesh traffic: a sidecar in the pod,
// or a node proxy outside it (ambient mode) at its share of that proxy's cost. The
// figures read the same whatever the mode; only these words differ. Pure.
import type { PodCost } from './api-types.js';
import { formatPercent } from './format.js';

/** The heading over the added latency, or null when no proxy carries the pod's traffic. */
export function proxyHeading(cost: PodCost): string | null {
  if (!cost.proxy) return null;
  if (cost.mode === 'ambient') return `Node proxy (${cost.proxy}, outside the pod) added latency`;
  if (cost.mode === 'sidecar') return `Sidecar (${cost.proxy}) added latency`;
  return null;
}

/** The proxy's row in the cost table: an ambient pod's holds its share of the node proxy. */
export function proxyCostLabel(cost: PodCost): string {
  if (cost.mode !== 'ambient') return 'sidecar';
  return `node proxy, ${formatPercent(cost.proxyShare?.share)} (by ${cost.proxyShare?.method ?? 'bytes'})`;
}

/** What the panel says when no figures of its own are shown. */
export function modeNote(cost: PodCost | undefined): string {
  if (cost?.mode === 'node-proxy')
    return `a node proxy${cost.proxy ? ` (${cost.proxy})` : ''} runs in this pod: its added latency and cost count in the pods it serves`;
  return 'no sidecar or node proxy seen for this pod';
}
