// The record of everything a lab creates: network namespaces, processes, cgroups, files. Each
// entry is written to a state file *before* the thing is created, so a lab that dies
// (even by SIGKILL) leaves a record from which the next lab removes its leftovers.
// Teardown removes by recorded id only: namespace names, (pid, start time), cgroup paths,
// paths.
import { mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, tryRun } from './exec.js';
import { identify, isAlive, isRunning, type ProcessId, terminate } from './processes.js';

export const LAB_STATE_DIR = '/run/tollgate-lab';

/** Lab namespace names: `tg` + 6 hex digits of the lab id + `-` + role. */
export const NAMESPACE_PATTERN = /^tg[0-9a-f]{6}-[a-z0-9-]+$/;

interface LedgerState {
  id: string;
  owner: ProcessId;
  namespaces: string[];
  processes: (ProcessId & { what: string })[];
  /** cgroup directories; absent in state files written before labs made any. */
  cgroups?: string[];
  paths: string[];
}

export class Ledger {
  private constructor(
    private readonly state: LedgerState,
    private readonly stateFile: string,
  ) {}

  static create(id: string, stateDir = LAB_STATE_DIR): Ledger {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const owner = identify(process.pid);
    if (!owner) throw new Error('cannot read our own /proc entry');
    const ledger = new Ledger(
      { id, owner, namespaces: [], processes: [], cgroups: [], paths: [] },
      join(stateDir, `${id}.json`),
    );
    ledger.persist();
    return ledger;
  }

  get id(): string {
    return this.state.id;
  }

  /** Call before `ip netns add`. */
  recordNamespace(name: string): void {
    this.state.namespaces.push(name);
    this.persist();
  }

  /** Call right after the spawn; the pid is only known then. */
  recordProcess(pid: number, what: string): void {
    const id = identify(pid);
    if (id) this.state.processes.push({ ...id, what });
    this.persist();
  }

  /** Call before mkdir of the cgroup. */
  recordCgroup(path: string): void {
    this.state.cgroups = [...(this.state.cgroups ?? []), path];
    this.persist();
  }

  /** Call before creating the file or folder. */
  recordPath(path: string): void {
    this.state.paths.push(path);
    this.persist();
  }

  /**
   * Removes everything recorded: processes, then cgroups (only empty ones can go), then
   * namespaces, then files. Never throws.
   */
  teardown(): string[] {
    const problems: string[] = [];
    terminate(this.state.processes);
    for (const p of this.state.processes) {
      if (isRunning(p)) problems.push(`process ${p.pid} (${p.what}) survived SIGKILL`);
    }
    for (const path of [...(this.state.cgroups ?? [])].reverse()) {
      const error = removeCgroup(path);
      if (error) problems.push(`cgroup ${path}: ${error}`);
    }
    for (const name of [...this.state.namespaces].reverse()) {
      const error = namespaceExists(name) ? tryRun('ip', ['netns', 'delete', name]) : undefined;
      if (error) problems.push(error);
    }
    for (const path of [...this.state.paths].reverse())
      rmSync(path, { recursive: true, force: true });
    rmSync(this.stateFile, { force: true });
    return problems;
  }

  private persist(): void {
    writeFileSync(this.stateFile, JSON.stringify(this.state, null, 2));
  }

  /**
   * Removes what dead labs left behind: labs whose owner process is gone, and lab-named
   * namespaces that no live lab records (their processes found with `ip netns pids`).
   * Returns the ids and names removed.
   */
  static reapStale(stateDir = LAB_STATE_DIR): string[] {
    const reaped: string[] = [];
    const liveNamespaces = new Set<string>();
    let files: string[] = [];
    try {
      files = readdirSync(stateDir).filter((f) => f.endsWith('.json'));
    } catch {
      // No state directory: no lab ever ran here.
    }
    for (const file of files) {
      const path = join(stateDir, file);
      let state: LedgerState;
      try {
        state = JSON.parse(readFileSync(path, 'utf8')) as LedgerState;
      } catch {
        rmSync(path, { force: true });
        continue;
      }
      if (isAlive(state.owner)) {
        for (const ns of state.namespaces) liveNamespaces.add(ns);
        continue;
      }
      new Ledger(state, path).teardown();
      reaped.push(state.id);
    }
    for (const ns of listNamespaces()) {
      if (!NAMESPACE_PATTERN.test(ns) || liveNamespaces.has(ns)) continue;
      const pids = namespacePids(ns)
        .map(identify)
        .filter((p): p is ProcessId => p !== undefined);
      terminate(pids);
      tryRun('ip', ['netns', 'delete', ns]);
      reaped.push(ns);
    }
    return reaped;
  }
}

/**
 * rmdir, as a cgroup's files cannot be unlinked; it fails while a task is still inside,
 * which a process killed a moment ago can be for a short while (EBUSY): retried for 1 s.
 */
function removeCgroup(path: string): string | undefined {
  const deadline = Date.now() + 1000;
  for (;;) {
    try {
      rmdirSync(path);
      return undefined;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      if (code !== 'EBUSY' || Date.now() > deadline) return (error as Error).message;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

export function listNamespaces(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

function namespaceExists(name: string): boolean {
  return listNamespaces().includes(name);
}

function namespacePids(name: string): number[] {
  try {
    return run('ip', ['netns', 'pids', name]).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
