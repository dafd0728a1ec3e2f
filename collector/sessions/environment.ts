// A session's environment record (SMPS: mesh, nodes, Kubernetes, workloads), from what
// the agents reported and the sidecars they saw, with what the user gave taking
// precedence. Pure.

import type { TopologyProcess } from '../../proto/api.js';
import type { Environment, MeshConfig, NodeInfo } from '../../proto/gen/tollgate/v1.js';

/** Sidecar container names and executables, and the mesh each one means. */
const MESHES: readonly { mesh: string; containers: string[]; executables: string[] }[] = [
  { mesh: 'istio', containers: ['istio-proxy'], executables: ['pilot-agent'] },
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

/** The mesh most of the target's sidecars belong to, and their concurrency when known. */
export function detectMesh(sidecars: readonly TopologyProcess[]): MeshConfig {
  const votes = new Map<string, number>();
  let concurrency = 0;
  for (const p of sidecars) {
    const exe = basename(p.exe) || p.comm;
    const found = MESHES.find(
      (m) =>
        m.containers.includes(p.container) ||
        m.executables.includes(exe) ||
        m.executables.includes(p.comm),
    );
    if (found) votes.set(found.mesh, (votes.get(found.mesh) ?? 0) + 1);
    concurrency = Math.max(concurrency, concurrencyOf(p.cmdline));
  }
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
