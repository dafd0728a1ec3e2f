// Starting the lab's long-running processes inside pod namespaces, recorded in the ledger.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Ledger } from './ledger.js';

/**
 * node arguments that run a sibling module of `moduleUrl`: the .ts source through tsx
 * when we run from source, the compiled .js otherwise.
 */
export function nodeEntry(moduleUrl: string, name: string): string[] {
  const fromSource = moduleUrl.endsWith('.ts');
  const file = fileURLToPath(new URL(`./${name}.${fromSource ? 'ts' : 'js'}`, moduleUrl));
  // tsx's loader by absolute URL: the child's working directory does not matter.
  return fromSource ? ['--import', import.meta.resolve('tsx'), file] : [file];
}

/**
 * Spawns `command` in a network namespace (ip netns exec keeps the pid), stderr to logPath.
 * With cgroupProcs (a cgroup's cgroup.procs file), the process joins that cgroup before
 * it runs, so what it forks at once is born there too: a shell writes its own pid, which
 * `ip netns exec` and the command keep, then execs. Before `ip netns exec`, which mounts a
 * sysfs of the namespace's own, where the cgroup files are not.
 */
export function spawnInNetns(
  ledger: Ledger,
  netns: string,
  what: string,
  command: string,
  args: readonly string[],
  logPath: string,
  cgroupProcs?: string,
): ChildProcess {
  const log = openSync(logPath, 'a');
  const inNetns = ['ip', 'netns', 'exec', netns, command, ...args];
  const argv = cgroupProcs
    ? ['sh', '-c', 'echo $$ > "$0" && exec "$@"', cgroupProcs, ...inNetns]
    : inNetns;
  try {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', log] });
    if (child.pid === undefined) throw new Error(`could not start ${what} in ${netns}`);
    ledger.recordProcess(child.pid, what);
    return child;
  } finally {
    closeSync(log);
  }
}

/** Resolves with the first stdout line matching pattern; rejects on exit or timeout. */
export function waitForLine(
  child: ChildProcess,
  pattern: RegExp,
  what: string,
  timeoutMs = 10_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(
      () => finish(new Error(`${what} not ready after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const line = buffered.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) finish(undefined, line);
    };
    const onExit = (code: number | null) =>
      finish(new Error(`${what} exited (code ${code}) before it was ready`));
    function finish(error?: Error, line?: string) {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('close', onExit);
      if (error) reject(error);
      else resolve(line!);
    }
    child.stdout?.on('data', onData);
    // 'close', not 'exit': a line printed just before exiting is still read.
    child.on('close', onExit);
  });
}
