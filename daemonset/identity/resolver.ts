// pid -> ProcessIdentity, cached by (pid, start time) so a reused pid is read afresh.
// The pod comes from the Kubernetes directory when there is one (by pod UID from the
// cgroup), else from the network namespace: its `ip netns` name, or the host.
import { readFileSync, statSync } from 'node:fs';
import type { Init, PodRef, ProcessIdentity } from '../../proto/gen/tollgate/v1.js';
import { statFields } from '../proc-resources.js';
import { readNetnsNames } from './netns-names.js';
import { cgroupId, readProcFacts } from './proc-identity.js';
import { redactCmdline } from './redact-cmdline.js';
import { DEFAULT_ROLE_RULES, isProxyExecutable, type RoleRules, roleOf } from './roles.js';

/** Pods known from the Kubernetes API, by UID, and their containers' names. */
export interface PodDirectory {
  byUid(uid: string):
    | {
        pod: Init<PodRef>;
        containerName(containerId: string): string;
        /** Containers that run at once in the pod (regular and native sidecars). */
        runningContainers?: number;
      }
    | undefined;
  /** Changes whenever the directory does, so identities resolved before are looked up again. */
  readonly version?: number;
}

export interface ResolverOptions {
  node: string;
  procRoot?: string;
  netnsDir?: string;
  cgroupRoot?: string;
  roles?: RoleRules;
  pods?: PodDirectory;
  /** Cached identities at most (oldest forgotten first). */
  maxCached?: number;
  /** Ship command lines as they are, credentials included (redactCmdline otherwise). */
  keepCmdlineSecrets?: boolean;
}

export type Identity = Init<ProcessIdentity> & {
  ref: { pid: number; startTimeTicks: number };
  /**
   * Set when the cgroup names a pod the directory did not know, or a container it had no
   * name for: the directory version then. Such an identity is looked up again once the
   * directory changes; complete ones are not (pod churn must not re-read every process).
   */
  incompleteAt?: number;
};

export class IdentityResolver {
  private readonly cache = new Map<number, Identity>();
  private netnsNames = new Map<number, string>();
  private netnsReadAt = 0;
  private readonly hostNetns: number;

  constructor(private readonly options: ResolverOptions) {
    // The host's namespace is init's; where init is out of reach (a sandbox), the agent's
    // own, since the agent runs with hostNetwork.
    let host = 0;
    for (const pid of ['1', 'self']) {
      try {
        host = statSync(`${options.procRoot ?? '/proc'}/${pid}/ns/net`).ino;
        break;
      } catch {}
    }
    this.hostNetns = host;
  }

  /** The identity of a live process, or undefined when it has gone. */
  resolve(pid: number): Identity | undefined {
    const procRoot = this.options.procRoot ?? '/proc';
    const cached = this.cache.get(pid);
    if (cached) {
      // Same start time: the same process (cheap check, one small read).
      try {
        const start = Number(statFields(readFileSync(`${procRoot}/${pid}/stat`, 'utf8'))[19]);
        // A pod that started after its processes (or gained container statuses) is
        // picked up when the directory changes.
        const stale =
          cached.incompleteAt !== undefined &&
          cached.incompleteAt !== (this.options.pods?.version ?? 0);
        if (start === cached.ref.startTimeTicks && !stale) return cached;
      } catch {
        // Gone since it was last resolved: its final records are still its own (its pid
        // cannot have been reused while nothing runs under it). Forgotten afterwards.
        this.cache.delete(pid);
        return cached;
      }
    }
    const facts = readProcFacts(pid, procRoot);
    if (!facts) return undefined;
    const k8s = facts.cgroup.podUid ? this.options.pods?.byUid(facts.cgroup.podUid) : undefined;
    const containerName = k8s?.containerName(facts.cgroup.containerId) ?? '';
    const rules = this.options.roles ?? DEFAULT_ROLE_RULES;
    // Whether a proxy shares its pod, from the pod's spec. Without Kubernetes nothing says
    // so reliably (a client pod's app may start long after its sidecar, or run now and
    // then), so the executable alone decides.
    const companions =
      k8s?.runningContainers !== undefined && isProxyExecutable(facts, rules)
        ? k8s.runningContainers > 1
        : undefined;
    const identity: Identity = {
      ref: { pid, startTimeTicks: facts.startTimeTicks },
      comm: facts.comm,
      exe: facts.exe,
      cmdline: this.options.keepCmdlineSecrets ? facts.cmdline : redactCmdline(facts.cmdline),
      containerId: facts.cgroup.containerId,
      containerName,
      cgroupId: cgroupId(facts.cgroup.unifiedPath, this.options.cgroupRoot),
      netnsInode: facts.netnsInode,
      pod: k8s?.pod ?? this.podOfNetns(facts.netnsInode),
      incompleteAt:
        facts.cgroup.podUid && !(k8s && containerName)
          ? (this.options.pods?.version ?? 0)
          : undefined,
      role: roleOf({ containerName, exe: facts.exe, comm: facts.comm, companions }, rules),
    };
    if (this.cache.size >= (this.options.maxCached ?? 65_536)) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(pid, identity);
    return identity;
  }

  /** Forget a pid (it exited). */
  forget(pid: number): void {
    this.cache.delete(pid);
  }

  private podOfNetns(inode: number): Init<PodRef> {
    const node = this.options.node;
    if (inode === this.hostNetns || inode === 0)
      return { namespace: 'host', name: node, node, source: 'POD_SOURCE_HOST' };
    let name = this.netnsNames.get(inode);
    // Namespaces come and go with pods: look again when one is unknown (at most 1/s).
    if (name === undefined && Date.now() - this.netnsReadAt > 1000) {
      this.netnsNames = readNetnsNames(this.options.netnsDir);
      this.netnsReadAt = Date.now();
      name = this.netnsNames.get(inode);
    }
    return {
      namespace: 'netns',
      name: name ?? `netns-${inode}`,
      node,
      source: 'POD_SOURCE_NETNS',
    };
  }
}
