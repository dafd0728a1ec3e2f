// The ambient lab's node proxy, running: one haproxy in master-worker mode, started in a
// pod of its own (its own network namespace and cgroup, as ztunnel runs in its DaemonSet
// pod), whose worker holds listening sockets inside the namespace of every enrolled pod
// of its node (configuration: lab/node-proxy-config.ts). Enrolling pods rewrites the configuration
// and reloads it gracefully. The master and every worker are in the lab's ledger.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CpuLimitedGroup } from './cpu-limit.js';
import { run } from './exec.js';
import { haproxyCommand } from './haproxy-stats.js';
import type { Ledger } from './ledger.js';
import type { MeshIdentity } from './mesh-identity.js';
import {
  type EnrolledPod,
  type NodeProxyStatRow,
  nodeProxyConfig,
  parseNodeProxyStat,
} from './node-proxy-config.js';
import { identify, type ProcessId, signal } from './processes.js';
import { spawnInNetns } from './spawn.js';

export interface NodeProxyPlace {
  ledger: Ledger;
  /** Its files' names in `dir` start with this: one per node proxy of the lab. */
  files: string;
  /** Where its configuration, stats socket and log go (the lab's folder). */
  dir: string;
  /** The network namespace of its own pod. */
  netns: string;
  /** Its own cgroup: the master joins it before it starts, so every worker is born in it. */
  cgroup: CpuLimitedGroup;
  gid: number;
  threads: number;
  identity: MeshIdentity;
  /** The waypoint's address, when the lab has one (see EnrolledPod.viaWaypoint). */
  waypoint?: string;
}

/** Where the node proxy is, for those who look at it from outside (Lab.nodeProxyProcess). */
export interface NodeProxyProcess {
  /** The network namespace of its own pod, where the process lives. */
  netns: string;
  /** The master: it never serves traffic, and keeps its pid across reloads. */
  masterPid: number;
  /**
   * The worker, which owns the listening sockets in every enrolled pod and the
   * connections accepted since the last reload. Its pid changes with every reload.
   */
  workerPid: number;
  /** Its cgroup's directory. */
  cgroup: string;
  statsSocket: string;
}

const READY_TIMEOUT_MS = 10_000;

export class NodeProxy {
  private constructor(
    private readonly place: NodeProxyPlace,
    private readonly master: ProcessId,
    private worker: number,
  ) {}

  /**
   * Starts it serving `pods` (its node's) and routing to `routed` (every enrolled pod);
   * resolves once its worker answers on the stats socket.
   */
  static async start(
    place: NodeProxyPlace,
    pods: readonly EnrolledPod[],
    routed: readonly EnrolledPod[],
  ): Promise<NodeProxy> {
    const config = writeChecked(place, pods, routed);
    const child = spawnInNetns(
      place.ledger,
      place.netns,
      'node proxy (haproxy master)',
      'haproxy',
      ['-W', '-f', config],
      logPath(place),
      join(place.cgroup.path, 'cgroup.procs'),
    );
    const master = identify(child.pid!);
    if (!master) throw new Error(`node proxy exited at once; see ${logPath(place)}`);
    const proxy = new NodeProxy(place, master, 0);
    proxy.worker = await proxy.waitForWorker(undefined);
    return proxy;
  }

  /** See NodeProxyProcess.workerPid. */
  get workerPid(): number {
    return this.worker;
  }

  describe(): NodeProxyProcess {
    return {
      netns: this.place.netns,
      masterPid: this.master.pid,
      workerPid: this.worker,
      cgroup: this.place.cgroup.path,
      statsSocket: statsSocketPath(this.place),
    };
  }

  /**
   * Serves exactly `pods` and routes to `routed` from now on: a graceful reload. On SIGUSR2 the master
   * re-executes itself (same pid), reads the new configuration, takes the listening
   * sockets over from the current worker through their socketpair (`-x sockpair@…`), binds
   * the new ones, and forks a new worker (a new pid). The listening sockets are the same
   * ones, so no connection waiting to be accepted is lost. The old worker stops accepting
   * and keeps serving the connections it has until each closes, then exits; its counters
   * go with it, and the new worker's start at zero.
   */
  async reload(pods: readonly EnrolledPod[], routed: readonly EnrolledPod[]): Promise<void> {
    writeChecked(this.place, pods, routed);
    const before = this.worker;
    if (!signal(this.master, 'SIGUSR2'))
      throw new Error(`node proxy master ${this.master.pid} is gone; see ${logPath(this.place)}`);
    this.worker = await this.waitForWorker(before);
  }

  /**
   * The end of its log: the master's notices and, one line each, the connections that
   * ended in an error (node-proxy-config.ts), for a test's failure message.
   */
  logTail(chars: number): string {
    const path = logPath(this.place);
    return existsSync(path) ? readFileSync(path, 'utf8').slice(-chars) : '(none)';
  }

  /** Its own counters, per listener and backend (names: nodeProxyNames). */
  async stats(): Promise<NodeProxyStatRow[]> {
    return parseNodeProxyStat(await haproxyCommand(statsSocketPath(this.place), 'show stat\n'));
  }

  /**
   * Waits until the stats socket is answered by a worker other than `previous`, records
   * that worker in the ledger and returns its pid.
   */
  private async waitForWorker(previous: number | undefined): Promise<number> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = 'no answer';
    for (;;) {
      try {
        const pid = Number(
          /^Pid: (\d+)$/m.exec(
            await haproxyCommand(statsSocketPath(this.place), 'show info\n', 500),
          )?.[1],
        );
        if (pid > 0 && pid !== previous) {
          this.place.ledger.recordProcess(pid, 'node proxy (haproxy worker)');
          return pid;
        }
        last = `still worker ${pid}`;
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > deadline)
        throw new Error(`node proxy worker not ready (${last}); see ${logPath(this.place)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * Writes the configuration for `pods` where haproxy reads it, once haproxy's own check
 * passed: a configuration it would refuse never replaces the running one's file.
 */
function writeChecked(
  place: NodeProxyPlace,
  pods: readonly EnrolledPod[],
  routed: readonly EnrolledPod[],
): string {
  const config = join(place.dir, `${place.files}.haproxy.cfg`);
  const next = `${config}.next`;
  writeFileSync(
    next,
    nodeProxyConfig({
      pods,
      routed,
      statsSocket: statsSocketPath(place),
      gid: place.gid,
      threads: place.threads,
      ...place.identity,
      waypoint: place.waypoint,
    }),
  );
  run('haproxy', ['-c', '-q', '-f', next]);
  renameSync(next, config);
  return config;
}

const statsSocketPath = (place: NodeProxyPlace) => join(place.dir, `${place.files}.haproxy.sock`);
const logPath = (place: NodeProxyPlace) => join(place.dir, `${place.files}.haproxy.log`);
