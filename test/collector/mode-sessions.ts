// A collector holding two stopped sessions of the shop in mode-batches.ts, both targeting
// namespace "shop": "sidecars" over INTERVALS intervals in sidecar mode, then "ambient"
// over as many in ambient mode, ten seconds later. What the mesh-mode session tests
// export, import and compare.
import { Batch } from '../../proto/gen/tollgate/v1.js';
import { startCollector } from './fixture.js';
import { INTERVALS, modeBatch } from './mode-batches.js';

export async function modeSessions(t: Parameters<typeof startCollector>[0]) {
  const collector = await startCollector(t);
  // Whole seconds: a session's window is resolved to the agents' 1 s intervals.
  const t0 = Math.floor((Date.now() - 120_000) / 1000) * 1000;
  let sequence = 0;
  const record = async (name: string, mode: 'sidecar' | 'ambient', startMs: number) => {
    const id = collector.sessions.start(
      { name, labels: { mesh: mode }, target: { namespaces: ['shop'] } },
      startMs,
    ).id;
    collector.store.commit(
      Array.from({ length: INTERVALS }, (_, i) =>
        Batch.decode(
          Batch.encode({
            ...modeBatch(mode, i, startMs + i * 1000),
            agentId: 'node-1',
            bootId: 'boot',
            sequence: ++sequence,
          }),
        ),
      ),
    );
    await collector.sessions.stop(id, startMs + INTERVALS * 1000);
    return id;
  };
  const sidecars = await record('sidecars', 'sidecar', t0);
  const ambient = await record('ambient', 'ambient', t0 + 10_000);
  return { collector, sidecars, ambient };
}
