// A session's environment record (SMPS: mesh, nodes, Kubernetes, workloads), from what
// the agents reported and the proxies they saw, with what the user gave taking
// precedence; and its data plane (which mesh modes the targeted pods are in, and the
// sidecars, node proxies and waypoints that carry them), which SMPS has no field for.
// Pure.

import type { TopologyProcess } from '../../proto/api.js';
import type {
  Environment,
  MeshConfig,
  MeshDataplane,
  NodeInfo,
  PodResult,
  ProxyGroup,
} from '../../proto/gen/tollgate/v1.js';
import { round } from '../../proto/latency.js';
import { meshModeOf, podProxies } from './pod-mesh.js';
import type { Carrier } from './results.js';

/** Mesh proxies' container names and executables, and the mesh each one means. */
const MESHES: readonly { mesh: string; containers: string[]; executables: string[] }[] = [
  // ztunnel: Istio's node proxy in ambient mode.
  { mesh: 'istio', containers: ['istio-proxy'], executables: ['pilot-agent', 'ztunnel'] },
  { mesh: 'linkerd', containers: ['linkerd-proxy'], executables: ['linkerd2-proxy'] },
  {
    mesh: 'consul',
    containers: ['consul-dataplane', 'envoy-sidecar'],
    executables: ['consul-dataplane'],
  },
  { mesh: 'kuma', containers: ['kuma-sidecar'], executables: ['kuma-dp'] },
  { mesh: 'envoy', containers: [], executables: ['envoy'] },
  { mesh: 'haproxy', containers: [], executables: ['haproxy'] },
  { mesh: 'nginx', containers: [], executables: ['nginx'] },
];

const basename = (path: string) =>
  path.slice(path.lastIndexOf('/') + 1).replace(/ \(deleted\)$/, '');

/** The proxy's worker count from its command line (Envoy: --concurrency N), when it says. */
function concurrencyOf(cmdline: readonly string[]): number {
  for (let i = 0; i < cmdline.length; i++) {
    const arg = cmdline[i]!;
    const inline = /^--concurrency=(\d+)$/.exec(arg);
    if (inline) return Number(inline[1]);
    if (arg === '--concurrency' && /^\d+$/.test(cmdline[i + 1] ?? ''))
      return Number(cmdline[i + 1]);
  }
  return 0;
}

/**
 * The mesh most of the target's proxies belong to (its sidecars, and the node proxies and
 * waypoints that serve it), and the sidecars' concurrency when known: SMPS's
 * proxy_concurrency is the sidecar's, not a shared proxy's.
 */
export function detectMesh(
  sidecars: readonly TopologyProcess[],
  shared: readonly TopologyProcess[] = [],
): MeshConfig {
  const votes = new Map<string, number>();
  let concurrency = 0;
  for (const p of [...sidecars, ...shared]) {
    const exe = basename(p.exe) || p.comm;
    const found = MESHES.find(
      (m) =>
        m.containers.includes(p.container) ||
        m.executables.includes(exe) ||
        m.executables.includes(p.comm),
    );
    if (found) votes.set(found.mesh, (votes.get(found.mesh) ?? 0) + 1);
  }
  for (const p of sidecars) concurrency = Math.max(concurrency, concurrencyOf(p.cmdline));
  const mesh = [...votes].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? '';
  return { mesh, version: '', proxyConcurrency: concurrency, mtls: false };
}

/** What the user said wins over what was detected, field by field. */
export function meshConfig(
  detected: MeshConfig,
  given: Partial<MeshConfig> | undefined,
): MeshConfig {
  return {
    mesh: given?.mesh || detected.mesh,
    version: given?.version || detected.version,
    proxyConcurrency: given?.proxyConcurrency || detected.proxyConcurrency,
    mtls: given?.mtls ?? detected.mtls,
  };
}

export function environment(input: {
  agents: readonly { node: string; nodeInfo: unknown }[];
  workloads: readonly string[];
  version: string;
  given?: { kubernetesVersion?: string };
}): Environment {
  const nodes = new Map<string, NodeInfo>();
  for (const a of input.agents) {
    const info = (a.nodeInfo ?? {}) as Partial<NodeInfo>;
    nodes.set(a.node, {
      kernelRelease: String(info.kernelRelease ?? ''),
      cpuCores: Number(info.cpuCores ?? 0),
      memoryBytes: Number(info.memoryBytes ?? 0),
      kubernetesVersion: String(info.kubernetesVersion ?? ''),
      osImage: String(info.osImage ?? ''),
    });
  }
  const sorted = [...nodes].sort(([a], [b]) => (a < b ? -1 : 1));
  return {
    kubernetesVersion:
      input.given?.kubernetesVersion ||
      sorted.map(([, n]) => n.kubernetesVersion).find((v) => v !== '') ||
      '',
    nodes: sorted.map(([name, n]) => ({
      name,
      kernelRelease: n.kernelRelease,
      cpuCores: n.cpuCores,
      memoryBytes: n.memoryBytes,
    })),
    workloads: [...input.workloads],
    tollgateVersion: input.version,
  };
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The data plane over the targeted pods: how many are in each mode, and per kind and
 * executable the proxy processes carrying their traffic, the pods they carry and the
 * parts of their cost put to those pods (so a node proxy serving three pods is one
 * node-proxy group of three pods, not three sidecars); proxies not measured in no group.
 */
export function meshDataplane(
  pods: readonly PodResult[],
  carriers: readonly Carrier[],
): MeshDataplane {
  const modes = new Map<string, number>();
  const groups = new Map<string, ProxyGroup & { processIds: Set<string> }>();
  for (const p of pods) {
    const mode = meshModeOf(p) ?? p.meshMode;
    modes.set(mode, (modes.get(mode) ?? 0) + 1);
    const name = `${p.pod?.namespace}/${p.pod?.name}`;
    for (const x of podProxies(p)) {
      // No figures of it (known only from the cluster's signs, or no samples read): adding
      // it would add a 0 as if measured.
      if (!x.measured) continue;
      const key = `${x.kind} ${x.proxy}`;
      const g = groups.get(key) ?? {
        kind: x.kind,
        proxy: x.proxy,
        processes: 0,
        pods: 0,
        cpuMcores: 0,
        memMb: 0,
        processIds: new Set<string>(),
      };
      g.pods += 1;
      g.cpuMcores += x.cpuMcores;
      g.memMb += x.memMb;
      // A pod has one sidecar set and one node proxy; its waypoints tell apart by name.
      for (const c of carriers)
        if (
          c.pod === name &&
          c.kind === x.kind &&
          (x.kind !== 'waypoint' || c.process.comm === x.proxy)
        )
          g.processIds.add(c.process.id);
      groups.set(key, g);
    }
  }
  return {
    modes: [...modes]
      .sort(([a], [b]) => byText(a, b))
      .map(([mode, count]) => ({ mode, pods: count })),
    proxies: [...groups.values()]
      .sort((a, b) => byText(`${a.kind} ${a.proxy}`, `${b.kind} ${b.proxy}`))
      .map(({ processIds, ...g }) => ({
        ...g,
        processes: processIds.size,
        cpuMcores: round(g.cpuMcores),
        memMb: round(g.memMb),
      })),
  };
}
