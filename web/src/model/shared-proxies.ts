// The mesh's shared proxies: the pods that are not apps but carry other pods' traffic
// (ambient mode's node proxy, ztunnel, one per node; a waypoint, an L7 proxy pod between
// node proxies), and which pods each one serves at what share of its cost. One place
// decides it for the drawing, the pod panels, the summary bar and the paths. Pure.
//
// The API names a waypoint by its process (PodCost.waypoint.process) and a node proxy by
// the processes its share is of (PodCost.proxyShare.processes), so their pods are exact.
// Where a share is of node proxy processes in more than one pod (a node proxy pod
// replaced within the range), it is theirs together: no link is drawn, as no one pod's
// share is known (the pod's panel still gives it).
import type { PodCost, TopologyPod, TopologyProcess } from './api-types.js';
import { formatPercent } from './format.js';

/** What a pod is in the mesh: an app (meshed or not), or a proxy shared by other pods. */
export type PodRole = 'app' | 'node-proxy' | 'waypoint';

export type ProxyShare = NonNullable<PodCost['proxyShare']>;

/** A shared proxy's pod serving an app pod, at the pod's share of its cost. */
export interface Served {
  /** The shared proxy's pod id. */
  proxyPod: string;
  /** The served pod's id. */
  pod: string;
  kind: 'node-proxy' | 'waypoint';
  share: ProxyShare;
}

/** Pods in ambient mode: a node proxy outside the pod carries their traffic. */
export function isAmbient(cost: PodCost | undefined): boolean {
  return cost?.mode === 'ambient' || cost?.mode === 'ambient+waypoint';
}

export interface SharedProxies {
  /** The role of every pod that is not an app (absent: an app). */
  roles: Map<string, Exclude<PodRole, 'app'>>;
  /** Who serves whom, node proxies first, then by served pod id. */
  served: Served[];
}

/** The shared proxies of a view, and the pods they serve. */
export function sharedProxies(input: {
  pods: ReadonlyMap<string, TopologyPod>;
  processes: ReadonlyMap<string, Pick<TopologyProcess, 'pod'>>;
  costs: ReadonlyMap<string, PodCost>;
}): SharedProxies {
  const roles = sharedProxyRoles(input.costs.values(), input.processes);
  const served: Served[] = [];
  for (const c of input.costs.values()) {
    const waypointPod = waypointPodOf(c, input.processes);
    if (c.waypoint && waypointPod)
      served.push({ proxyPod: waypointPod, pod: c.pod, kind: 'waypoint', share: c.waypoint.share });
    if (!isAmbient(c) || !c.proxyShare) continue;
    const proxyPods = new Set(
      c.proxyShare.processes.map((id) => input.processes.get(id)?.pod ?? null),
    );
    const [proxyPod] = proxyPods;
    if (proxyPods.size === 1 && proxyPod && proxyPod !== c.pod)
      served.push({ proxyPod, pod: c.pod, kind: 'node-proxy', share: c.proxyShare });
  }
  served.sort(
    (a, b) =>
      Number(a.kind === 'waypoint') - Number(b.kind === 'waypoint') ||
      a.proxyPod.localeCompare(b.proxyPod) ||
      a.pod.localeCompare(b.pod),
  );
  return { roles, served };
}

/** The pod of the waypoint carrying a pod's inbound traffic, when it is known and not the pod. */
function waypointPodOf(
  c: PodCost,
  processes: ReadonlyMap<string, Pick<TopologyProcess, 'pod'>>,
): string | undefined {
  const pod = c.waypoint ? processes.get(c.waypoint.process)?.pod : undefined;
  return pod && pod !== c.pod ? pod : undefined;
}

/**
 * The pods of shared proxies, by role: those whose cost says so, and a waypoint's pod
 * named by a pod it serves (whatever its own cost says).
 */
export function sharedProxyRoles(
  costs: Iterable<PodCost>,
  processes: ReadonlyMap<string, Pick<TopologyProcess, 'pod'>>,
): Map<string, Exclude<PodRole, 'app'>> {
  const roles = new Map<string, Exclude<PodRole, 'app'>>();
  const list = [...costs];
  for (const c of list)
    if (c.mode === 'node-proxy' || c.mode === 'waypoint') roles.set(c.pod, c.mode);
  for (const c of list) {
    const waypointPod = waypointPodOf(c, processes);
    if (waypointPod) roles.set(waypointPod, 'waypoint');
  }
  return roles;
}

/** A share as a link says it: "42% by on-cpu"; "share –" when not measured. */
export function shareText(share: ProxyShare): string {
  return share.share === null
    ? `share – (by ${share.method})`
    : `${formatPercent(share.share)} by ${share.method}`;
}
