// The agent's view of the cluster: this node's pods and all Services, each a watch of its
// own. Where the agent finds its credentials: in a pod, the service account
// (KUBERNETES_SERVICE_HOST set); else a kubeconfig file when one is given; else none, and
// network namespaces stand for pods.
import { KubeConfig } from '@kubernetes/client-node';
import type { Init, PeerName } from '../../proto/gen/tollgate/v1.js';
import type { PodDirectory } from '../identity/resolver.js';
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
  ) {}

  /** Lists pods and Services; rejects when either cannot be listed (wrong RBAC, no API). */
  static async start(options: KubernetesViewOptions): Promise<KubernetesView> {
    const pods = new KubePodDirectory(options);
    const services = new KubeServiceDirectory(options);
    try {
      await Promise.all([pods.start(), services.start()]);
    } catch (err) {
      pods.stop();
      services.stop();
      throw err;
    }
    return new KubernetesView(pods, services);
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

  stats(): { pods: WatchedSetStats; services: WatchedSetStats } {
    return { pods: this.pods.stats(), services: this.services.stats() };
  }

  stop(): void {
    this.pods.stop();
    this.services.stop();
  }
}
