// The kernel's accounting of BPF programs, as the benchmarks use it: the bpf_stats sysctl
// (set for a benchmark's run and put back after) and the programs of ours now loaded.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

export interface ProgStats {
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

/** Tollgate's programs (named tg_*) loaded in the kernel now, with their run counters. */
export function tollgatePrograms(): ProgStats[] {
  const all = JSON.parse(
    execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8' }),
  ) as ProgStats[];
  return all.filter((p) => p.name?.startsWith('tg_'));
}
