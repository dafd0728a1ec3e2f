// The names people read for the graph's ids: a pod as namespace/name, a process with its
// pod, a peer by its name. Pure, over the model; the tooltip, the details and the summary
// bar all name things the same way.
import { externalLabel, type GraphModel } from './graph.js';

/** A pod's namespace/name; its id while the pod is not known. */
export function podName(model: GraphModel, podId: string): string {
  const pod = model.pods.get(podId);
  return pod ? `${pod.namespace}/${pod.name}` : podId;
}

/** A node's name for people: process name with its pod, or the peer's name. */
export function nodeName(model: GraphModel, id: string): string {
  const members = model.membersOf(id);
  if (members?.[0]) {
    const p = model.processes.get(members[0]);
    const pod = model.podOf(id);
    const name = `${p?.comm ?? ''} ×${members.length}`;
    return pod ? `${pod.namespace}/${pod.name} ${name}` : name;
  }
  const p = model.processes.get(id);
  if (p) {
    const pod = p.pod ? model.pods.get(p.pod) : undefined;
    return pod ? `${pod.namespace}/${pod.name} ${p.comm}` : p.comm;
  }
  const x = model.externals.get(id);
  if (x?.kind === 'folded') return externalLabel(x);
  return x ? (x.name ?? `${x.address}:${x.port}`) : id;
}
