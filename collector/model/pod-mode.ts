// A pod's mesh mode, and the words that say why (PodCost.mode, modeSigns), from what
// Tollgate observed of its traffic and what the cluster says of it (its mesh signs:
// proto/mesh-signs.ts). Pure.
//
// What the pod is comes first: a node proxy's pod or a waypoint's carries other pods'
// traffic, and the proxy running in it is no sidecar of an app of its own (Istio names
// a waypoint's container istio-proxy, as it does a sidecar's). By observation first, else
// by its signs. Then how the pod's own traffic is carried:
// - observed, where anything is: a sidecar process in the pod -> sidecar; else a node
//   proxy's sockets in its namespace, or a waypoint carrying its inbound -> ambient, with
//   a waypoint when one is seen or its labels name one;
// - else (no traffic seen yet) the signs: a sidecar container -> sidecar; ambient
//   enrolment (the pod's istio.io/dataplane-mode label, else its namespace's) -> ambient,
//   with a waypoint when istio.io/use-waypoint names one (the pod's label, else its
//   namespace's; the pod's `none` opts it out of its namespace's); else none.
// Signs that agree are listed after what decided; a sign (or an observation) that says
// otherwise is listed as a disagreement, "<it>, but <what decided>".
import type { MeshMode, MeshSigns } from '../../proto/api.js';
import {
  APP_LABEL,
  DATAPLANE_MODE_LABEL,
  isNodeProxyPod,
  isWaypointPod,
  NODE_PROXY_NAME,
  USE_WAYPOINT_LABEL,
  WAYPOINT_CONTROLLER,
  WAYPOINT_MANAGED_LABEL,
} from '../../proto/mesh-signs.js';

/** What Tollgate observed of a pod's mesh traffic over the range. */
export interface ObservedMesh {
  /** The comm of a sidecar in the pod (a proxy process of its own), or null. */
  sidecar: string | null;
  /** The comm of a node proxy holding sockets in the pod's network namespace, or null. */
  nodeProxy: string | null;
  /** The comm of a waypoint seen carrying the pod's inbound traffic, or null. */
  waypoint: string | null;
  /** A process of the pod holds sockets in other pods' namespaces: it is a node proxy's pod. */
  isNodeProxyPod: boolean;
  /** The pod's proxy carries other pods' inbound between node proxies: it is a waypoint's. */
  isWaypointPod: boolean;
}

export interface PodMode {
  mode: MeshMode;
  modeSigns: string[];
}

/** A reason for a mode: its words, what it speaks for, and its words after "but". */
interface Reason {
  words: string;
  mode: MeshMode;
  /** As the second half of "<other>, but <this>" (the words by default). */
  but?: string;
  /** What it disagrees with, when not what decided: "<it>, but <against>". */
  against?: string;
}

/** The signs, read: each one present says something of the pod's mode, in words. */
interface ReadSigns {
  nodeProxyPod: string | null;
  waypointPod: string | null;
  sidecarContainer: string | null;
  /** The label that enrols the pod in ambient mode. */
  ambient: string | null;
  /** The label that keeps it out (a pod's `none`, or a value other than ambient). */
  notAmbient: string | null;
  /** The label naming the waypoint its inbound goes through. */
  useWaypoint: string | null;
  /** istio.io/use-waypoint=none. */
  noWaypoint: string | null;
}

function readSigns(signs: MeshSigns | undefined): ReadSigns {
  const labels = signs?.labels ?? {};
  const namespaceLabels = signs?.namespaceLabels ?? {};
  const owner = signs?.owner ?? null;
  const label = (where: 'pod' | 'namespace', key: string, value: string) =>
    `${where} label ${key}=${value}`;

  // The pod's own label wins over its namespace's.
  let ambient: string | null = null;
  let notAmbient: string | null = null;
  const podMode = labels[DATAPLANE_MODE_LABEL];
  const nsMode = namespaceLabels[DATAPLANE_MODE_LABEL];
  if (podMode === 'ambient') ambient = label('pod', DATAPLANE_MODE_LABEL, podMode);
  else if (podMode !== undefined)
    notAmbient =
      label('pod', DATAPLANE_MODE_LABEL, podMode) +
      (nsMode === 'ambient'
        ? ` opts it out of namespace label ${DATAPLANE_MODE_LABEL}=ambient`
        : '');
  else if (nsMode === 'ambient') ambient = label('namespace', DATAPLANE_MODE_LABEL, nsMode);
  else if (nsMode !== undefined) notAmbient = label('namespace', DATAPLANE_MODE_LABEL, nsMode);

  // Istio's: a waypoint named on the namespace is every enrolled pod's; the pod's own
  // label wins over it, `none` opting the pod out of it.
  const podWaypoint = labels[USE_WAYPOINT_LABEL];
  const nsWaypoint = namespaceLabels[USE_WAYPOINT_LABEL];
  const waypoint = podWaypoint ?? nsWaypoint;
  const waypointWords =
    waypoint === undefined
      ? null
      : label(podWaypoint !== undefined ? 'pod' : 'namespace', USE_WAYPOINT_LABEL, waypoint) +
        (podWaypoint === 'none' && nsWaypoint !== undefined && nsWaypoint !== 'none'
          ? ` opts it out of namespace label ${USE_WAYPOINT_LABEL}=${nsWaypoint}`
          : '');

  const sidecar = signs?.sidecarContainers[0];
  return {
    nodeProxyPod:
      owner && isNodeProxyPod(owner, labels)
        ? `pod of DaemonSet ${owner.name}` +
          (owner.name !== NODE_PROXY_NAME ? `, label ${APP_LABEL}=${NODE_PROXY_NAME}` : '')
        : null,
    waypointPod: isWaypointPod(labels)
      ? label('pod', WAYPOINT_MANAGED_LABEL, WAYPOINT_CONTROLLER)
      : null,
    sidecarContainer: sidecar === undefined ? null : sidecar,
    ambient,
    notAmbient,
    useWaypoint: waypoint === 'none' ? null : waypointWords,
    noWaypoint: waypoint === 'none' ? waypointWords : null,
  };
}

/**
 * The mode `decided` speaks for, its words first, then those of the others present that
 * speak for the same mode, then those that speak for another: "<it>, but <decided>".
 */
function verdict(decided: Reason, others: readonly (Reason | null)[]): PodMode {
  const present = others.filter((r): r is Reason => r !== null);
  return {
    mode: decided.mode,
    modeSigns: [
      decided.words,
      ...present.filter((r) => r.mode === decided.mode).map((r) => r.words),
      ...present
        .filter((r) => r.mode !== decided.mode)
        .map((r) => `${r.words}, but ${r.against ?? decided.but ?? decided.words}`),
    ],
  };
}

/** A reason when its words are there. */
const reason = (words: string | null, mode: MeshMode, against?: string): Reason | null =>
  words === null ? null : { words, mode, against };

export function podMode(observed: ObservedMesh, meshSigns?: MeshSigns): PodMode {
  const s = readSigns(meshSigns);

  // What the pod is: a node proxy's or a waypoint's, observed first.
  const roles = [
    reason(
      observed.isNodeProxyPod
        ? "a process of the pod holds sockets in other pods' namespaces"
        : null,
      'node-proxy',
    ),
    reason(
      observed.isWaypointPod ? "the pod carries other pods' inbound between node proxies" : null,
      'waypoint',
    ),
    reason(s.nodeProxyPod, 'node-proxy'),
    reason(s.waypointPod, 'waypoint'),
  ];
  const role = roles.find((r) => r !== null);
  if (role)
    return verdict(
      role,
      roles.filter((r) => r !== role),
    );

  const nodeProxy =
    observed.nodeProxy === null
      ? null
      : `node proxy ${observed.nodeProxy} holds sockets in the pod's namespace`;
  const waypoint =
    observed.waypoint === null ? null : `waypoint ${observed.waypoint} carries the pod's inbound`;
  const container =
    s.sidecarContainer === null ? null : `container ${s.sidecarContainer} in the pod`;

  // Observed: a sidecar in the pod.
  if (observed.sidecar !== null)
    return verdict(
      {
        words: `sidecar ${observed.sidecar} in the pod`,
        mode: 'sidecar',
        but: `a sidecar ${observed.sidecar} runs in the pod`,
      },
      [
        reason(container, 'sidecar'),
        // Istio's sidecars send to a waypoint too.
        reason(waypoint, 'sidecar'),
        reason(nodeProxy, 'ambient'),
        reason(s.ambient, 'ambient'),
      ],
    );

  // Observed: a node proxy's sockets in the pod's namespace, or a waypoint carrying its
  // inbound (which only ambient traffic reaches); with a waypoint when one is seen or named.
  const seen = nodeProxy ?? waypoint;
  if (seen !== null) {
    const mode: MeshMode =
      waypoint !== null || s.useWaypoint !== null ? 'ambient+waypoint' : 'ambient';
    return verdict({ words: seen, mode }, [
      reason(seen === waypoint ? null : waypoint, mode),
      reason(s.ambient, mode),
      reason(s.useWaypoint, mode),
      reason(s.notAmbient, 'none'),
      reason(container, 'sidecar'),
      // No waypoint seen: the label agrees; one seen: it says otherwise.
      reason(s.noWaypoint, 'ambient', waypoint ?? undefined),
    ]);
  }

  // Nothing observed (no traffic through a proxy yet): the signs decide.
  if (container !== null)
    return verdict(
      {
        words: container,
        mode: 'sidecar',
        but: `the pod has a sidecar container ${s.sidecarContainer}`,
      },
      [reason(s.ambient, 'ambient')],
    );
  if (s.ambient !== null) {
    const mode: MeshMode = s.useWaypoint !== null ? 'ambient+waypoint' : 'ambient';
    return verdict({ words: s.ambient, mode }, [
      reason(s.useWaypoint, mode),
      reason(s.noWaypoint, 'ambient'),
    ]);
  }
  return { mode: 'none', modeSigns: s.notAmbient === null ? [] : [s.notAmbient] };
}
