// The floor's programs (probes/src/floor.bpf.c): programs on Tollgate's send, receive and
// arrival hooks that do nothing, or only read the clock, held attached by their own loader
// while a benchmark's phase runs. `bench probes` and `bench overhead` read their cost
// beside Tollgate's, as the least any program there, or any probe that stamps its events,
// could cost.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { waitForLine } from '../lab/spawn.js';
import { builtProbe } from '../probes/probe-source.js';

const FLOOR_LOADER = builtProbe('tollgate-floor');

export type FloorPrograms = 'empty' | 'clock';

/** The name prefix of each set's programs, as the kernel lists them. */
export const FLOOR_PREFIX: Record<FloorPrograms, string> = { empty: 'floor_', clock: 'clock_' };

/** Whether the floor's loader is built (the setup builds it; the benches go on without). */
export function floorBuilt(): boolean {
  return existsSync(FLOOR_LOADER);
}

/** Runs `fn` with one set of the floor's programs attached, and detaches them after it. */
export async function withFloorPrograms<T>(which: FloorPrograms, fn: () => Promise<T>): Promise<T> {
  const loader = spawn(FLOOR_LOADER, which === 'clock' ? ['clocked'] : [], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  try {
    await waitForLine(loader, /^attached$/, `the floor's ${which} programs`);
    return await fn();
  } finally {
    // The loader holds them until its stdin closes.
    loader.stdin!.end();
    await new Promise((resolve) => {
      if (loader.exitCode !== null) resolve(undefined);
      else loader.once('exit', resolve);
    });
  }
}
