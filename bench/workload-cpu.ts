// The CPU a workload's processes spend, read from outside them: what Tollgate's kernel
// programs cost, counted as the workload pays it rather than as the kernel's bpf_stats
// counts the programs' run time (which leaves out the trampoline that calls them and
// anything they do to the caches the workload's own code then misses).
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Nanoseconds on a CPU of every thread of `pid` (each thread's schedstat, the scheduler's
 * own sum of run time, user and kernel alike); 0 once the process has gone. Not /proc's
 * stat (daemonset/proc-resources.ts): its ticks charge each 10 ms to whoever runs at the
 * tick, a sample, where a difference of a few percent is what is measured here.
 */
export function onCpuNs(pid: number, procRoot = '/proc'): number {
  let total = 0;
  let tasks: string[];
  try {
    tasks = readdirSync(`${procRoot}/${pid}/task`);
  } catch {
    return 0;
  }
  for (const tid of tasks) {
    try {
      total += Number(
        readFileSync(`${procRoot}/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0],
      );
    } catch {
      // The thread exited between the listing and the read: its time left with it.
    }
  }
  return total;
}

/**
 * The kernel's softirq threads (`ksoftirqd/N`): where a loaded machine's packet receive
 * work goes when it is not done in the sending task's context, Tollgate's arrival
 * program with it.
 */
export function softirqThreads(procRoot = '/proc'): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`${procRoot}/${entry}/comm`, 'utf8').startsWith('ksoftirqd/'))
        pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** The summed on-CPU time of `pids`, ns: read before and after a phase, the difference. */
export function cpuOfNs(pids: readonly number[], procRoot = '/proc'): number {
  return pids.reduce((n, pid) => n + onCpuNs(pid, procRoot), 0);
}
