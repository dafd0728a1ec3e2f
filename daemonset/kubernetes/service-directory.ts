// Services by cluster IP, cluster-wide: a client in a pod connects to a Service's
// virtual address, and kube-proxy's DNAT hides the pod behind it from the client's side
// of the connection. Naming that address after the Service is what makes an edge to a
// node without an agent readable.
import { CoreV1Api, type KubeConfig, type V1Service } from '@kubernetes/client-node';
import type { Init, PeerName } from '../../proto/gen/tollgate/v1.js';
import { WatchedDirectory } from './watched-set.js';

export class KubeServiceDirectory extends WatchedDirectory<V1Service, Map<string, Init<PeerName>>> {
  constructor(options: { kubeConfig: KubeConfig; resyncMs?: number }) {
    const api = options.kubeConfig.makeApiClient(CoreV1Api);
    super({
      kubeConfig: options.kubeConfig,
      path: '/api/v1/services',
      list: () => api.listServiceForAllNamespaces(),
      resyncMs: options.resyncMs,
    });
  }

  byAddress(address: string): Init<PeerName> | undefined {
    return this.index().get(address);
  }

  protected build(services: Iterable<V1Service>): Map<string, Init<PeerName>> {
    const byAddress = new Map<string, Init<PeerName>>();
    for (const svc of services) {
      const { namespace = 'default', name } = svc.metadata ?? {};
      if (!name) continue;
      for (const ip of svc.spec?.clusterIPs ?? [svc.spec?.clusterIP ?? '']) {
        // Headless Services have clusterIP "None": their clients see pod IPs.
        if (ip && ip !== 'None')
          byAddress.set(ip, { address: ip, kind: 'PEER_KIND_SERVICE', namespace, name });
      }
    }
    return byAddress;
  }
}
