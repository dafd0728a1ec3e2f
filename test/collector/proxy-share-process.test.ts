// A pod's share of a node proxy says which node proxy process it is of, by the id the
// topology gives the process ("p:<node>:<pid>:<start ticks>"), in the API and in the
// session's export: mode-batches.ts' shop in ambient mode, its ztunnel (pid 601) restarted
// as a new process (pid 602) after RESTART_AT intervals. A window before the restart is a
// share of the first process alone; one across it, of both together. The ids expected are
// made here from the batches' own process references, not read back from the code.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SessionFile, SessionSummary } from '../../proto/api.js';
import type { Batch, Init, ProcessRef } from '../../proto/gen/tollgate/v1.js';
import { startCollector } from './fixture.js';
import { INTERVALS, modeBatch, NODE, PROCESSES } from './mode-batches.js';
import { call, storeBatches } from './recorded-session.js';

const RESTART_AT = 3;
const BEFORE: Init<ProcessRef> = PROCESSES.ztunnel.ref!;
const AFTER: Init<ProcessRef> = { pid: 602, startTimeTicks: 1602 };
const idOf = (ref: Init<ProcessRef>) => `p:${NODE}:${ref.pid}:${ref.startTimeTicks}`;

/** Interval i of the ambient shop, its ztunnel the new process from RESTART_AT on. */
function batch(i: number, startMs: number): Init<Batch> {
  const b = modeBatch('ambient', i, startMs);
  if (i < RESTART_AT) return b;
  const swap = <T extends { process?: Init<ProcessRef> | null }>(x: T): T =>
    x.process?.pid === BEFORE.pid ? { ...x, process: AFTER } : x;
  return {
    ...b,
    processes: b.processes?.map((p) => (p.ref?.pid === BEFORE.pid ? { ...p, ref: AFTER } : p)),
    edges: b.edges?.map(swap),
    hops: b.hops?.map(swap),
    resources: b.resources?.map(swap),
  };
}

test('a share of a node proxy names its process; across a restart, both processes', async (t) => {
  const collector = await startCollector(t);
  const t0 = Math.floor((Date.now() - 120_000) / 1000) * 1000;
  await storeBatches(collector, batch, t0, INTERVALS);
  const share = async (fromMs: number, toMs: number, pod: string) =>
    (await collector.queries.view({ fromMs, toMs }, toMs)).costs.find((c) => c.name === pod)
      ?.proxyShare;

  // Before the restart: the first process alone, at cart-0's 60,000 of 80,000 bytes.
  assert.deepEqual(await share(t0, t0 + RESTART_AT * 1000, 'cart-0'), {
    processes: [idOf(BEFORE)],
    method: 'bytes',
    share: 0.75,
    byMethod: { onCpu: null, bytes: 0.75 },
  });
  // After it: the new one alone.
  assert.deepEqual(
    (await share(t0 + RESTART_AT * 1000, t0 + INTERVALS * 1000, 'stock-0'))?.processes,
    [idOf(AFTER)],
  );
  // Across it: both, the share theirs together (each gave cart-0 the same part).
  const across = await share(t0, t0 + INTERVALS * 1000, 'cart-0');
  assert.deepEqual(across?.processes, [idOf(BEFORE), idOf(AFTER)].sort());
  assert.equal(across?.share, 0.75);

  // A session across the restart records the same in its export.
  const { id } = await collector.sessions.start(
    { name: 'restart', target: { namespaces: ['shop'] } },
    t0,
  );
  await collector.sessions.stop(id, t0 + INTERVALS * 1000);
  const file = (
    (await (await call(collector, 'GET', `/api/sessions/${id}`)).json()) as SessionSummary & {
      result: SessionFile;
    }
  ).result;
  assert.deepEqual(
    file.tollgate.pods.map((p) => [p.pod.name, p.mesh_mode, p.proxy_share, p.proxy_processes]),
    [
      ['cart-0', 'ambient', 0.75, [idOf(BEFORE), idOf(AFTER)].sort()],
      ['stock-0', 'ambient', 0.25, [idOf(BEFORE), idOf(AFTER)].sort()],
    ],
  );
});
