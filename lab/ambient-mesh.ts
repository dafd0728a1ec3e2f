// A lab's ambient mesh: the pods of the mesh's own (the node proxy's, the waypoint's), the
// processes in them, and the enrollment of app pods, which gives them the node proxy's
// listeners and then their capture rules. Held by the Lab, which validates what it is
// asked and keeps the public API; everything made here goes into the lab's ledger first.
import { createCpuGroup } from './cpu-limit.js';
import { runIn } from './exec.js';
import type { LabPod } from './lab.js';
import type { Ledger } from './ledger.js';
import type { MeshIdentity } from './mesh-identity.js';
import { createPodNetwork } from './network.js';
import { NodeProxy } from './node-proxy.js';
import { ambientRules, type EnrolledPod } from './node-proxy-config.js';
import { startWaypoint, type WaypointProcess } from './waypoint.js';

/** The node proxy's pod, made with the first enrollment; a reserved pod name. */
export const NODE_PROXY_POD = 'ztunnel';

/**
 * The pod of the node proxy that serves the ambient pods of `node` (PodSpec.ambientNode):
 * NODE_PROXY_POD for the lab's first node, NODE_PROXY_POD-<node> for another.
 */
export function nodeProxyPod(node: string | undefined): string {
  return node ? `${NODE_PROXY_POD}-${node}` : NODE_PROXY_POD;
}
/** The waypoint's pod, made with the lab when a pod uses it; a reserved pod name. */
export const WAYPOINT_POD = 'waypoint';

/** What the mesh needs of its lab. */
export interface AmbientHost {
  ledger: Ledger;
  id: string;
  nodeNamespace: string;
  dir: string;
  /** The lab's pods: the mesh's own are added to them. */
  pods: Map<string, LabPod>;
  /** The user haproxy runs as; the node proxy keeps root with its group only. */
  haproxy: { uid: number; gid: number };
  nodeProxyThreads: number;
  identity(): MeshIdentity;
}

export class AmbientMesh {
  /** One per node that has ambient pods, by node ('' for the first). */
  readonly nodeProxies = new Map<string, NodeProxy>();
  waypoint?: WaypointProcess;

  constructor(private readonly host: AmbientHost) {}

  /** The node proxy of `node` (default: the first node's), once one of its pods is enrolled. */
  nodeProxy(node = ''): NodeProxy | undefined {
    return this.nodeProxies.get(node);
  }

  /** Starts the waypoint in its pod; before any enrollment, whose configuration names it. */
  async startWaypoint(): Promise<void> {
    this.waypoint = await startWaypoint({
      ledger: this.host.ledger,
      dir: this.host.dir,
      netns: this.addMeshPod(WAYPOINT_POD).netns,
      ...this.host.haproxy,
      identity: this.host.identity(),
    });
  }

  /**
   * Serves `pods` too: the node proxy of each one's node (started with its node's first
   * enrollment) gets their listeners, every node proxy learns where they are, and each
   * running one reloads gracefully (NodeProxy.reload); then each pod gets its capture
   * rules, so that nothing is redirected to a listener not yet there.
   */
  async enroll(pods: readonly LabPod[]): Promise<void> {
    const served = [...this.host.pods.values()].filter((p) => p.mesh === 'ambient').concat(pods);
    const routed = served.map(enrolledPod);
    const nodes = new Set([...this.nodeProxies.keys(), ...served.map((p) => p.ambientNode ?? '')]);
    for (const node of nodes) {
      const own = served.filter((p) => (p.ambientNode ?? '') === node).map(enrolledPod);
      const proxy = this.nodeProxies.get(node);
      if (proxy) await proxy.reload(own, routed);
      else this.nodeProxies.set(node, await this.startNodeProxy(node, own, routed));
    }
    for (const pod of pods) {
      pod.meshed = true;
      pod.mesh = 'ambient';
      for (const rule of ambientRules(pod.port, this.host.haproxy.gid))
        runIn(pod.netns, 'iptables', rule);
    }
    for (const pod of served) pod.nodeProxyPid = this.nodeProxy(pod.ambientNode)!.workerPid;
  }

  private startNodeProxy(
    node: string,
    pods: readonly EnrolledPod[],
    routed: readonly EnrolledPod[],
  ): Promise<NodeProxy> {
    const { ledger, id } = this.host;
    const name = nodeProxyPod(node);
    return NodeProxy.start(
      {
        ledger,
        files: node ? `node-proxy-${node}` : 'node-proxy',
        dir: this.host.dir,
        netns: this.addMeshPod(name).netns,
        cgroup: createCpuGroup(ledger, `tollgate-lab-${id}-${name}`, {}),
        gid: this.host.haproxy.gid,
        threads: this.host.nodeProxyThreads,
        identity: this.host.identity(),
        waypoint: this.waypoint && this.host.pods.get(WAYPOINT_POD)?.address,
      },
      pods,
      routed,
    );
  }

  /** A pod of the mesh's own: an address on the node's bridge, no app. */
  private addMeshPod(name: string): LabPod {
    const { ledger, id, nodeNamespace, pods } = this.host;
    const netns = `tg${id}-${name}`;
    const address = createPodNetwork(ledger, nodeNamespace, netns, pods.size);
    const pod = { name, service: name, netns, address, port: 0, meshed: false };
    pods.set(name, pod);
    return pod;
  }
}

function enrolledPod(pod: LabPod): EnrolledPod {
  return {
    name: pod.name,
    netns: pod.netns,
    address: pod.address,
    appPort: pod.port,
    viaWaypoint: pod.waypoint,
  };
}
