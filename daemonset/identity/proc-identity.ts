// Who a pid is, read from /proc: comm, exe, cmdline, start time, cgroup and network
// namespace. Everything here is untrusted text chosen by the process itself; it is
// truncated to bounds and otherwise passed on verbatim, never interpreted.
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { statFields } from '../proc-resources.js';
import { type CgroupIdentity, parseCgroup } from './cgroup.js';

export const LIMITS = { comm: 64, exe: 1024, arg: 1024, args: 64 } as const;

export interface ProcFacts {
  pid: number;
  startTimeTicks: number;
  comm: string;
  exe: string;
  cmdline: string[];
  cgroup: CgroupIdentity;
  netnsInode: number;
}

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);

/** The command line as its arguments, bounded in count and length. */
export function parseCmdline(raw: string): string[] {
  const args = raw.split('\0');
  if (args[args.length - 1] === '') args.pop();
  return args.slice(0, LIMITS.args).map((a) => clip(a, LIMITS.arg));
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * A process's start time (clock ticks since boot): with its pid, what tells it from a
 * later process given the same pid. Undefined once it has exited.
 */
export function readStartTimeTicks(pid: number, procRoot = '/proc'): number | undefined {
  const stat = read(`${procRoot}/${pid}/stat`);
  if (stat === undefined) return undefined;
  const start = Number(statFields(stat)[19]);
  return Number.isSafeInteger(start) ? start : undefined;
}

/** The process's facts, or undefined once it has exited. */
export function readProcFacts(pid: number, procRoot = '/proc'): ProcFacts | undefined {
  const stat = read(`${procRoot}/${pid}/stat`);
  if (stat === undefined) return undefined;
  const startTimeTicks = Number(statFields(stat)[19]);
  let exe = '';
  try {
    exe = readlinkSync(`${procRoot}/${pid}/exe`);
  } catch {
    // Kernel threads and processes we may not ptrace have none readable.
  }
  let netnsInode = 0;
  try {
    netnsInode = statSync(`${procRoot}/${pid}/ns/net`).ino;
  } catch {}
  return {
    pid,
    startTimeTicks: Number.isSafeInteger(startTimeTicks) ? startTimeTicks : 0,
    comm: clip((read(`${procRoot}/${pid}/comm`) ?? '').replace(/\n$/, ''), LIMITS.comm),
    exe: clip(exe, LIMITS.exe),
    cmdline: parseCmdline(read(`${procRoot}/${pid}/cmdline`) ?? ''),
    cgroup: parseCgroup(read(`${procRoot}/${pid}/cgroup`) ?? ''),
    netnsInode,
  };
}

/** Where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup, or .../unified on a hybrid host. */
export function unifiedCgroupRoot(sysCgroup = '/sys/fs/cgroup'): string {
  try {
    statSync(`${sysCgroup}/cgroup.controllers`);
    return sysCgroup;
  } catch {
    return `${sysCgroup}/unified`;
  }
}

let detectedRoot: string | undefined;

/** The cgroup v2 id (the directory's inode) of a unified path, or 0 without cgroup2. */
export function cgroupId(unifiedPath: string, cgroupRoot?: string): number {
  if (!unifiedPath) return 0;
  cgroupRoot ??= detectedRoot ??= unifiedCgroupRoot();
  try {
    const st = statSync(`${cgroupRoot}${unifiedPath}`);
    return st.isDirectory() ? st.ino : 0;
  } catch {
    return 0;
  }
}
