// Where the overhead benchmark puts Tollgate's processes on this one machine, as a cluster
// would place them, and how the agent is started there (its container's NODE_OPTIONS).
// The agent gets a cgroup with the CPU its DaemonSet asks for, read from the manifests:
// its `requests.cpu` as the weight it has when the CPUs are contended, its `limits.cpu`
// as a quota. The collector, which a cluster runs as a Deployment of its own (not on the
// node whose pods it watches), gets the least weight a cgroup can have, a BestEffort
// container's: it takes only the CPU the workload leaves, standing in for a machine of
// its own. Without this both would compete with the workload's processes as equals,
// which no cluster does. The kernel programs' time is charged to the workload wherever
// the agent is: placement cannot hide it.
import { join } from 'node:path';
import { MANIFESTS_DIR } from '../cli/commands/manifests.js';
import { kustomize, type Manifest } from '../daemonset/kustomize.js';
import type { CpuResources } from '../lab/cpu-limit.js';

const MANIFESTS = join(MANIFESTS_DIR, 'base');

/** Millicores of a Kubernetes CPU quantity: "100m", "1", "0.5". */
export function millicores(quantity: string | number): number {
  const text = String(quantity).trim();
  const value = text.endsWith('m') ? Number(text.slice(0, -1)) : Number(text) * 1000;
  if (!Number.isFinite(value) || value < 0) throw new Error(`not a CPU quantity: ${quantity}`);
  return value;
}

interface Container {
  name?: string;
  env?: { name: string; value?: string }[];
  resources?: { requests?: { cpu?: string | number }; limits?: { cpu?: string | number } };
}

const containers = new Map<string, Container | undefined>();

/** The agent's container as the manifests give it; rendered once per directory. */
function agentContainer(dir: string): Container | undefined {
  if (!containers.has(dir)) containers.set(dir, renderAgentContainer(dir));
  return containers.get(dir);
}

function renderAgentContainer(dir: string): Container | undefined {
  const daemonSet = kustomize(dir).find(
    (m: Manifest) => m.kind === 'DaemonSet' && m.metadata.name === 'tollgate-agent',
  ) as (Manifest & { spec?: { template?: { spec?: { containers?: Container[] } } } }) | undefined;
  return daemonSet?.spec?.template?.spec?.containers?.find((c) => c.name === 'agent');
}

/** The Node options the manifests start the agent with (its container's NODE_OPTIONS). */
export function agentNodeOptions(dir: string = MANIFESTS): string | undefined {
  return agentContainer(dir)?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
}

/** The CPU resources the manifests give the agent's container. */
export function agentCpu(dir: string = MANIFESTS): CpuResources {
  const agent = agentContainer(dir);
  const requests = agent?.resources?.requests?.cpu;
  const limits = agent?.resources?.limits?.cpu;
  if (requests === undefined)
    throw new Error(`no CPU request for the agent in ${join(dir, 'agent-daemonset.yaml')}`);
  return {
    requestMillicores: millicores(requests),
    ...(limits === undefined ? {} : { limit: { cores: millicores(limits) / 1000 } }),
  };
}

/** A BestEffort container's CPU: the least weight, no limit. */
export const COLLECTOR_ELSEWHERE: CpuResources = { requestMillicores: 0 };
