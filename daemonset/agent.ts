// The node agent: kernel records in, pod-level batches out. Each interval record from the
// runner closes an interval: its records become one batch (identities, edges, hops,
// resource samples of every process in it, the cluster's signs of how its pods are
// meshed, and the agent's own cost), handed to the shipper, which spools it until the
// collector acknowledges it.
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, hostname, release, totalmem } from 'node:os';
import { type KernelFilterSpec, type MapSizes, ProbeSource } from '../probes/probe-source.js';
import type { HelloRecord, IntervalRecord, ProbeRecord } from '../probes/records.js';
import { type RecordSource, startRecordSource } from '../probes/start-source.js';
import type {
  Control,
  Init,
  KernelFilter,
  PeerName,
  PodMeshSigns,
  PodRef,
  ResourceSample,
} from '../proto/gen/tollgate/v1.js';
import { type LostCounters, lossFigures, noLoss } from '../proto/loss-metrics.js';
import { TOLLGATE_VERSION } from '../proto/version.js';
import {
  buildInterval,
  DirectionLearner,
  handoffEndsOf,
  IntervalRecords,
  type SocketPod,
} from './batch-builder.js';
import { readStartTimeTicks } from './identity/proc-identity.js';
import {
  type Identity,
  IdentityResolver,
  type PodDirectory,
  type ProcessEventStats,
} from './identity/resolver.js';
import { PROXY_EXECUTABLES, type RoleRules, SIDECAR_CONTAINERS } from './identity/roles.js';
import type { WatchedSetStats } from './kubernetes/watched-set.js';
import { LoadRunner, type RunLoad } from './load-runner.js';
import { readProcessResources, readUptimeTicks } from './proc-resources.js';
import { DelayedSender } from './shipping/ship-delay.js';
import { Shipper, type ShipperOptions } from './shipping/shipper.js';
import { TraceTarget } from './trace-target.js';

export interface AgentOptions {
  /** The collector's gRPC address, or several comma-separated (ShipperOptions.target). */
  collector: string;
  node?: string;
  token?: string;
  tls?: ShipperOptions['tls'];
  intervalMs?: number;
  /**
   * How long each interval's batch is held before it is sent, ms (0, the default: at
   * once). `tollgate agent` sets the node's own (shipDelayMs), so that a cluster's agents,
   * whose intervals end together, do not all send at the same moment.
   */
  shipDelayMs?: number;
  /**
   * Clients of one listener the kernel keeps apart per interval (the runner's default, 128,
   * when unset); the others are summed as "other clients".
   */
  clientsPerListener?: number;
  /** Count HTTP/2 connections' requests from their frames (default true; see ProbeSourceOptions). */
  http2Requests?: boolean;
  /**
   * The kernel maps' sizes in entries (the runner's defaults where unset): what a node with
   * more sockets, edges or proxies than they hold needs, where the excess is counted as
   * lost by cause (`lost.kernelCauses`).
   */
  mapSizes?: MapSizes;
  procRoot?: string;
  /** Where the host's cgroup v2 hierarchy is mounted (default: detected under /sys/fs/cgroup). */
  cgroupRoot?: string;
  roles?: RoleRules;
  /**
   * Ship command lines with their credentials (`--password=...`, `*_TOKEN=...`, a URL's
   * password). Off by default: those values are replaced before they leave the node.
   */
  keepCmdlineSecrets?: boolean;
  /** The cluster as the Kubernetes API shows it (KubernetesView); without it, network
   *  namespaces stand for pods. */
  kubernetes?: ClusterDirectory;
  spool?: ShipperOptions['spool'];
  /** Reconnect delays (default 250 ms doubling to 30 s, jittered). */
  backoff?: ShipperOptions['backoff'];
  /** How a session's load share is run (the lab runs it inside a pod). */
  runLoad?: RunLoad;
  /** Only for tests: a record source other than the kernel runner. */
  source?: RecordSource;
}

/** How long one ask for the programs' run time keeps the kernel counting it. */
export const PROGRAM_RUN_TIME_WINDOW_MS = 60_000;

/** What the agent asks of the cluster: pods by UID, names of remote addresses, the
 *  mesh's signs about a pod, and the watches' counters for its status. */
export interface ClusterDirectory extends PodDirectory {
  peerOf(address: string): Init<PeerName> | undefined;
  /** What the cluster says now of how a pod is meshed (KubernetesView.meshSigns). */
  meshSigns?(uid: string, sidecarContainers: readonly string[]): Init<PodMeshSigns> | undefined;
  stats(): Record<string, WatchedSetStats>;
}

export interface AgentStatus {
  node: string;
  intervals: number;
  batches: number;
  proxies: number[];
  /** Hops through the mesh's health, metrics and admin listeners, not the app's: left out. */
  meshManagementHops: number;
  fallbackReason: string | null;
  lost: {
    /** What the kernel could not account, by cause; the three figures below add them up. */
    kernelCauses: LostCounters;
    kernelMapFull: number;
    /** Process start and exit events the kernel's ring buffer had no room for. */
    kernelBufferFull: number;
    hopsWithoutDirection: number;
    unresolvedProcesses: number;
    edgesWithoutPort: number;
    tuplesWithoutPort: number;
    /** Socket states the kernel found left by a freed socket (a close it missed), dropped. */
    staleSocketStates: number;
    /**
     * Requests and replies whose hop the kernel kept to the proxy's write for want of room
     * to note their hand-off to a waiting reader: nothing lost, one figure less exact.
     */
    handoffsNotNoted: number;
    straysDropped: number;
    /** Listener directions forgotten to keep the learner bounded (re-learned when seen). */
    directionsEvicted: number;
  };
  shipper: ReturnType<Shipper['stats']>;
  /** How long each interval's batch is held before it is sent, ms, and how many are held now. */
  shipDelay: { ms: number; held: number };
  /** False once the record source has ended (the runner exited). */
  probesRunning: boolean;
  /** The kernel filter applied now and its generation (one more at every change). */
  kernelFilter: KernelFilterSpec & { generation: number };
  /**
   * Whether the kernel counts the programs' run time now (bpf_stats): for a while after
   * someone asked (countProgramRunTime), or for the runner's life when it was started so.
   */
  runTimeStats: boolean;
  /** Until when it counts on an ask, ms since the epoch; null when not asked. */
  runTimeStatsUntilMs: number | null;
  /** What the kernel's process starts and ends gave: /proc read in time, or its facts alone. */
  processEvents: ProcessEventStats;
  /** Clients per listener the kernel keeps apart each interval; null: no limit (bpftrace). */
  clientsPerListener: number | null;
  /**
   * Whether HTTP/2 connections' requests are counted from their frames
   * (HelloRecord.http2Requests); false: by their direction changes (turned off, a kernel
   * that cannot, or the bpftrace fallback).
   */
  http2Requests: boolean;
  /** The kernel maps' sizes in entries, as the runner made them (0: the bpftrace fallback's). */
  maps: HelloRecord['maps'];
  programs: ReturnType<Agent['programCosts']>;
  /** Cumulative CPU seconds and resident bytes of the agent and its runner. */
  self: { agentCpuNs: number; agentRssBytes: number; runnerCpuNs: number; runnerRssBytes: number };
  kubernetes: Record<string, WatchedSetStats> | null;
}

export class Agent {
  readonly node: string;
  private readonly resolver: IdentityResolver;
  private readonly directions = new DirectionLearner();
  /**
   * The processes the kernel pairs hops for, by pid, with each one's start time: a pid
   * that comes back as another process is not a proxy until it is found to be one.
   */
  private readonly proxies = new Map<number, number>();
  private current = new IntervalRecords();
  private intervals = 0;
  private batches = 0;
  private kernelLost: LostCounters = noLoss();
  private hopsWithoutDirection = 0;
  private meshManagementHops = 0;
  private edgesWithoutPort = 0;
  private tuplesWithoutPort = 0;
  private straysDropped = 0;
  private unresolvedProcesses = 0;
  private lastIntervalEndMs = Date.now();
  private readonly outbox: DelayedSender<Parameters<Shipper['send']>[0]>;
  private scanTimer: NodeJS.Timeout | undefined;
  private pump: Promise<void> | undefined;
  /** The runner's filter generation: one more at every change the agent applies. */
  private filterGeneration = 0;
  private explicitFilterGeneration = 0;
  /** Which filter the agent keeps applying: the sessions' target, unless told ids. */
  private readonly target: TraceTarget;
  private appliedFilterSpec: KernelFilterSpec = { all: true };
  private appliedFilter = JSON.stringify(this.appliedFilterSpec);
  private readonly loads: LoadRunner;
  private probesRunning = true;
  /** Cumulative run count and time per BPF program, from the runner's latest drain. */
  private readonly programStats = new Map<string, { runCount: number; runTimeNs: number }>();
  /** The kernel counts the programs' run time until then (ms since the epoch); null: not asked. */
  private runTimeStatsUntilMs: number | null = null;
  private runTimeStatsTimer: NodeJS.Timeout | undefined;
  /**
   * When the last two intervals' samples were read, the earlier first (at first: when the
   * agent started, not its process, which may be another's, as in `tollgate up` and the
   * tests), in the ticks of its processes' start times: a process that started after the
   * earlier has all its CPU time in this interval and the one before, and in no sample but
   * the previous interval's (ResourceSample.started_in_interval).
   */
  private sampledTicks: [number | undefined, number | undefined];

  private constructor(
    private readonly options: AgentOptions,
    readonly source: RecordSource,
    readonly shipper: Shipper,
    readonly fallbackReason: string | null,
  ) {
    this.node = options.node ?? hostname();
    const startTicks = readUptimeTicks(options.procRoot);
    this.sampledTicks = [startTicks, startTicks];
    this.resolver = new IdentityResolver({
      node: this.node,
      procRoot: options.procRoot,
      cgroupRoot: options.cgroupRoot,
      roles: options.roles,
      pods: options.kubernetes,
      keepCmdlineSecrets: options.keepCmdlineSecrets,
    });
    this.loads = new LoadRunner(options.runLoad);
    this.outbox = new DelayedSender(options.shipDelayMs ?? 0, (batch) => shipper.send(batch));
    this.target = new TraceTarget({
      procRoot: options.procRoot,
      resolve: (pid) => this.resolver.resolve(pid),
    });
  }

  static async start(options: AgentOptions): Promise<Agent> {
    const node = options.node ?? hostname();
    let source = options.source;
    let fallbackReason: string | null = null;
    if (!source) {
      const started = await startRecordSource({
        intervalMs: options.intervalMs ?? 1000,
        clientsPerListener: options.clientsPerListener,
        http2Requests: options.http2Requests,
        ...options.mapSizes,
      });
      source = started.source;
      fallbackReason = started.fallbackReason ?? null;
    }
    const shipper = new Shipper({
      target: options.collector,
      token: options.token,
      tls: options.tls,
      spool: options.spool,
      backoff: options.backoff,
      hello: {
        agentId: node,
        node,
        agentVersion: TOLLGATE_VERSION,
        nodeInfo: {
          kernelRelease: release(),
          cpuCores: cpus().length,
          memoryBytes: totalmem(),
          osImage: osImage(),
        },
        kernelFilter: { all: true, generation: 0 },
      },
    });
    const agent = new Agent(options, source, shipper, fallbackReason);
    shipper.on('control', (control) => agent.control(control));
    shipper.start();
    agent.scanForProxies();
    agent.scanTimer = setInterval(() => agent.scanForProxies(), 5000);
    agent.scanTimer.unref();
    agent.pump = agent.run();
    return agent;
  }

  status(): AgentStatus {
    return {
      node: this.node,
      intervals: this.intervals,
      batches: this.batches,
      proxies: [...this.proxies.keys()],
      meshManagementHops: this.meshManagementHops,
      fallbackReason: this.fallbackReason,
      lost: {
        kernelCauses: { ...this.kernelLost },
        ...lossFigures(this.kernelLost),
        hopsWithoutDirection: this.hopsWithoutDirection,
        edgesWithoutPort: this.edgesWithoutPort,
        tuplesWithoutPort: this.tuplesWithoutPort,
        straysDropped: this.straysDropped,
        unresolvedProcesses: this.unresolvedProcesses,
        directionsEvicted: this.directions.evicted,
      },
      shipper: this.shipper.stats(),
      shipDelay: { ms: this.outbox.delayMs, held: this.outbox.pending },
      probesRunning: this.probesRunning,
      kernelFilter: { ...this.appliedFilterSpec, generation: this.filterGeneration },
      runTimeStats: this.source.hello.runTimeStats || this.runTimeStatsUntilMs !== null,
      runTimeStatsUntilMs: this.runTimeStatsUntilMs,
      clientsPerListener: this.source.hello.clientsPerListener,
      http2Requests: this.source.hello.http2Requests,
      maps: this.source.hello.maps,
      processEvents: this.resolver.stats(),
      programs: this.programCosts(),
      self: this.selfCost(),
      kubernetes: this.options.kubernetes?.stats() ?? null,
    };
  }

  private selfCost() {
    const self = readProcessResources(process.pid);
    const runner = readProcessResources(this.source.pid);
    return {
      agentCpuNs: self ? Math.round(self.cpuUserNs + self.cpuSystemNs) : 0,
      agentRssBytes: self?.rssBytes ?? 0,
      runnerCpuNs: runner ? Math.round(runner.cpuUserNs + runner.cpuSystemNs) : 0,
      runnerRssBytes: runner?.rssBytes ?? 0,
    };
  }

  /**
   * Has the kernel count the programs' run time for the next `forMs` (a later ask extends
   * it), then stop: the per-program costs in the status, the metrics and the cost reports
   * move only while it counts. False where it cannot (the bpftrace fallback).
   */
  countProgramRunTime(forMs = PROGRAM_RUN_TIME_WINDOW_MS): boolean {
    if (!(this.source instanceof ProbeSource) || !this.probesRunning) return false;
    const source = this.source;
    if (this.runTimeStatsUntilMs === null) source.setRunTimeStats(true);
    this.runTimeStatsUntilMs = Math.max(this.runTimeStatsUntilMs ?? 0, Date.now() + forMs);
    clearTimeout(this.runTimeStatsTimer);
    this.runTimeStatsTimer = setTimeout(() => {
      this.runTimeStatsUntilMs = null;
      if (this.probesRunning) source.setRunTimeStats(false);
    }, this.runTimeStatsUntilMs - Date.now());
    this.runTimeStatsTimer.unref();
    return true;
  }

  /** Stops the probes (their last interval is shipped), then waits up to flushMs for acks. */
  async stop(flushMs = 2000): Promise<void> {
    clearInterval(this.scanTimer);
    clearTimeout(this.runTimeStatsTimer);
    this.loads.stop();
    await this.source.stop();
    await this.pump;
    this.outbox.flush();
    await this.shipper.stop(flushMs);
  }

  private async run(): Promise<void> {
    try {
      for await (const record of this.source.records()) this.take(record);
    } finally {
      this.probesRunning = false;
    }
  }

  private take(record: ProbeRecord): void {
    if (record.type === 'hello') return;
    if (record.type === 'programs') {
      for (const p of record.programs) this.programStats.set(p.name, p);
      return;
    }
    if (record.type === 'process') {
      // At once: a start's /proc is read while the process lives.
      this.resolver.observe(record);
      return;
    }
    if (record.type !== 'interval') {
      this.current.add(record);
      return;
    }
    this.closeInterval(record);
  }

  private closeInterval(interval: IntervalRecord): void {
    const records = this.current;
    this.current = new IntervalRecords();
    this.intervals++;
    this.kernelLost = interval.lost;
    const identities = new Map<number, Identity>();
    for (const tgid of records.tgids) {
      const identity = this.resolver.resolve(tgid);
      if (!identity) {
        this.unresolvedProcesses++;
        continue;
      }
      identities.set(tgid, identity);
      if (identity.role === 'ROLE_SIDECAR') this.registerProxy(tgid);
    }
    // A socket outside its process's namespace: a node proxy's, in the pod it serves.
    const socketPod: SocketPod = (key) => {
      const own = identities.get(key.tgid)?.netnsInode;
      if (!key.netnsInode || own === undefined || key.netnsInode === own) return undefined;
      return this.resolver.podOfNamespace(key.netnsInode);
    };
    const built = buildInterval(
      records,
      (tgid) => identities.get(tgid)?.ref,
      this.directions,
      socketPod,
      handoffEndsOf(interval),
    );
    this.hopsWithoutDirection += built.hopsWithoutDirection;
    this.meshManagementHops += built.meshManagementHops;
    this.edgesWithoutPort += built.edgesWithoutPort;
    this.tuplesWithoutPort += built.tuplesWithoutPort;
    this.straysDropped += built.straysDropped;
    this.current.carry(built.strays);
    const resources: Init<ResourceSample>[] = [];
    const since = this.sampledTicks[0];
    this.sampledTicks = [this.sampledTicks[1], readUptimeTicks(this.options.procRoot)];
    for (const identity of identities.values()) {
      const r = readProcessResources(identity.ref.pid, this.options.procRoot);
      if (r)
        resources.push({
          process: identity.ref,
          ...roundNs(r),
          source: 'RESOURCE_SOURCE_PROC',
          startedInInterval: since !== undefined && identity.ref.startTimeTicks > since,
        });
    }
    const peers = new Map<string, Init<PeerName>>();
    const cluster = this.options.kubernetes;
    if (cluster)
      for (const edge of built.edges) {
        const address = edge.remote?.address;
        if (!address || peers.has(address)) continue;
        const peer = cluster.peerOf(address);
        if (peer) peers.set(address, peer);
      }
    const podSigns = this.podSigns([
      ...[...identities.values()].map((i) => i.pod),
      ...built.edges.map((e) => e.socketPod),
      ...built.hops.map((h) => h.socketPod),
    ]);
    const endMs = interval.realtimeMs || Date.now();
    this.followTarget();
    const spool = this.shipper.stats();
    const kernel = lossFigures(this.kernelLost);
    this.outbox.push({
      node: this.node,
      intervalStartUnixMs: this.lastIntervalEndMs,
      intervalEndUnixMs: endMs,
      processes: [...identities.values()],
      edges: built.edges,
      hops: built.hops,
      resources,
      peers: [...peers.values()],
      podSigns,
      loadReports: this.loads.take(),
      agentCost: {
        ...this.selfCost(),
        spoolBatches: spool.spoolBatches,
        spoolBytes: spool.spoolBytes,
        lost: {
          kernelMapFull: kernel.kernelMapFull,
          kernelBufferFull: kernel.kernelBufferFull,
          spoolDroppedBatches: spool.spoolDropped,
          rejectedBatches: spool.rejected,
          unresolvedProcesses: this.unresolvedProcesses,
        },
        programs: this.programCosts(),
      },
    });
    this.lastIntervalEndMs = endMs;
    this.batches++;
  }

  /**
   * The cluster's signs about each Kubernetes pod of a batch (its processes' and those a
   * node proxy's sockets serve), read now: a namespace relabelled since shows at once.
   */
  private podSigns(pods: readonly (Init<PodRef> | null | undefined)[]): Init<PodMeshSigns>[] {
    const cluster = this.options.kubernetes;
    if (!cluster?.meshSigns) return [];
    const sidecars = this.options.roles?.containers ?? SIDECAR_CONTAINERS;
    const signs = new Map<string, Init<PodMeshSigns>>();
    for (const pod of pods) {
      const uid = pod?.source === 'POD_SOURCE_KUBERNETES' ? pod.uid : undefined;
      if (!uid || signs.has(uid)) continue;
      const found = cluster.meshSigns(uid, sidecars);
      if (found) signs.set(uid, found);
    }
    return [...signs.values()];
  }

  /** Each hook's program, its attach mode and its cost so far (0 without bpf_stats). */
  programCosts() {
    return this.source.hello.programs.map((p) => {
      const stats = p.name ? this.programStats.get(p.name) : undefined;
      return {
        name: p.name ?? p.hook,
        // A hook attached only while a proxy is listed says so: its runs stop without one.
        attachMode:
          p.attach === 'none' ? 'off' : p.while ? `${p.attach} while ${p.while}` : p.attach,
        runCount: stats?.runCount ?? 0,
        runTimeNs: stats?.runTimeNs ?? 0,
      };
    });
  }

  private registerProxy(pid: number): void {
    if (this.proxies.has(pid) || !(this.source instanceof ProbeSource)) return;
    const start = this.startTimeOf(pid);
    if (start === undefined) return;
    try {
      this.source.addProxy(pid);
      this.proxies.set(pid, start);
    } catch {
      // The runner has exited; the pump ends and stop() reports why.
    }
  }

  /** The kernel stops pairing a proxy that exited, before its pid can be reused. */
  private unregisterProxy(pid: number): void {
    this.proxies.delete(pid);
    this.directions.forget(pid);
    this.resolver.forget(pid);
    if (!(this.source instanceof ProbeSource)) return;
    try {
      this.source.removeProxy(pid);
    } catch {
      // The runner has exited.
    }
  }

  /** A process's start time, or undefined once it has exited. */
  private startTimeOf(pid: number): number | undefined {
    return readStartTimeTicks(pid, this.options.procRoot);
  }

  /** Finds running proxies by name, so hop pairing starts before their first traffic. */
  private scanForProxies(): void {
    const procRoot = this.options.procRoot ?? '/proc';
    const names: readonly string[] = this.options.roles?.executables ?? PROXY_EXECUTABLES;
    let entries: string[] = [];
    try {
      entries = readdirSync(procRoot).filter((e) => /^\d+$/.test(e));
    } catch {
      return;
    }
    // Forget proxies that exited, in the kernel too: their pid may come back as
    // something else (a different start time says it has).
    for (const [pid, start] of this.proxies)
      if (this.startTimeOf(pid) !== start) this.unregisterProxy(pid);
    for (const entry of entries) {
      const pid = Number(entry);
      if (this.proxies.has(pid)) continue;
      try {
        const comm = readFileSync(`${procRoot}/${pid}/comm`, 'utf8').trim();
        // A proxy by name that is its pod's app (an ingress, a gateway) adds no hops.
        if (names.includes(comm) && this.resolver.resolve(pid)?.role === 'ROLE_SIDECAR')
          this.registerProxy(pid);
      } catch {}
    }
  }

  private control(control: Control): void {
    if (control.kernelFilter) this.applyExplicitFilter(control.kernelFilter);
    if (control.target) {
      const { selections, generation } = control.target;
      try {
        if (this.target.set(selections, generation)) this.followTarget();
      } catch (error) {
        // The collector checks selectors before it sends them; a bad one leaves the target
        // as it was.
        console.error(`tollgate agent: bad trace target: ${(error as Error).message}`);
      }
    }
    if (control.load) this.loads.run(control.load);
  }

  /** An explicit filter (by ids) from the collector: it wins until a target arrives. */
  private applyExplicitFilter(filter: KernelFilter): void {
    if (filter.generation <= this.explicitFilterGeneration) return;
    this.explicitFilterGeneration = filter.generation;
    this.setKernelFilter(
      filter.all
        ? { all: true }
        : { all: false, netnsInodes: filter.netnsInodes, cgroupIds: filter.cgroupIds },
    );
  }

  /** Sets the kernel filter from the sessions' target when it changed since the last time. */
  private followTarget(): void {
    if (this.explicitFilterGeneration > 0 && this.target.everything) return;
    this.setKernelFilter(this.target.choose());
  }

  private setKernelFilter(filter: KernelFilterSpec): void {
    const key = JSON.stringify(filter);
    if (!(this.source instanceof ProbeSource) || key === this.appliedFilter) return;
    this.filterGeneration++;
    this.source.setFilter(this.filterGeneration, filter);
    this.appliedFilter = key;
    this.appliedFilterSpec = filter;
    const generation = this.filterGeneration;
    this.shipper.setAppliedFilter(
      filter.all
        ? { all: true, generation }
        : {
            netnsInodes: [...(filter.netnsInodes ?? [])],
            cgroupIds: [...(filter.cgroupIds ?? [])],
            generation,
          },
    );
  }
}

function roundNs(r: { cpuUserNs: number; cpuSystemNs: number; rssBytes: number }) {
  return {
    cpuUserNs: Math.round(r.cpuUserNs),
    cpuSystemNs: Math.round(r.cpuSystemNs),
    rssBytes: r.rssBytes,
  };
}

function osImage(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    return '';
  }
}
