// The namespaces' mesh labels, cluster-wide: Istio enrols a whole namespace in ambient
// mode, and sends its pods' inbound through a waypoint, by labels on the namespace
// (istio.io/dataplane-mode, istio.io/use-waypoint). A watch, so a namespace relabelled
// while the agent runs is in the next batch's signs. Bounded: of each namespace only its
// name, uid, resourceVersion and those labels are kept (by the watch's cache too), so
// a namespace costs some hundred bytes whatever its annotations.
import { CoreV1Api, type KubeConfig, type V1Namespace } from '@kubernetes/client-node';
import { meshLabels, NAMESPACE_MESH_LABELS } from '../../proto/mesh-signs.js';
import { WatchedDirectory } from './watched-set.js';

export class KubeNamespaceDirectory extends WatchedDirectory<
  V1Namespace,
  Map<string, Record<string, string>>
> {
  constructor(options: { kubeConfig: KubeConfig; resyncMs?: number }) {
    const api = options.kubeConfig.makeApiClient(CoreV1Api);
    super({
      kubeConfig: options.kubeConfig,
      path: '/api/v1/namespaces',
      list: () => api.listNamespace(),
      resyncMs: options.resyncMs,
      keep: slimNamespace,
    });
  }

  /** The mesh labels of a namespace; none when it has none or is unknown. */
  meshLabels(namespace: string): Record<string, string> {
    return this.index().get(namespace) ?? {};
  }

  protected build(namespaces: Iterable<V1Namespace>): Map<string, Record<string, string>> {
    const byName = new Map<string, Record<string, string>>();
    for (const ns of namespaces) {
      const name = ns.metadata?.name;
      // Trimmed here too, not only in `keep`: whatever path a namespace came by, only the
      // mesh labels, each bounded, reach a batch (the collector refuses one past the bounds).
      const labels = meshLabels(ns.metadata?.labels, NAMESPACE_MESH_LABELS);
      if (name && Object.keys(labels).length > 0) byName.set(name, labels);
    }
    return byName;
  }
}

/** What is kept of a namespace: what the watch needs, and its mesh labels. Pure. */
export function slimNamespace(ns: V1Namespace): V1Namespace {
  const meta = ns.metadata;
  return {
    metadata: {
      name: meta?.name,
      uid: meta?.uid,
      resourceVersion: meta?.resourceVersion,
      labels: meshLabels(meta?.labels, NAMESPACE_MESH_LABELS),
    },
  };
}
