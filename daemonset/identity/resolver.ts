// pid -> ProcessIdentity, cached by (pid, start time) so a reused pid is read afresh.
// The pod comes from the Kubernetes directory when there is one (by pod UID from the
// cgroup), else from the network namespace: its `ip netns` name, or the host.
//
// Short-lived processes: the kernel says when a process starts (exec, fork) and ends,
// with its comm, cgroup id and network namespace. At a start the resolver reads /proc
// at once, while the process lives; at an end it keeps the identity a while (a
// tombstone), as the process's last records come after it. A process /proc never had
// in time is named from the kernel's facts: its comm, its cgroup's path (container and
// pod), its network namespace; no executable or command line.
import { readFileSync, statSync } from 'node:fs';
import type { ProcessRecord } from '../../probes/records.js';
import type { Init, PodRef, ProcessIdentity } from '../../proto/gen/tollgate/v1.js';
import { statFields } from '../proc-resources.js';
import { type CgroupIdentity, parseCgroup } from './cgroup.js';
import { CgroupPaths } from './cgroup-paths.js';
import { readNetnsNames } from './netns-names.js';
import { cgroupId, type ProcFacts, readProcFacts, unifiedCgroupRoot } from './proc-identity.js';
import { redactCmdline } from './redact-cmdline.js';
import { DEFAULT_ROLE_RULES, isProxyExecutable, type RoleRules, roleOf } from './roles.js';

/** Pods' namespaces kept for node proxies' sockets: more than a node's pods. */
const POD_NAMESPACES_KEPT = 4096;

/** Pods known from the Kubernetes API, by UID, and their containers' names. */
export interface PodDirectory {
  byUid(uid: string):
    | {
        pod: Init<PodRef>;
        containerName(containerId: string): string;
        /** Containers that run at once in the pod (regular and native sidecars). */
        runningContainers?: number;
        /** A node proxy's pod (ztunnel's DaemonSet): its processes proxy other pods' traffic. */
        nodeProxy?: boolean;
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
  /** How long an exited process's identity is kept for its last records (default 10 s). */
  tombstoneMs?: number;
  /** /proc reads at process starts per second at most (default 500); the rest wait. */
  startReadsPerSecond?: number;
}

/** What became of the kernel's process events, for the agent's status. */
export interface ProcessEventStats {
  /** Starts whose /proc was read while the process lived. */
  readAtStart: number;
  /** Starts not read at once: the process had gone, or the read rate was spent. */
  missedAtStart: number;
  /** Exited processes named from the kernel's facts alone (no /proc read in time). */
  fromKernel: number;
  /** Tombstones kept now. */
  tombstones: number;
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
  /**
   * Pids whose cached identity was read at their start: read again at their first
   * resolve if they still live (a process may be moved into its container's cgroup after
   * it started), kept if they have gone.
   */
  private readonly provisional = new Set<number>();
  /** Exited processes' identities, by pid, in order of exit. */
  private readonly tombstones = new Map<number, { identity: Identity; untilMs: number }>();
  private readonly cgroupPaths: CgroupPaths;
  private netnsNames = new Map<number, string>();
  private netnsReadAt = 0;
  /**
   * Kubernetes pods by the network namespace their processes live in, learned as their
   * processes are resolved, for the sockets a node proxy holds there. Bounded: the oldest
   * learned is forgotten past POD_NAMESPACES_KEPT (a pod's next process teaches it again).
   */
  private readonly podsByNetns = new Map<number, Init<PodRef>>();
  private readonly hostNetns: number;
  private startReads = { second: 0, count: 0 };
  readonly processEvents: Omit<ProcessEventStats, 'tombstones'> = {
    readAtStart: 0,
    missedAtStart: 0,
    fromKernel: 0,
  };

  constructor(private readonly options: ResolverOptions) {
    this.cgroupPaths = new CgroupPaths({ root: options.cgroupRoot ?? unifiedCgroupRoot() });
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

  /**
   * The identity of a live process; of one that has gone, the last known (a tombstone,
   * or the cached one once); else undefined.
   */
  resolve(pid: number, nowMs = Date.now()): Identity | undefined {
    const procRoot = this.options.procRoot ?? '/proc';
    const cached = this.cache.get(pid);
    if (cached && this.provisional.delete(pid)) {
      const facts = readProcFacts(pid, procRoot);
      // Not a zombie's partial read (no namespace): the start's identity stands then.
      if (facts?.startTimeTicks === cached.ref.startTimeTicks && facts.netnsInode)
        return this.remember(this.identityOf(facts));
    }
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
        // cannot have been reused while nothing runs under it). Forgotten afterwards,
        // unless its exit made a tombstone.
        this.cache.delete(pid);
        return this.tombstone(pid, nowMs) ?? cached;
      }
    }
    const facts = readProcFacts(pid, procRoot);
    if (!facts) return this.tombstone(pid, nowMs);
    // An exiting process (a zombie) reads without its namespace: its tombstone, if any, knows.
    if (!facts.netnsInode) {
      const gone = this.tombstone(pid, nowMs);
      if (gone?.ref.startTimeTicks === facts.startTimeTicks) return gone;
    }
    return this.remember(this.identityOf(facts));
  }

  /** What the kernel said as a process started or ended (tollgate-runner's process events). */
  observe(event: ProcessRecord, nowMs = Date.now()): void {
    this.expire(nowMs);
    if (event.event === 'exit') {
      const known = this.cache.get(event.tgid);
      this.cache.delete(event.tgid);
      this.provisional.delete(event.tgid);
      // The one known, unless an exec since changed what runs (the comm says so).
      let identity =
        known?.ref.startTimeTicks === event.startTimeTicks && known.comm === event.comm
          ? known
          : undefined;
      if (!identity) {
        identity = this.fromKernel(event);
        this.processEvents.fromKernel++;
      }
      this.tombstones.delete(event.tgid);
      this.tombstones.set(event.tgid, {
        identity,
        untilMs: nowMs + (this.options.tombstoneMs ?? 10_000),
      });
      while (this.tombstones.size > (this.options.maxCached ?? 65_536))
        this.tombstones.delete(this.tombstones.keys().next().value!);
      return;
    }
    // A start: read /proc now, while the process lives (bounded per second). What an
    // exec read misses is named from the kernel's facts: never the forked parent's copy.
    const second = Math.floor(nowMs / 1000);
    if (this.startReads.second !== second) this.startReads = { second, count: 0 };
    const facts =
      this.startReads.count++ < (this.options.startReadsPerSecond ?? 500)
        ? readProcFacts(event.tgid, this.options.procRoot ?? '/proc')
        : undefined;
    if (facts && facts.startTimeTicks === event.startTimeTicks && facts.comm === event.comm) {
      // A process exiting as it is read has lost its namespace links and cgroup already:
      // those the kernel gave (a zombie's /proc reads as the host's otherwise).
      if (!facts.netnsInode) facts.netnsInode = event.netnsInode;
      const cgroupLost = !facts.cgroup.unifiedPath;
      if (cgroupLost) facts.cgroup = this.cgroupOfId(event.cgroupId);
      this.remember(this.identityOf(facts, cgroupLost ? event.cgroupId : undefined));
      this.processEvents.readAtStart++;
    } else {
      this.processEvents.missedAtStart++;
      const parent = event.event === 'fork' ? this.cache.get(event.parentTgid) : undefined;
      const identity = this.fromKernel(event);
      this.remember(
        parent && parent.comm === event.comm
          ? { ...identity, exe: parent.exe, cmdline: parent.cmdline, role: parent.role }
          : identity,
      );
    }
    this.provisional.add(event.tgid);
  }

  stats(nowMs = Date.now()): ProcessEventStats {
    this.expire(nowMs);
    return { ...this.processEvents, tombstones: this.tombstones.size };
  }

  private tombstone(pid: number, nowMs: number): Identity | undefined {
    const t = this.tombstones.get(pid);
    return t && t.untilMs > nowMs ? t.identity : undefined;
  }

  private expire(nowMs: number): void {
    for (const [pid, t] of this.tombstones) {
      if (t.untilMs > nowMs) break;
      this.tombstones.delete(pid);
    }
  }

  private remember(identity: Identity): Identity {
    const pid = identity.ref.pid;
    this.cache.delete(pid);
    if (this.cache.size >= (this.options.maxCached ?? 65_536)) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) {
        this.cache.delete(oldest);
        this.provisional.delete(oldest);
      }
    }
    this.cache.set(pid, identity);
    return identity;
  }

  /** A process /proc did not show in time, from what the kernel saw. */
  private fromKernel(event: ProcessRecord): Identity {
    return this.identityOf(
      {
        pid: event.tgid,
        startTimeTicks: event.startTimeTicks,
        comm: event.comm,
        exe: '',
        cmdline: [],
        cgroup: this.cgroupOfId(event.cgroupId),
        netnsInode: event.netnsInode,
      },
      event.cgroupId,
    );
  }

  /** Container and pod of a cgroup the kernel named by id (nothing when its path is unknown). */
  private cgroupOfId(id: number): CgroupIdentity {
    const path = this.cgroupPaths.pathOf(id);
    return parseCgroup(path === undefined ? '' : `0::${path}`);
  }

  private identityOf(facts: ProcFacts, knownCgroupId?: number): Identity {
    const pid = facts.pid;
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
    // Not the host's namespace: every hostNetwork pod shares it.
    if (k8s && facts.netnsInode && facts.netnsInode !== this.hostNetns) {
      this.podsByNetns.delete(facts.netnsInode);
      this.podsByNetns.set(facts.netnsInode, k8s.pod);
      if (this.podsByNetns.size > POD_NAMESPACES_KEPT)
        this.podsByNetns.delete(this.podsByNetns.keys().next().value!);
    }
    const id = knownCgroupId ?? cgroupId(facts.cgroup.unifiedPath, this.options.cgroupRoot);
    this.cgroupPaths.learn(id, facts.cgroup.unifiedPath);
    return {
      ref: { pid, startTimeTicks: facts.startTimeTicks },
      comm: facts.comm,
      exe: facts.exe,
      cmdline: this.options.keepCmdlineSecrets ? facts.cmdline : redactCmdline(facts.cmdline),
      containerId: facts.cgroup.containerId,
      containerName,
      cgroupId: id,
      netnsInode: facts.netnsInode,
      pod: k8s?.pod ?? this.podOfNetns(facts.netnsInode),
      incompleteAt:
        facts.cgroup.podUid && !(k8s && containerName)
          ? (this.options.pods?.version ?? 0)
          : undefined,
      role: roleOf(
        {
          containerName,
          exe: facts.exe,
          comm: facts.comm,
          companions,
          nodeProxyPod: k8s?.nodeProxy,
        },
        rules,
      ),
    };
  }

  /**
   * The pod a network namespace belongs to, for a socket a node proxy holds in it: the
   * Kubernetes pod of processes seen living there, else the namespace's own name.
   */
  podOfNamespace(inode: number): Init<PodRef> {
    return this.podsByNetns.get(inode) ?? this.podOfNetns(inode);
  }

  /** Forget a pid (it exited). */
  forget(pid: number): void {
    this.cache.delete(pid);
    this.provisional.delete(pid);
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
