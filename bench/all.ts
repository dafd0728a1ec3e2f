// `tollgate bench all` (`npm run bench`): every benchmark in turn, one after another so
// none disturbs another, into bench/results/latest.json with the machine it ran on. A
// benchmark that fails is recorded with its error and the others still run.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../cli/package-root.js';
import { benchAccuracy } from './accuracy.js';
import { benchChaos } from './chaos.js';
import { benchIngest } from './ingest.js';
import { benchOverhead } from './overhead.js';
import { benchProbes } from './probes.js';
import type { BenchReport, MachineDescription } from './results-table.js';
import { benchScale } from './scale.js';
import { benchUi } from './ui.js';

export const ALL_BENCHMARKS = [
  'probes',
  'overhead',
  'accuracy',
  'ingest',
  'ui',
  'chaos',
  'scale',
] as const;

export function describeMachine(): MachineDescription {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memory_gb: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.versions.node,
  };
}

function commit(root: string): string | null {
  try {
    return execFileSync('git', ['-C', root, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

export async function benchAll(
  log: (line: string) => void,
): Promise<{ report: BenchReport; path: string }> {
  const run: Record<(typeof ALL_BENCHMARKS)[number], () => Promise<object>> = {
    probes: () => benchProbes(),
    overhead: () => benchOverhead(undefined, log),
    accuracy: () => benchAccuracy(undefined, log),
    ingest: () => benchIngest(),
    ui: () => benchUi(),
    chaos: () => benchChaos(undefined, log),
    scale: () => benchScale(undefined, log),
  };
  const root = packageRoot(import.meta.url);
  if (!root) throw new Error('bench all runs from the repository');
  const report: BenchReport = {
    ran_at: new Date().toISOString(),
    commit: commit(root),
    machine: describeMachine(),
    results: {},
  };
  for (const name of ALL_BENCHMARKS) {
    log(`${name}: running`);
    try {
      report.results[name] = { ...(await run[name]()) };
    } catch (error) {
      log(`${name}: failed: ${(error as Error).message}`);
      report.results[name] = { error: (error as Error).message };
    }
  }
  const dir = join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'latest.json');
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  return { report, path };
}
