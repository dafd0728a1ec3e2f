// CPU and resident memory of a process from /proc, as the agent samples sidecars and apps.
// The parsers are pure; readProcessResources does the I/O.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcessResources {
  cpuUserNs: number;
  cpuSystemNs: number;
  rssBytes: number;
}

/**
 * The fields of /proc/<pid>/stat after comm: element 0 is field 3 (state). comm may hold
 * spaces and ')' (it is the process's own choice), so fields are counted after the last ')'.
 */
export function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** utime and stime (fields 14 and 15 of /proc/<pid>/stat) in clock ticks. */
export function parseStatCpuTicks(stat: string): { user: number; system: number } {
  const fields = statFields(stat);
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  if (!Number.isFinite(user) || !Number.isFinite(system))
    throw new Error('malformed /proc/<pid>/stat');
  return { user, system };
}

/** VmRSS of /proc/<pid>/status in bytes (0 for kernel threads, which have none). */
export function parseStatusRss(status: string): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/** VmHWM of /proc/<pid>/status (the most it was ever resident) in bytes; 0 when absent. */
export function parseStatusPeakRss(status: string): number {
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/** The process's peak resident bytes so far, or undefined when it has exited. */
export function readPeakRss(pid: number, procRoot = '/proc'): number | undefined {
  try {
    return parseStatusPeakRss(readFileSync(`${procRoot}/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

let ticksPerSecond: number | undefined;

export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond =
        Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * Now, in the ticks since boot that /proc/<pid>/stat gives a process's start time in (from
 * /proc/uptime), or undefined where it cannot be read.
 */
export function readUptimeTicks(procRoot = '/proc'): number | undefined {
  try {
    const seconds = Number(readFileSync(`${procRoot}/uptime`, 'utf8').split(' ')[0]);
    return Number.isFinite(seconds) ? Math.floor(seconds * clockTicksPerSecond()) : undefined;
  } catch {
    return undefined;
  }
}

/** The process's resources now, or undefined when it has exited. */
export function readProcessResources(
  pid: number,
  procRoot = '/proc',
): ProcessResources | undefined {
  try {
    const ticks = parseStatCpuTicks(readFileSync(`${procRoot}/${pid}/stat`, 'utf8'));
    const nsPerTick = 1e9 / clockTicksPerSecond();
    return {
      cpuUserNs: ticks.user * nsPerTick,
      cpuSystemNs: ticks.system * nsPerTick,
      rssBytes: parseStatusRss(readFileSync(`${procRoot}/${pid}/status`, 'utf8')),
    };
  } catch {
    return undefined;
  }
}
