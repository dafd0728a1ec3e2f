// Processes named by (pid, start time), so that cleanup never signals a reused pid.
import { readFileSync } from 'node:fs';
import { statFields } from '../daemonset/proc-resources.js';

export interface ProcessId {
  pid: number;
  /** Start time in clock ticks after boot, /proc/<pid>/stat field 22. */
  startTime: number;
}

/** State (field 3) and start time (field 22) of a process, or undefined when there is none. */
function readStat(pid: number): { state: string; startTime: number } | undefined {
  let fields: string[];
  try {
    fields = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
  const startTime = Number(fields[19]);
  return Number.isFinite(startTime) ? { state: fields[0] ?? '', startTime } : undefined;
}

/** The start time of a live process, or undefined when there is no such process. */
export function startTimeOf(pid: number): number | undefined {
  return readStat(pid)?.startTime;
}

export function identify(pid: number): ProcessId | undefined {
  const startTime = startTimeOf(pid);
  return startTime === undefined ? undefined : { pid, startTime };
}

export function isAlive(process: ProcessId): boolean {
  return startTimeOf(process.pid) === process.startTime;
}

/** Alive and not a zombie: a zombie has exited and only waits for its parent. */
export function isRunning(process: ProcessId): boolean {
  const stat = readStat(process.pid);
  return stat !== undefined && stat.startTime === process.startTime && stat.state !== 'Z';
}

/** Signals a process only if it is still the one we started. */
export function signal(process: ProcessId, name: NodeJS.Signals): boolean {
  if (!isAlive(process)) return false;
  try {
    globalThis.process.kill(process.pid, name);
    return true;
  } catch {
    return false;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * SIGTERM, then SIGKILL for those still alive after graceMs. Synchronous, so it also
 * works from an exit handler. Zombies of our own children count as gone.
 */
export function terminate(processes: readonly ProcessId[], graceMs = 2000): void {
  const alive = processes.filter((p) => signal(p, 'SIGTERM'));
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && alive.some(isRunning)) sleepSync(20);
  for (const p of alive) if (isRunning(p)) signal(p, 'SIGKILL');
}
