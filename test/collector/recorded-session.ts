// A collector holding two stopped sessions over five known intervals of the mesh batches
// (one targeting the "shop" namespace, one "other"), and a fetch helper for its API:
// what the session tests export, break and import.
import type { Collector } from '../../collector/collector.js';
import { Batch } from '../../proto/gen/tollgate/v1.js';
import { startCollector } from './fixture.js';
import { meshBatch } from './mesh-batches.js';

export async function call(
  collector: Collector,
  method: string,
  path: string,
  body?: { json: unknown } | { bytes: Uint8Array },
) {
  const response = await fetch(`${collector.httpUrl}${path}`, {
    method,
    headers: body
      ? { 'content-type': 'json' in body ? 'application/json' : 'application/octet-stream' }
      : {},
    body: body ? ('json' in body ? JSON.stringify(body.json) : body.bytes) : undefined,
  });
  return response;
}

/**
 * Records a session over `intervals` one-second batches that `batchOf` makes (agent
 * node-1, sequences from `sequence`, which it advances): started, stored, stopped.
 */
export async function recordFromBatches(
  collector: Collector,
  spec: Parameters<Collector['sessions']['start']>[0],
  batchOf: (i: number, startMs: number) => Parameters<typeof Batch.encode>[0],
  startMs: number,
  intervals: number,
  sequence: { next: number },
): Promise<string> {
  const { id } = await collector.sessions.start(spec, startMs);
  await storeBatches(collector, batchOf, startMs, intervals, sequence);
  await collector.sessions.stop(id, startMs + intervals * 1000);
  return id;
}

/** Stores `intervals` one-second batches that `batchOf` makes, as node-1's agent sent them. */
export async function storeBatches(
  collector: Collector,
  batchOf: (i: number, startMs: number) => Parameters<typeof Batch.encode>[0],
  startMs: number,
  intervals: number,
  sequence: { next: number } = { next: 0 },
): Promise<void> {
  await collector.store.commit(
    Array.from({ length: intervals }, (_, i) =>
      Batch.decode(
        Batch.encode({
          ...batchOf(i, startMs + i * 1000),
          agentId: 'node-1',
          bootId: 'boot',
          sequence: ++sequence.next,
        }),
      ),
    ),
  );
}

export async function recorded(t: Parameters<typeof startCollector>[0]) {
  const collector = await startCollector(t);
  // Whole seconds: a session's window is resolved to the agents' 1 s intervals.
  const t0 = Math.floor((Date.now() - 60_000) / 1000) * 1000;
  const { id } = await collector.sessions.start(
    { name: 'baseline <b>', labels: { mesh: 'on' }, target: { namespaces: ['shop'] } },
    t0,
  );
  const { id: other } = await collector.sessions.start(
    { name: 'elsewhere', target: { namespaces: ['other'] } },
    t0,
  );
  await collector.store.commit(
    Array.from({ length: 5 }, (_, i) =>
      Batch.decode(
        Batch.encode({
          ...meshBatch(i, t0 + i * 1000),
          agentId: 'node-1',
          bootId: 'boot',
          sequence: i + 1,
        }),
      ),
    ),
  );
  await collector.sessions.stop(id, t0 + 5000);
  await collector.sessions.stop(other, t0 + 5000);
  return { collector, id, other };
}
