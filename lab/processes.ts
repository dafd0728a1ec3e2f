// Processes named by (pid, start time), so that cleanup never signals a reused pid.
import { readFileSync } from 'node:fs';

export interface ProcessId {
  pid: number;
  /** Start time in clock ticks after boot, /proc/<pid>/stat field 22. */
  startTime: number;
}

/** The start time of a live process, or undefined when there is no such process. */
export function startTimeOf(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const value = Number(rest[19]);
  return Number.isFinite(value) ? value : undefined;
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
  return isAlive(process) && !isZombie(process.pid);
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

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}
