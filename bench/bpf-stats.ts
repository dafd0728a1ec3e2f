// The kernel's accounting of BPF programs, as the benchmarks use it: the bpf_stats sysctl
// (set for a benchmark's run and put back after) and the programs of ours now loaded.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { statFields } from '../daemonset/proc-resources.js';

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

export interface ProgStats {
  id: number;
  name?: string;
  run_cnt?: number;
  run_time_ns?: number;
}

/** Runs `fn` with kernel.bpf_stats_enabled set to `enabled`, then restores what it was. */
export async function withBpfStatsSysctl<T>(enabled: boolean, fn: () => Promise<T>): Promise<T> {
  const before = readFileSync(STATS_SYSCTL, 'utf8').trim();
  writeFileSync(STATS_SYSCTL, enabled ? '1' : '0');
  try {
    return await fn();
  } finally {
    writeFileSync(STATS_SYSCTL, before);
  }
}

/** The programs loaded in the kernel now whose name starts with `prefix`, with their run counters. */
export function programsNamed(prefix: string): ProgStats[] {
  const all = JSON.parse(
    execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8' }),
  ) as ProgStats[];
  return all.filter((p) => p.name?.startsWith(prefix));
}

/** Entries in the map of that name now, as bpftool lists them (0 when there is none). */
export function mapEntries(name: string): number {
  const dump = JSON.parse(
    execFileSync('bpftool', ['map', 'dump', 'name', name, '--json'], {
      encoding: 'utf8',
      maxBuffer: 256 * 2 ** 20,
    }),
  ) as unknown[];
  return dump.length;
}

/**
 * The program on the scheduler's context switches (probes/src/neighbours.bpf.h): its time
 * is Tollgate's cost like any other's, but its runs are no socket events, so a figure per
 * event counts its time and not its runs.
 */
export const CONTEXT_SWITCH_PROGRAM = 'tg_switch';

/** A program's runs as events of a figure per event: all but the context switch's. */
export const eventsOf = (name: string | undefined, runs: number): number =>
  name === CONTEXT_SWITCH_PROGRAM ? 0 : runs;

/** Tollgate's programs (named tg_*) loaded in the kernel now, with their run counters. */
export function tollgatePrograms(): ProgStats[] {
  return programsNamed('tg_');
}

/** A program's runs and its run time, ns, as the kernel counts them while bpf_stats is on. */
export interface RunCost {
  runs: number;
  ns: number;
}

/** Adds `cost` into `into` under `name`. */
export function addRunCost(into: Map<string, RunCost>, name: string, cost: RunCost): void {
  const t = into.get(name) ?? { runs: 0, ns: 0 };
  into.set(name, { runs: t.runs + cost.runs, ns: t.ns + cost.ns });
}

/**
 * The runs and run time of the programs loaded now whose name starts with `prefix`, by
 * name, read from the kernel itself (bpftool): fresh at the moment of the call, where an
 * agent's own report is its runner's last reading, up to an interval old. Programs of one
 * name are summed (one variant of each hook is loaded, so one in practice).
 */
export function programCosts(prefix: string): Map<string, RunCost> {
  const byName = new Map<string, RunCost>();
  for (const p of programsNamed(prefix))
    addRunCost(byName, p.name!, { runs: p.run_cnt ?? 0, ns: p.run_time_ns ?? 0 });
  return byName;
}

/** Each program's runs and time between two readings of programCosts, by name. */
export function costDeltas(
  before: Map<string, RunCost>,
  after: Map<string, RunCost>,
): Map<string, RunCost> {
  const deltas = new Map<string, RunCost>();
  for (const [name, t] of after) {
    const b = before.get(name);
    deltas.set(name, { runs: t.runs - (b?.runs ?? 0), ns: t.ns - (b?.ns ?? 0) });
  }
  return deltas;
}

/** The socket events and the run time of a set of programs: every program's runs but the
 * context switch's (eventsOf), every program's time. */
export function eventTotals(costs: Map<string, RunCost>): RunCost {
  let runs = 0;
  let ns = 0;
  for (const [name, c] of costs) {
    runs += eventsOf(name, c.runs);
    ns += c.ns;
  }
  return { runs, ns };
}

/**
 * The BPF maps a process holds open (the runner holds every map of ours) and the memory
 * the kernel charges for each, from the `map_id` and `memlock` lines of its fdinfo.
 */
export function bpfMapsOf(pid: number): { id: number; bytes: number }[] {
  const maps: { id: number; bytes: number }[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed since the listing
    }
    const id = /^map_id:\s+(\d+)$/m.exec(info);
    const memlock = /^memlock:\s+(\d+)$/m.exec(info);
    if (id && memlock) maps.push({ id: Number(id[1]), bytes: Number(memlock[1]) });
  }
  return maps;
}

/** Pids whose parent is `pid`, from /proc. */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(statFields(stat)[1]) === pid) children.push(Number(entry));
    } catch {}
  }
  return children;
}
