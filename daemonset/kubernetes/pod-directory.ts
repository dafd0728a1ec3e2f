// The pods of this node, from the Kubernetes API: a watch with the field selector
// spec.nodeName=<node>, so each agent holds its own node's pods only (the API server
// filters; a cluster of 5,000 nodes costs each agent no more than one of 5). Answers the
// resolver's question "which pod and container is this cgroup's pod UID and container
// id?", the peer question "which pod holds this address?", and what a pod says of how
// it is meshed (its mesh labels, owner and containers: the pod's part of its signs).
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Init, PodRef } from '../../proto/gen/tollgate/v1.js';
import { fitsSign, isNodeProxyPod, meshLabels, POD_MESH_LABELS } from '../../proto/mesh-signs.js';
import type { PodDirectory } from '../identity/resolver.js';
import { WatchedDirectory } from './watched-set.js';

/** Labels shipped per pod at most; the rest are left out (the collector bounds them too). */
export const MAX_POD_LABELS = 64;

/** Container names kept per pod for its mesh signs at most. */
const MAX_CONTAINER_NAMES = 64;

/** What a pod says of how it is meshed (the namespace's labels are the namespaces' watch's). */
export interface PodMeshFacts {
  /** Its labels of POD_MESH_LABELS. */
  labels: Record<string, string>;
  /** Its controlling owner; null for none (or one whose kind or name does not fit). */
  owner: { kind: string; name: string } | null;
  /** Its running containers' names: regular ones and native sidecars. */
  containers: string[];
}

export interface PodDirectoryOptions {
  kubeConfig: KubeConfig;
  node: string;
  resyncMs?: number;
}

interface IndexedPod {
  ref: Init<PodRef>;
  /** Container id (64 hex, no runtime prefix) -> container name. */
  containers: Map<string, string>;
  /** Containers that run beside each other: regular ones and native sidecars. */
  runningContainers: number;
  mesh: PodMeshFacts;
  /** A pod of ztunnel's DaemonSet: its processes proxy other pods' traffic. */
  nodeProxy: boolean;
}

interface PodIndex {
  byUid: Map<string, IndexedPod>;
  byAddress: Map<string, Init<PodRef>>;
}

export class KubePodDirectory extends WatchedDirectory<V1Pod, PodIndex> implements PodDirectory {
  constructor(private readonly options: PodDirectoryOptions) {
    const api = options.kubeConfig.makeApiClient(CoreV1Api);
    const fieldSelector = `spec.nodeName=${options.node}`;
    super({
      kubeConfig: options.kubeConfig,
      path: '/api/v1/pods',
      fieldSelector,
      list: () => api.listPodForAllNamespaces({ fieldSelector }),
      resyncMs: options.resyncMs,
    });
  }

  byUid(uid: string) {
    const pod = this.index().byUid.get(uid);
    if (!pod) return undefined;
    return {
      pod: pod.ref,
      containerName: (id: string) => pod.containers.get(id) ?? '',
      runningContainers: pod.runningContainers,
      nodeProxy: pod.nodeProxy,
    };
  }

  /** What a pod of this node says of how it is meshed, by its UID. */
  meshOf(uid: string): PodMeshFacts | undefined {
    return this.index().byUid.get(uid)?.mesh;
  }

  /** The pod of this node that holds an address (hostNetwork pods share the node's: not indexed). */
  byAddress(address: string): Init<PodRef> | undefined {
    return this.index().byAddress.get(address);
  }

  protected build(pods: Iterable<V1Pod>): PodIndex {
    const index: PodIndex = { byUid: new Map(), byAddress: new Map() };
    for (const pod of pods) {
      const indexed = indexPod(pod, this.options.node);
      if (!indexed) continue;
      index.byUid.set(indexed.ref.uid ?? '', indexed);
      if (!pod.spec?.hostNetwork)
        for (const ip of pod.status?.podIPs ?? []) index.byAddress.set(ip.ip, indexed.ref);
    }
    return index;
  }
}

/** A pod's identity and its containers by id. Pure. */
export function indexPod(pod: V1Pod, node: string): IndexedPod | undefined {
  const meta = pod.metadata;
  if (!meta?.uid || !meta.name) return undefined;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta.labels ?? {}).slice(0, MAX_POD_LABELS)) labels[k] = v;
  const containers = new Map<string, string>();
  const status = pod.status;
  for (const c of [
    ...(status?.initContainerStatuses ?? []),
    ...(status?.containerStatuses ?? []),
    ...(status?.ephemeralContainerStatuses ?? []),
  ]) {
    // "containerd://<id>", "cri-o://<id>", "docker://<id>".
    const id = /^[a-z0-9-]+:\/\/([0-9a-f]{64})$/.exec(c.containerID ?? '')?.[1];
    if (id) containers.set(id, c.name);
  }
  // Init containers with restartPolicy Always are sidecars that run with the others
  // (Kubernetes 1.28+; Istio injects its proxy so when native sidecars are on).
  const running = [
    ...(pod.spec?.containers ?? []),
    ...(pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always'),
  ];
  const controller = meta.ownerReferences?.find((o) => o.controller);
  const owner =
    controller && fitsSign(controller.kind) && fitsSign(controller.name)
      ? { kind: controller.kind, name: controller.name }
      : null;
  const mesh: PodMeshFacts = {
    labels: meshLabels(meta.labels, POD_MESH_LABELS),
    owner,
    containers: running.slice(0, MAX_CONTAINER_NAMES).map((c) => c.name),
  };
  return {
    ref: {
      namespace: meta.namespace ?? 'default',
      name: meta.name,
      uid: meta.uid,
      node: pod.spec?.nodeName ?? node,
      source: 'POD_SOURCE_KUBERNETES',
      labels,
    },
    containers,
    runningContainers: running.length,
    mesh,
    nodeProxy: isNodeProxyPod(owner, mesh.labels),
  };
}
