// The agent's view of the cluster: this node's pods, all Services and the namespaces'
// mesh labels, each a watch of its own. Where the agent finds its credentials: in a pod,
// the service account (KUBERNETES_SERVICE_HOST set); else a kubeconfig file when one is
// given; else none, and network namespaces stand for pods.
import { KubeConfig } from '@kubernetes/client-node';
import type { Init, PeerName, PodMeshSigns } from '../../proto/gen/tollgate/v1.js';
import { MESH_SIGN_LIMITS } from '../../proto/mesh-signs.js';
import type { PodDirectory } from '../identity/resolver.js';
import { KubeNamespaceDirectory } from './namespace-directory.js';
import { KubePodDirectory } from './pod-directory.js';
import { KubeServiceDirectory } from './service-directory.js';
import type { WatchedSetStats } from './watched-set.js';

export interface KubernetesViewOptions {
  kubeConfig: KubeConfig;
  node: string;
  resyncMs?: number;
}

/** A KubeConfig for the agent, or undefined when it runs outside Kubernetes. */
export function loadKubeConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): KubeConfig | undefined {
  const config = new KubeConfig();
  if (file) config.loadFromFile(file);
  else if (env.KUBERNETES_SERVICE_HOST) config.loadFromCluster();
  else return undefined;
  return config;
}

export class KubernetesView implements PodDirectory {
  private constructor(
    readonly pods: KubePodDirectory,
    readonly services: KubeServiceDirectory,
    readonly namespaces: KubeNamespaceDirectory,
  ) {}

  /** Lists pods, Services and namespaces; rejects when one cannot be listed (wrong RBAC, no API). */
  static async start(options: KubernetesViewOptions): Promise<KubernetesView> {
    const pods = new KubePodDirectory(options);
    const services = new KubeServiceDirectory(options);
    const namespaces = new KubeNamespaceDirectory(options);
    const all = [pods, services, namespaces];
    try {
      await Promise.all(all.map((d) => d.start()));
    } catch (err) {
      for (const d of all) d.stop();
      throw err;
    }
    return new KubernetesView(pods, services, namespaces);
  }

  byUid(uid: string) {
    return this.pods.byUid(uid);
  }

  get version(): number {
    return this.pods.version;
  }

  /** A name for a remote address: a Service's cluster IP, or a pod of this node. */
  peerOf(address: string): Init<PeerName> | undefined {
    const service = this.services.byAddress(address);
    if (service) return service;
    const pod = this.pods.byAddress(address);
    return pod
      ? { address, kind: 'PEER_KIND_POD', namespace: pod.namespace ?? '', name: pod.name ?? '' }
      : undefined;
  }

  /**
   * What the cluster says now of how a pod of this node is meshed, by its UID: its and its
   * namespace's mesh labels, its owner, and its containers that `sidecarContainers` (the
   * role rules' names) calls sidecars. Undefined for a pod the watch does not hold.
   */
  meshSigns(uid: string, sidecarContainers: readonly string[]): Init<PodMeshSigns> | undefined {
    const pod = this.pods.byUid(uid)?.pod;
    const mesh = this.pods.meshOf(uid);
    if (!pod || !mesh) return undefined;
    return {
      namespace: pod.namespace,
      name: pod.name,
      namespaceLabels: this.namespaces.meshLabels(pod.namespace ?? ''),
      labels: mesh.labels,
      ownerKind: mesh.owner?.kind ?? '',
      ownerName: mesh.owner?.name ?? '',
      sidecarContainers: [
        ...new Set(mesh.containers.filter((c) => sidecarContainers.includes(c))),
      ].slice(0, MESH_SIGN_LIMITS.sidecarContainers),
    };
  }

  stats(): { pods: WatchedSetStats; services: WatchedSetStats; namespaces: WatchedSetStats } {
    return {
      pods: this.pods.stats(),
      services: this.services.stats(),
      namespaces: this.namespaces.stats(),
    };
  }

  stop(): void {
    this.pods.stop();
    this.services.stop();
    this.namespaces.stop();
  }
}
