// The cluster's own signs of how a pod is meshed, read one way by the agent, which ships
// them (PodMeshSigns in report.proto), and by the collector, which checks them and
// decides each pod's mode from them and from what it observed (collector/model/pod-mode.ts):
// which labels count, how long their values may be, and what makes a pod a node proxy's
// or a waypoint. Istio's labels; sidecars (Istio's, Linkerd's) are known by their
// containers' names, which the agent's role rules list. Pure.

/** Istio's ambient enrolment: `ambient` on a namespace or a pod; `none` opts a pod out. */
export const DATAPLANE_MODE_LABEL = 'istio.io/dataplane-mode';
/** The waypoint (a Gateway's name) a namespace's or a pod's inbound goes through; `none` for none. */
export const USE_WAYPOINT_LABEL = 'istio.io/use-waypoint';
/** Set on the pods of the waypoints istiod deploys, to WAYPOINT_CONTROLLER. */
export const WAYPOINT_MANAGED_LABEL = 'gateway.istio.io/managed';
export const WAYPOINT_CONTROLLER = 'istio.io-mesh-controller';
export const APP_LABEL = 'app';
/** Istio's node proxy: the ztunnel DaemonSet, its pods labelled app=ztunnel. */
export const NODE_PROXY_NAME = 'ztunnel';

/** A namespace's labels that are signs; the others are never shipped. */
export const NAMESPACE_MESH_LABELS: readonly string[] = [DATAPLANE_MODE_LABEL, USE_WAYPOINT_LABEL];
/** A pod's labels that are signs (its other labels travel in PodRef, cut at 64). */
export const POD_MESH_LABELS: readonly string[] = [
  DATAPLANE_MODE_LABEL,
  USE_WAYPOINT_LABEL,
  WAYPOINT_MANAGED_LABEL,
  APP_LABEL,
];

export const MESH_SIGN_LIMITS = {
  /**
   * Characters of a label value, an owner's kind or name: Kubernetes' longest name. The
   * API server allows no longer; a longer one is no sign and is left out, never cut
   * (a cut waypoint name would name another).
   */
  value: 253,
  /** Sidecar container names per pod. */
  sidecarContainers: 8,
  /** Labels per map (a namespace's, a pod's): more than any agent ships, for newer ones' keys. */
  labels: 16,
} as const;

/** Whether a string from the cluster fits MESH_SIGN_LIMITS.value. */
export function fitsSign(value: string): boolean {
  return value.length <= MESH_SIGN_LIMITS.value;
}

/** The labels named by `keys` that `labels` has, each only when its value fits. */
export function meshLabels(
  labels: Readonly<Record<string, string>> | undefined,
  keys: readonly string[],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of keys) {
    const value = labels?.[key];
    if (typeof value === 'string' && fitsSign(value)) out[key] = value;
  }
  return out;
}

/** A pod of ztunnel's DaemonSet: a node proxy, which carries other pods' traffic. */
export function isNodeProxyPod(
  owner: { kind: string; name: string } | null,
  labels: Readonly<Record<string, string>>,
): boolean {
  return (
    owner?.kind === 'DaemonSet' &&
    (owner.name === NODE_PROXY_NAME || labels[APP_LABEL] === NODE_PROXY_NAME)
  );
}

/** A pod of a waypoint istiod manages (an L7 proxy between node proxies). */
export function isWaypointPod(labels: Readonly<Record<string, string>>): boolean {
  return labels[WAYPOINT_MANAGED_LABEL] === WAYPOINT_CONTROLLER;
}
