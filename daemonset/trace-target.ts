// Turns a trace target (the pods the running sessions select) into this node's kernel
// filter: the network namespaces of the selected pods. The agent asks again every
// interval, so a pod that starts during a session is traced from its next interval.
//
// Why network namespaces: every container of a pod shares one, and the kernel programs
// can read it for any socket, in or out of process context. A selected process in the
// host's namespace (a hostNetwork pod, or the host itself) puts the host's namespace in
// the filter: more is traced than asked for, never less, and the collector filters a
// session's results by its own target anyway.
import { readdirSync, statSync } from 'node:fs';
import type { KernelFilterSpec } from '../probes/probe-source.js';
import type { SessionTarget } from '../proto/gen/tollgate/v1.js';
import { type CompiledTarget, compileTarget, unionOfTargets } from '../proto/target.js';
import type { Identity } from './identity/resolver.js';

export interface TraceTargetOptions {
  procRoot?: string;
  resolve(pid: number): Identity | undefined;
}

export class TraceTarget {
  private target: CompiledTarget = unionOfTargets([]);
  private generation = -1;
  private readonly hostNetns: number;

  constructor(private readonly options: TraceTargetOptions) {
    this.hostNetns = inodeOf(`${options.procRoot ?? '/proc'}/1/ns/net`);
  }

  /** Takes a newer target; false for an older or repeated one (streams can reorder). */
  set(selections: readonly SessionTarget[], generation: number): boolean {
    if (generation <= this.generation) return false;
    this.generation = generation;
    this.target = unionOfTargets(selections.map((s) => compileTarget(s)));
    return true;
  }

  get everything(): boolean {
    return this.target.everything;
  }

  /** The filter for now: every namespace holding a selected process, sorted. */
  choose(): KernelFilterSpec {
    if (this.target.everything) return { all: true };
    const procRoot = this.options.procRoot ?? '/proc';
    const byNetns = new Map<number, number[]>();
    let entries: string[] = [];
    try {
      entries = readdirSync(procRoot).filter((e) => /^\d+$/.test(e));
    } catch {}
    for (const entry of entries) {
      const inode = inodeOf(`${procRoot}/${entry}/ns/net`);
      if (inode === 0) continue;
      const pids = byNetns.get(inode) ?? [];
      pids.push(Number(entry));
      byNetns.set(inode, pids);
    }
    const chosen: number[] = [];
    const selected = (identity: Identity | undefined) => {
      const pod = identity?.pod;
      return (
        pod != null &&
        this.target.matches({
          namespace: pod.namespace ?? '',
          name: pod.name ?? '',
          labels: (pod.labels ?? {}) as Record<string, string>,
        })
      );
    };
    for (const [inode, pids] of byNetns) {
      if (inode === this.hostNetns) {
        // hostNetwork pods and the host itself share this namespace: ask each process.
        if (pids.some((pid) => selected(this.options.resolve(pid)))) chosen.push(inode);
        continue;
      }
      // A pod's processes share its namespace: the first one still alive answers for all.
      for (const pid of pids) {
        const identity = this.options.resolve(pid);
        if (!identity) continue;
        if (selected(identity)) chosen.push(inode);
        break;
      }
    }
    return { all: false, netnsInodes: chosen.sort((a, b) => a - b) };
  }
}

function inodeOf(path: string): number {
  try {
    return statSync(path).ino;
  } catch {
    return 0;
  }
}
