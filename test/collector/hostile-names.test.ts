// Names from the observed world are the processes' own choice: quotes, SQL, HTML,
// terminal escapes, NUL, bidi overrides and strings at the length limit. They are stored
// as data (never as SQL), returned verbatim by the API, exported verbatim in sessions, and
// one character over the limit is refused by name. The viewer's side (text, never markup)
// is tested in test/web/viewer.test.ts, the Prometheus escaping in http.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BATCH_LIMITS } from '../../collector/ingest/validate-batch.js';
import type { TopologyProcess } from '../../proto/api.js';
import { startCollector } from './fixture.js';
import { meshBatch, NODE, PROCESSES } from './mesh-batches.js';
import { encode, exchange } from './raw-client.js';

const HOSTILE = [
  `it's "quoted" \\ back\\slashed`,
  "x'); DROP TABLE processes; --",
  '<img src=x onerror="alert(1)"><script>alert(2)</script>',
  'bell\u0007 esc\u001b[2J nul\u0000 cr\r lf\n tab\t del\u007f',
  'rtl \u202eexe.txt and \ud83d\ude80',
  'z'.repeat(BATCH_LIMITS.stringLength),
];

test('hostile names are stored and returned verbatim, and one over the limit is refused by name', async (t) => {
  const collector = await startCollector(t);
  const hello = encode({ hello: { agentId: 'agent-h', bootId: 'boot-h', node: NODE } });
  const base = meshBatch(1, Date.now() - 5000);
  const named = (k: number) =>
    base.processes!.map((p) =>
      p.comm === PROCESSES.a.comm
        ? {
            ...p,
            comm: HOSTILE[k]!,
            exe: HOSTILE[(k + 1) % HOSTILE.length]!,
            cmdline: HOSTILE,
            pod: {
              ...p.pod,
              name: HOSTILE[k]!,
              labels: { app: HOSTILE[(k + 2) % HOSTILE.length]! },
            },
          }
        : p,
    );
  const batch = (sequence: number, processes: typeof base.processes) =>
    encode({
      batch: {
        ...base,
        intervalStartUnixMs: base.intervalStartUnixMs! + sequence * 1000,
        intervalEndUnixMs: base.intervalEndUnixMs! + sequence * 1000,
        agentId: 'agent-h',
        bootId: 'boot-h',
        sequence,
        processes,
      },
    });
  const r = await exchange(collector.grpcAddress, [hello, batch(1, named(0))], { waitForAcks: 1 });
  assert.deepEqual(
    r.messages.filter((m) => m.ack).map((m) => m.ack!.status),
    ['ACK_STATUS_STORED'],
  );

  const processes = (await (
    await fetch(`${collector.httpUrl}/api/processes?window=3600`)
  ).json()) as TopologyProcess[];
  const stored = processes.find((p) => p.pid === PROCESSES.a.ref!.pid);
  assert.ok(stored, 'the hostile process is listed');
  assert.equal(stored.comm, HOSTILE[0]);
  assert.equal(stored.exe, HOSTILE[1]);
  assert.deepEqual(stored.cmdline, HOSTILE);
  assert.equal(stored.pod, `pod:shop/${HOSTILE[0]}`);
  // The SQL was data: every table is still there, every other process too.
  assert.equal(processes.length, base.processes!.length);
  assert.equal(await collector.store.batchCount(), 1);

  // One character over the limit: refused, and the reason names the field.
  const long = named(0).map((p) =>
    p.comm === HOSTILE[0] ? { ...p, comm: 'z'.repeat(BATCH_LIMITS.stringLength + 1) } : p,
  );
  const refused = await exchange(collector.grpcAddress, [hello, batch(2, long)], {
    waitForAcks: 1,
  });
  const ack = refused.messages.find((m) => m.ack)?.ack;
  assert.equal(ack?.status, 'ACK_STATUS_REJECTED');
  assert.match(ack.error, /processes\[0\]\.comm is longer than 4096 characters/);
  assert.equal(await collector.store.batchCount(), 1);
});
