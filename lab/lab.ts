// A lab: network-namespace pods on a private bridge, each with an app and, when meshed, a
// haproxy sidecar that captures its traffic with iptables REDIRECT. Shared by the demo,
// the tests and the benchmarks. Everything it creates is in its ledger and removed by
// destroy(), on Ctrl-C and SIGTERM, at process exit, and (after a crash) by the next lab.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { LoadOptions, LoadResult } from '../daemonset/load/load.js';
import { spanS } from '../daemonset/load/schedule.js';
import { AmbientMesh, NODE_PROXY_POD, nodeProxyPod, WAYPOINT_POD } from './ambient-mesh.js';
import type { AppConfig } from './app-server.js';
import {
  type CpuLimit,
  type CpuLimitedGroup,
  type CpuResources,
  createCpuGroup,
  createCpuLimitedGroup,
} from './cpu-limit.js';
import type { DelayProxyConfig, DelayProxyReport } from './delay-proxy.js';
import { CommandError, runIn } from './exec.js';
import { haproxyCommand, readHaproxyStats } from './haproxy-stats.js';
import { LAB_STATE_DIR, Ledger } from './ledger.js';
import { createMeshIdentity, type MeshIdentity } from './mesh-identity.js';
import { createNode, createPodNetwork, createPodPair } from './network.js';
import type { NodeProxyProcess } from './node-proxy.js';
import {
  ambientInboundRule,
  ambientOutboundRule,
  type NodeProxyStatRow,
} from './node-proxy-config.js';
import {
  DEFAULT_SIDECAR_PORTS,
  type HaproxyStatRow,
  haproxyConfig,
  inboundCaptureRule,
  lookupUser,
  meshRules,
  outboundCaptureRule,
  SIDECAR_DELAY_LUA,
  type SidecarLink,
  setDelayCommand,
} from './sidecar-config.js';
import { nodeEntry, spawnInNetns, waitForLine } from './spawn.js';
import type { WaypointProcess } from './waypoint.js';

export interface PodSpec {
  /** Lowercase letters, digits and dashes. */
  name: string;
  service: string;
  meshed: boolean;
  /**
   * How a meshed pod is in the mesh: with a sidecar (the default), or enrolled in ambient
   * mode, served by the node proxy (see Lab.enrollAmbient). Only with meshed: true.
   */
  mesh?: 'sidecar' | 'ambient';
  /**
   * An ambient pod whose mesh traffic goes through the lab's waypoint (an L7 proxy pod,
   * WAYPOINT_POD, started with the lab) on its way from the source's node proxy.
   */
  waypoint?: boolean;
  /**
   * The node an ambient pod is on, as far as the mesh goes: each node's own node proxy
   * serves its pods (nodeProxyPod(node)), so pods on two nodes talk through two node
   * proxies, a tunnel between them, as across a cluster's nodes. The lab is one machine:
   * only the proxies are apart. Lowercase letters and digits; default, the first node.
   */
  ambientNode?: string;
  /** false: a pod with no app, e.g. where a load generator runs. */
  app?: boolean;
  port?: number;
  /** The app's wait before each reply, ms (a timer); 0, the default: it answers at once. */
  serviceTimeMs?: number;
  /** Services this pod's app calls for every request. */
  calls?: string[];
  /** The sidecar can hold inbound requests for a delay set by setSidecarDelay (HTTP mode). */
  sidecarDelay?: boolean;
  /**
   * The sidecar's inbound listener: TCP (the default), HTTP sharing app connections, or
   * HTTP/2 on both sides (HaproxyConfigInput.inboundMode).
   */
  sidecarMode?: 'tcp' | 'http-reuse' | 'h2';
  /** The sidecar in a cgroup of its own with this CPU limit, like a container's limits.cpu. */
  sidecarCpuLimit?: CpuLimit;
  /**
   * What the sidecar speaks to other sidecars (HaproxyConfigInput.link): HTTP/2, mutual
   * TLS with the lab's one mesh identity, or HTTP/2 inside it. Pods that talk to each
   * other must agree.
   */
  sidecarLink?: 'h2' | 'tls' | 'h2-tls';
  /**
   * With sidecarLink 'tls' or 'h2-tls': its sidecar takes plaintext inbound instead, from callers
   * outside the mesh (HaproxyConfigInput.plaintextInbound), and speaks TLS outbound.
   */
  sidecarPlaintextInbound?: boolean;
}

export interface LabPod {
  name: string;
  service: string;
  netns: string;
  address: string;
  port: number;
  meshed: boolean;
  /** How it is in the mesh, when it is. */
  mesh?: 'sidecar' | 'ambient';
  /** Behind the waypoint (PodSpec.waypoint). */
  waypoint?: boolean;
  /** PodSpec.ambientNode. */
  ambientNode?: string;
  appPid?: number;
  sidecarPid?: number;
  statsSocket?: string;
  controlSocket?: string;
  /** Set when the sidecar runs under a CPU limit (PodSpec.sidecarCpuLimit). */
  sidecarCgroup?: CpuLimitedGroup;
  /**
   * An ambient pod's node proxy: the haproxy worker that owns the listening sockets in the
   * pod's namespace. Updated at every reload (the worker's pid changes; see NodeProxy.reload).
   */
  nodeProxyPid?: number;
}

export interface LabOptions {
  stateDir?: string;
  /** How pods are wired: all on a bridge (the default), or two pods on one veth pair. */
  wiring?: 'bridge' | 'veth-pair';
  /** haproxy threads per sidecar. */
  sidecarThreads?: number;
  /** haproxy threads of the ambient node proxy (default 2, ztunnel's default worker threads). */
  nodeProxyThreads?: number;
  /**
   * false: the caller handles SIGINT, SIGTERM and SIGHUP, and destroys the lab (the demo, which
   * stops its own processes first). By default the lab tears itself down and exits.
   */
  handleSignals?: boolean;
}

const DEFAULT_APP_PORT = 9080;
const POD_NAME = /^[a-z0-9][a-z0-9-]{0,39}$/;
const NODE_NAME = /^[a-z0-9]{1,8}$/;

/** The ambient mesh's own pods' names: the node proxies' (one per node) and the waypoint's. */
function isMeshPod(name: string): boolean {
  return name === WAYPOINT_POD || name === NODE_PROXY_POD || name.startsWith(`${NODE_PROXY_POD}-`);
}

export { NODE_PROXY_POD, nodeProxyPod, WAYPOINT_POD };

export class LabError extends Error {
  override name = 'LabError';
}

const LAB_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export class Lab {
  readonly pods = new Map<string, LabPod>();
  private destroyed = false;
  private execCount = 0;
  private meshIdentity?: MeshIdentity;
  private ambient?: AmbientMesh;
  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.destroy();
    process.exit(128 + (osConstants.signals[signal] ?? 15));
  };
  private readonly onExit = () => this.destroy();

  private constructor(
    private readonly ledger: Ledger,
    readonly nodeNamespace: string,
    readonly dir: string,
    private readonly options: LabOptions,
  ) {
    if (options.handleSignals ?? true) {
      // SIGHUP too: the terminal of a lab run by hand closing.
      for (const s of LAB_SIGNALS) process.on(s, this.onSignal);
    }
    process.on('exit', this.onExit);
  }

  get id(): string {
    return this.ledger.id;
  }

  /** Builds the lab; on any failure removes what it built and rethrows. */
  static async create(specs: readonly PodSpec[], options: LabOptions = {}): Promise<Lab> {
    if (process.getuid?.() !== 0)
      throw new LabError('the lab needs root (network namespaces, iptables)');
    validateSpecs(specs);
    const stateDir = options.stateDir ?? LAB_STATE_DIR;
    Ledger.reapStale(stateDir);
    const id = randomBytes(3).toString('hex');
    const ledger = Ledger.create(id, stateDir);
    const dir = join(stateDir, id);
    ledger.recordPath(dir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const lab = new Lab(ledger, `tg${id}-node`, dir, options);
    try {
      createNode(ledger, lab.nodeNamespace);
      const pair =
        options.wiring === 'veth-pair'
          ? createPodPair(ledger, pairOf(specs.map((spec) => `tg${id}-${spec.name}`)))
          : undefined;
      specs.forEach((spec, index) => {
        const netns = `tg${id}-${spec.name}`;
        const address = pair?.[index] ?? createPodNetwork(ledger, lab.nodeNamespace, netns, index);
        lab.pods.set(spec.name, {
          name: spec.name,
          service: spec.service,
          netns,
          address,
          port: spec.port ?? DEFAULT_APP_PORT,
          // Ambient pods become meshed when enrolled, below.
          meshed: spec.meshed && spec.mesh !== 'ambient',
          mesh: spec.meshed && spec.mesh !== 'ambient' ? 'sidecar' : undefined,
          waypoint: spec.waypoint,
          ambientNode: spec.ambientNode,
        });
      });
      // Sidecars and the node proxy first, so apps' first calls already go through them.
      for (const spec of specs)
        if (spec.meshed && spec.mesh !== 'ambient')
          await lab.startSidecar(lab.pods.get(spec.name)!, options.sidecarThreads ?? 1, spec);
      if (specs.some((s) => s.waypoint)) await lab.ambientMesh().startWaypoint();
      const ambient = specs.filter((s) => s.mesh === 'ambient').map((s) => s.name);
      if (ambient.length > 0) await lab.enrollAmbient(...ambient);
      await Promise.all(specs.filter((s) => s.app !== false).map((s) => lab.startApp(s)));
      return lab;
    } catch (error) {
      lab.destroy();
      throw error;
    }
  }

  /**
   * A cgroup with a container's CPU resources, for processes the lab did not start (the
   * benchmarks' agent and collector); removed with the lab, once its processes are gone.
   */
  cpuGroup(name: string, resources: CpuResources): CpuLimitedGroup {
    return createCpuGroup(this.ledger, `tollgate-lab-${this.id}-${name}`, resources);
  }

  pod(name: string): LabPod {
    const pod = this.pods.get(name);
    if (!pod) throw new LabError(`no pod named ${name}`);
    return pod;
  }

  /** The URLs of every pod of a service, as an app or load generator inside the lab reaches them. */
  serviceUrls(service: string): string[] {
    const urls = [...this.pods.values()]
      .filter((p) => p.service === service)
      .map((p) => `http://${p.address}:${p.port}/`);
    if (urls.length === 0) throw new LabError(`no pod serves ${service}`);
    return urls;
  }

  /** haproxy's own counters for a meshed pod's sidecar. */
  sidecarStats(podName: string): Promise<HaproxyStatRow[]> {
    const pod = this.pod(podName);
    if (!pod.statsSocket) throw new LabError(`${podName} has no sidecar`);
    return readHaproxyStats(pod.statsSocket);
  }

  /**
   * The ambient node proxy's own counters (names: nodeProxyNames of node-proxy-config.ts);
   * `node`'s (PodSpec.ambientNode), by default the first node's.
   */
  nodeProxyStats(node?: string): Promise<NodeProxyStatRow[]> {
    const proxy = this.ambient?.nodeProxy(node);
    if (!proxy) return Promise.reject(new LabError('no pod is enrolled in ambient mode'));
    return proxy.stats();
  }

  /** The last `chars` of the node proxy's log, or '(none)' before a pod is enrolled. */
  nodeProxyLog(chars = 4000, node?: string): string {
    return this.ambient?.nodeProxy(node)?.logTail(chars) ?? '(none)';
  }

  /** The node proxy's processes, cgroup and stats socket, once a pod is enrolled. */
  nodeProxyProcess(node?: string): NodeProxyProcess | undefined {
    return this.ambient?.nodeProxy(node)?.describe();
  }

  /** The waypoint's process and stats socket, when the lab has one (PodSpec.waypoint). */
  waypointProcess(): WaypointProcess | undefined {
    return this.ambient?.waypoint;
  }

  /** The waypoint's own counters. */
  waypointStats(): Promise<HaproxyStatRow[]> {
    const waypoint = this.ambient?.waypoint;
    if (!waypoint) return Promise.reject(new LabError('the lab has no waypoint'));
    return readHaproxyStats(waypoint.statsSocket);
  }

  /**
   * Enrolls pods in ambient mode, at creation (PodSpec.mesh) or while the lab runs: the
   * node proxy (in its own pod NODE_PROXY_POD) gets their listeners, then they get their
   * capture rules (AmbientMesh.enroll). New connections take the node proxy's path from
   * then on, ones already open keep theirs. Resolves once both are in place.
   */
  async enrollAmbient(...podNames: string[]): Promise<void> {
    const pods = podNames.map((name) => this.pod(name));
    for (const pod of pods) {
      if (pod.mesh) throw new LabError(`${pod.name} is already in the mesh (${pod.mesh})`);
      if (isMeshPod(pod.name)) throw new LabError(`${pod.name} is one of the mesh's own pods`);
    }
    await this.ambientMesh().enroll(pods);
  }

  /** The app's own counters: requests served. */
  appStats(podName: string): Promise<{ requests: number; downstreamErrors: number }> {
    const pod = this.pod(podName);
    if (!pod.controlSocket) return Promise.reject(new LabError(`${podName} has no app`));
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: pod.controlSocket, path: '/' }, (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve(JSON.parse(body)));
      });
      req.on('error', reject);
      req.end();
    });
  }

  /**
   * Starts a process inside a pod, recorded in the ledger so destroy() stops it.
   * Its stdout is piped; its stderr goes to a log file in the lab's folder.
   */
  exec(podName: string, what: string, command: string, args: readonly string[]): ChildProcess {
    const pod = this.pod(podName);
    const log = join(this.dir, `${podName}.${++this.execCount}.log`);
    return spawnInNetns(this.ledger, pod.netns, `${what} in ${podName}`, command, args, log);
  }

  /**
   * Starts the delay proxy (a test sidecar with a known injected delay) in a pod.
   * report() stops it and returns what it held each chunk for.
   */
  async startDelayProxy(
    podName: string,
    config: DelayProxyConfig,
    /** The node binary to run it with: a link under a proxy's name makes it a sidecar to the agent. */
    node: string = process.execPath,
  ): Promise<{ pid: number; report(): Promise<DelayProxyReport> }> {
    const child = this.exec(podName, 'delay proxy', node, [
      ...nodeEntry(import.meta.url, 'delay-proxy'),
      JSON.stringify(config),
    ]);
    await waitForLine(child, /^ready$/, `delay proxy in ${podName}`);
    return {
      pid: child.pid!,
      report: async () => {
        const line = waitForLine(child, /^\{/, `delay proxy report in ${podName}`);
        child.kill('SIGTERM');
        return JSON.parse(await line) as DelayProxyReport;
      },
    };
  }

  /**
   * Runs the constant-rate load generator inside a pod and returns its result, with the
   * generator's pid (a process of its own per run, so its sockets are its run's alone)
   * and its own CPU time over the load (user and system, microseconds).
   */
  async load(
    fromPod: string,
    options: LoadOptions,
  ): Promise<LoadResult & { pid: number; processCpuUs: number }> {
    const child = this.exec(fromPod, 'load', process.execPath, [
      ...nodeEntry(import.meta.url, 'load-main'),
      JSON.stringify(options),
    ]);
    const line = await waitForLine(
      child,
      /^\{/,
      `load generator in ${fromPod}`,
      Math.max(0, (options.startAtMs ?? 0) - Date.now()) +
        ((options.warmupS ?? 0) + spanS(options.durationS, options.turnsS)) * 1000 +
        options.timeoutMs +
        15_000,
    );
    // `ip netns exec` execs the command: the child's pid is the generator's.
    return { ...(JSON.parse(line) as LoadResult & { processCpuUs: number }), pid: child.pid! };
  }

  /** Removes everything the lab created. Idempotent; returns what could not be removed. */
  destroy(): string[] {
    if (this.destroyed) return [];
    this.destroyed = true;
    for (const s of LAB_SIGNALS) process.off(s, this.onSignal);
    process.off('exit', this.onExit);
    return this.ledger.teardown();
  }

  /**
   * Switches the capture of a pod's inbound traffic into its sidecar's inbound listener, or
   * an ambient pod's into the node proxy's 15006 (the same rule; a meshed pod starts with
   * it on; an unmeshed one can get it, for a sidecar started by hand). Off, new connections
   * to the app port reach the app directly; connections already open keep the path they
   * had, as NAT is decided once per connection. An ambient pod's 15008 is not captured
   * traffic: tunnelled connections reach it whatever this switch says.
   */
  setInboundCapture(podName: string, on: boolean): void {
    const pod = this.pod(podName);
    const rule =
      pod.mesh === 'ambient'
        ? ambientInboundRule(pod.port)
        : inboundCaptureRule(pod.port, DEFAULT_SIDECAR_PORTS);
    this.setRule(pod, rule, on);
  }

  /**
   * Switches the capture of a meshed pod's outbound traffic into its sidecar (or an ambient
   * pod's into the node proxy's 15001), as setInboundCapture the inbound: off, new
   * connections from the pod go out directly.
   */
  setOutboundCapture(podName: string, on: boolean): void {
    const pod = this.pod(podName);
    if (!pod.meshed) throw new LabError(`${podName} has no sidecar`);
    const rule =
      pod.mesh === 'ambient'
        ? ambientOutboundRule(haproxyUser().gid)
        : outboundCaptureRule(DEFAULT_SIDECAR_PORTS, haproxyUser().uid);
    this.setRule(pod, rule, on);
  }

  private setRule(pod: LabPod, rule: string[], on: boolean): void {
    let present = true;
    try {
      runIn(pod.netns, 'iptables', ['-t', 'nat', '-C', ...rule]);
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      present = false;
    }
    if (on !== present) runIn(pod.netns, 'iptables', ['-t', 'nat', on ? '-A' : '-D', ...rule]);
  }

  /** Sets the delay a pod's sidecar holds each inbound request (see PodSpec.sidecarDelay). */
  async setSidecarDelay(podName: string, ms: number): Promise<void> {
    const pod = this.pod(podName);
    if (!pod.statsSocket) throw new LabError(`${podName} has no sidecar`);
    const answer = await haproxyCommand(pod.statsSocket, setDelayCommand(ms));
    if (answer.trim() !== '')
      throw new LabError(`haproxy of ${podName} refused the delay: ${answer.trim()}`);
  }

  private async startSidecar(pod: LabPod, threads: number, spec: PodSpec): Promise<void> {
    const user = haproxyUser();
    const statsSocket = join(this.dir, `${pod.name}.haproxy.sock`);
    const config = join(this.dir, `${pod.name}.haproxy.cfg`);
    const delayLua =
      spec.sidecarDelay === true ? join(this.dir, `${pod.name}.delay.lua`) : undefined;
    if (delayLua) writeFileSync(delayLua, SIDECAR_DELAY_LUA);
    writeFileSync(
      config,
      haproxyConfig({
        ports: DEFAULT_SIDECAR_PORTS,
        appPort: pod.port,
        statsSocket,
        ...user,
        threads,
        delayLua,
        inboundMode: spec.sidecarMode,
        link: this.link(spec.sidecarLink),
        plaintextInbound: spec.sidecarPlaintextInbound,
      }),
    );
    const child = spawnInNetns(
      this.ledger,
      pod.netns,
      `haproxy of ${pod.name}`,
      'haproxy',
      ['-db', '-f', config],
      join(this.dir, `${pod.name}.haproxy.log`),
    );
    pod.sidecarPid = child.pid;
    pod.statsSocket = statsSocket;
    if (spec.sidecarCpuLimit) {
      pod.sidecarCgroup = createCpuLimitedGroup(
        this.ledger,
        `tollgate-lab-${this.id}-${pod.name}`,
        spec.sidecarCpuLimit,
      );
      // `ip netns exec` execs haproxy in place, so the pid is haproxy's.
      pod.sidecarCgroup.add(child.pid!);
    }
    await waitFor(() => readHaproxyStats(statsSocket, 500), `haproxy of ${pod.name}`);
    for (const rule of meshRules(pod.port, DEFAULT_SIDECAR_PORTS, user.uid))
      runIn(pod.netns, 'iptables', rule);
  }

  private link(protocol: PodSpec['sidecarLink']): SidecarLink | undefined {
    if (protocol !== 'tls' && protocol !== 'h2-tls') return protocol && { protocol };
    return { protocol, ...this.identity() };
  }

  private identity(): MeshIdentity {
    this.meshIdentity ??= createMeshIdentity(this.dir);
    return this.meshIdentity;
  }

  private ambientMesh(): AmbientMesh {
    if (this.options.wiring === 'veth-pair')
      throw new LabError('ambient mode needs the bridge: the node proxy is a pod of its own');
    this.ambient ??= new AmbientMesh({
      ledger: this.ledger,
      id: this.id,
      nodeNamespace: this.nodeNamespace,
      dir: this.dir,
      pods: this.pods,
      haproxy: haproxyUser(),
      nodeProxyThreads: this.options.nodeProxyThreads ?? 2,
      identity: () => this.identity(),
    });
    return this.ambient;
  }

  private async startApp(spec: PodSpec): Promise<void> {
    const pod = this.pod(spec.name);
    const config: AppConfig = {
      service: spec.service,
      pod: spec.name,
      port: pod.port,
      serviceTimeMs: spec.serviceTimeMs ?? 0,
      downstream: (spec.calls ?? []).map((service) => ({
        service,
        urls: this.serviceUrls(service),
      })),
      controlSocket: join(this.dir, `${spec.name}.app.sock`),
    };
    const child = spawnInNetns(
      this.ledger,
      pod.netns,
      `app of ${spec.name}`,
      process.execPath,
      [...nodeEntry(import.meta.url, 'app-server'), JSON.stringify(config)],
      join(this.dir, `${spec.name}.app.log`),
    );
    pod.appPid = child.pid;
    pod.controlSocket = config.controlSocket;
    await waitForLine(child, /^ready /, `app of ${spec.name}`);
  }
}

function haproxyUser(): { uid: number; gid: number } {
  const user = lookupUser(readFileSync('/etc/passwd', 'utf8'), 'haproxy');
  if (!user) throw new LabError("user 'haproxy' not found: install Debian's haproxy package");
  return user;
}

const SIDECAR_OPTIONS = [
  'sidecarDelay',
  'sidecarMode',
  'sidecarCpuLimit',
  'sidecarLink',
  'sidecarPlaintextInbound',
] as const;

function validateSpecs(specs: readonly PodSpec[]): void {
  const names = new Set<string>();
  for (const spec of specs) {
    if (!POD_NAME.test(spec.name))
      throw new LabError(`pod name '${spec.name}' must match ${POD_NAME}`);
    if (isMeshPod(spec.name))
      throw new LabError(`pod name '${spec.name}' is reserved for the ambient mesh's own pods`);
    if (spec.waypoint && spec.mesh !== 'ambient')
      throw new LabError(`${spec.name}: only ambient pods have a waypoint`);
    if (spec.ambientNode !== undefined && spec.mesh !== 'ambient')
      throw new LabError(`${spec.name}: only ambient pods have an ambientNode`);
    if (spec.ambientNode !== undefined && !NODE_NAME.test(spec.ambientNode))
      throw new LabError(`${spec.name}: ambientNode '${spec.ambientNode}' must match ${NODE_NAME}`);
    if (spec.mesh && !spec.meshed) throw new LabError(`${spec.name}: mesh without meshed: true`);
    const sidecarOption = SIDECAR_OPTIONS.find((o) => spec[o] !== undefined);
    if (spec.mesh === 'ambient' && sidecarOption)
      throw new LabError(`${spec.name} is ambient: it has no sidecar for ${sidecarOption}`);
    if (spec.sidecarPlaintextInbound && spec.sidecarLink !== 'tls' && spec.sidecarLink !== 'h2-tls')
      throw new LabError(
        `${spec.name}: sidecarPlaintextInbound is for a sidecarLink of 'tls' or 'h2-tls'`,
      );
    if (names.has(spec.name)) throw new LabError(`two pods named ${spec.name}`);
    names.add(spec.name);
  }
  const services = new Set(specs.filter((s) => s.app !== false).map((s) => s.service));
  for (const spec of specs) {
    for (const called of spec.calls ?? []) {
      if (!services.has(called))
        throw new LabError(`${spec.name} calls ${called}, which no pod serves`);
    }
  }
}

function pairOf(names: readonly string[]): [string, string] {
  if (names.length !== 2) throw new LabError('a veth-pair lab has exactly two pods');
  return [names[0]!, names[1]!];
}

async function waitFor(
  probe: () => Promise<unknown>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await probe();
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new LabError(`${what} not ready: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
