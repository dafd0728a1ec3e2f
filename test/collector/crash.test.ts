// The collector killed with SIGKILL in the middle of a stream of large batches: after a
// restart every acknowledged batch is there, each stored batch is there whole, and the
// agent's spool replays the rest, so every batch ends up stored exactly once.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { unpackRows } from '../../collector/store/packed-rows.js';
import { seriesKind } from '../../collector/store/series.js';
import { Shipper } from '../../daemonset/shipping/shipper.js';
import { freePort } from '../../lab/free-port.js';
import { waitForLine } from '../../lab/spawn.js';
import type { Batch, Init } from '../../proto/gen/tollgate/v1.js';
import { fromValues } from '../../proto/histogram.js';

const repo = new URL('../..', import.meta.url).pathname;
const EDGES = 400;
const BATCHES = 120;

async function startCollector(
  dir: string,
  port: number,
): Promise<ChildProcess & { exited: Promise<unknown> }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(repo, 'cli/tollgate.ts'),
      'collector',
      '--data-dir',
      dir,
      '--grpc-listen',
      `127.0.0.1:${port}`,
      '--http-listen',
      '127.0.0.1:0',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitForLine(child, /gRPC ingest on/, 'collector', 20_000);
  // Keep reading its output, or the pipe holds the child's 'close' back forever.
  child.stdout!.resume();
  return Object.assign(child, { exited });
}

/** Batch k: one process of its own with EDGES client ends, so completeness is checkable. */
function bigBatch(k: number): Init<Batch> {
  const ref = { pid: 10_000 + k, startTimeTicks: 7 };
  return {
    node: 'n1',
    intervalStartUnixMs: Date.now() - 2000,
    intervalEndUnixMs: Date.now() - 1000,
    processes: [
      { ref, comm: `p${k}`, role: 'ROLE_APP', pod: { namespace: 'ns', name: `pod-${k}` } },
    ],
    edges: Array.from({ length: EDGES }, (_, e) => ({
      process: ref,
      side: 'CONNECTION_SIDE_CLIENT' as const,
      local: { address: '10.0.0.1' },
      remote: { address: `10.2.${e >> 8}.${e & 255}`, port: 80 },
      exchanges: 3,
      exchangeLatency: fromValues([1e6, 2e6, 3e6 + e]),
    })),
  };
}

test('SIGKILL mid-batch: no partial batch, every batch stored exactly once after replay', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-crash-'));
  const port = await freePort();
  let collector = await startCollector(dir, port);
  t.after(() => {
    collector.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const shipper = new Shipper({
    target: `127.0.0.1:${port}`,
    hello: { agentId: 'agent-crash', node: 'n1' },
    backoff: { initialMs: 100, maxMs: 500 },
    window: 8,
  });
  t.after(() => shipper.stop());
  let acked = 0;
  shipper.on('ack', () => acked++);
  shipper.start();

  // Send steadily; kill the collector while batches are in flight.
  const killed = new Promise<void>((resolve) => {
    shipper.on('ack', () => {
      if (acked === 30) {
        collector.kill('SIGKILL');
        resolve();
      }
    });
  });
  for (let k = 1; k <= BATCHES; k++) {
    shipper.send(bigBatch(k));
    if (k % 10 === 0) await new Promise((r) => setTimeout(r, 50));
  }
  await killed;
  await collector.exited;
  const ackedBeforeKill = shipper.stats().stored;

  // What the killed collector left: whole batches only.
  const check = () => {
    const db = new Database(join(dir, 'tollgate.db'), { readonly: true });
    try {
      const stored = db.prepare('SELECT sequence FROM batches').all() as { sequence: number }[];
      // Each end's raw reports, from the packed rows (one per batch).
      const reports = new Map<number, number>();
      for (const { body } of db.prepare('SELECT body FROM m_end_raw').all() as {
        body: Uint8Array;
      }[])
        for (const { sid } of unpackRows(seriesKind('end'), body))
          reports.set(sid, (reports.get(sid) ?? 0) + 1);
      const byPid = new Map<number, { pid: number; ends: number; rows: number }>();
      for (const { pid, id } of db
        .prepare('SELECT p.pid AS pid, e.id AS id FROM processes p JOIN ends e ON e.process = p.id')
        .all() as { pid: number; id: number }[]) {
        const rows = reports.get(id) ?? 0;
        if (rows === 0) continue;
        const c = byPid.get(pid) ?? { pid, ends: 0, rows: 0 };
        c.ends++;
        c.rows += rows;
        byPid.set(pid, c);
      }
      const complete = [...byPid.values()];
      return { stored: stored.map((s) => s.sequence).sort((a, b) => a - b), complete };
    } finally {
      db.close();
    }
  };
  const afterKill = check();
  assert.ok(afterKill.stored.length >= ackedBeforeKill, 'every acknowledged batch survived');
  assert.equal(
    afterKill.complete.length,
    afterKill.stored.length,
    'no process rows without their batch',
  );
  for (const c of afterKill.complete)
    assert.deepEqual([c.ends, c.rows], [EDGES, EDGES], `pid ${c.pid}`);

  // Back up: the spool replays, duplicates are dropped, everything is stored once.
  collector = await startCollector(dir, port);
  assert.ok(await shipper.flush(60_000), `spool drained (${JSON.stringify(shipper.stats())})`);
  const final = check();
  assert.deepEqual(
    final.stored,
    Array.from({ length: BATCHES }, (_, i) => i + 1),
  );
  for (const c of final.complete)
    assert.deepEqual([c.ends, c.rows], [EDGES, EDGES], `pid ${c.pid}`);
  const stats = shipper.stats();
  // Each batch acknowledged once: stored now, or found already stored after the replay.
  assert.equal(stats.stored + stats.duplicates, BATCHES);
  assert.equal(stats.rejected, 0);
  assert.equal(stats.spoolDropped, 0);
});

test('a longer outage than the spool holds: the oldest batches are dropped and counted', async (t) => {
  const port = await freePort();
  const shipper = new Shipper({
    target: `127.0.0.1:${port}`,
    hello: { agentId: 'agent-small', node: 'n1' },
    spool: { maxBatches: 20 },
    backoff: { initialMs: 50, maxMs: 200 },
  });
  t.after(() => shipper.stop());
  shipper.start();
  for (let k = 1; k <= 50; k++) shipper.send(bigBatch(k));
  const stats = shipper.stats();
  assert.equal(stats.spoolBatches, 20);
  assert.equal(stats.spoolDropped, 30);
  assert.equal(stats.stored, 0);

  const dir = mkdtempSync(join(tmpdir(), 'tollgate-outage-'));
  const collector = await startCollector(dir, port);
  t.after(() => {
    collector.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  assert.ok(await shipper.flush(30_000));
  assert.equal(shipper.stats().stored, 20, 'the 20 newest batches arrive');
});
