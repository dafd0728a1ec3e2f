// A collector holding two stopped sessions of the shop in mode-batches.ts, both targeting
// namespace "shop": "sidecars" over INTERVALS intervals in sidecar mode, then "ambient"
// over as many in ambient mode, ten seconds later. What the mesh-mode session tests
// export, import and compare.
import { startCollector } from './fixture.js';
import { INTERVALS, modeBatch } from './mode-batches.js';
import { recordFromBatches } from './recorded-session.js';

export async function modeSessions(t: Parameters<typeof startCollector>[0]) {
  const collector = await startCollector(t);
  // Whole seconds: a session's window is resolved to the agents' 1 s intervals.
  const t0 = Math.floor((Date.now() - 120_000) / 1000) * 1000;
  const sequence = { next: 0 };
  const record = (name: string, mode: 'sidecar' | 'ambient', startMs: number) =>
    recordFromBatches(
      collector,
      { name, labels: { mesh: mode }, target: { namespaces: ['shop'] } },
      (i, at) => modeBatch(mode, i, at),
      startMs,
      INTERVALS,
      sequence,
    );
  const sidecars = await record('sidecars', 'sidecar', t0);
  const ambient = await record('ambient', 'ambient', t0 + 10_000);
  return { collector, sidecars, ambient };
}
