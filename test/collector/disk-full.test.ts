// The collector's disk fills: batches are refused with a status that says so and wait in
// the agent's spool; nothing acknowledged is lost and nothing is stored twice; ingest
// resumes when an operator frees space, and also when retention frees pages inside the
// database while the file system stays full. The disk is a tmpfs this test mounts (and
// unmounts) with a filler file taking every free byte.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  rmSync,
  statfsSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { Collector } from '../../collector/collector.js';
import { Shipper } from '../../daemonset/shipping/shipper.js';
import { TOLLGATE_VERSION } from '../../proto/version.js';
import { meshBatch, NODE } from './mesh-batches.js';

const BALLAST = 2 * 2 ** 20;

const unmounts: (() => void)[] = [];

async function smallDisk(megabytes: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-disk-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m,mode=0700`, 'tmpfs', dir]);
  // Unmounted once the collector and the shipper are stopped (setUp's hook).
  unmounts.push(() => {
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Writes a file until the file system refuses another byte; returns its path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  try {
    for (const size of [256 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw error;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

async function until(
  what: string,
  ok: () => boolean | Promise<boolean>,
  ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function setUp(t: TestContext, dir: string, retentionMs?: number) {
  const collector = await Collector.start({
    database: join(dir, 'tollgate.db'),
    grpc: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    ballastBytes: BALLAST,
    maintainEveryMs: 100,
    store:
      retentionMs === undefined
        ? undefined
        : {
            retention: { rawMs: retentionMs, minuteMs: retentionMs, hourMs: retentionMs },
            dedupeMs: retentionMs,
            rollupGraceMs: 0,
          },
  });
  const shipper = new Shipper({
    target: collector.grpcAddress,
    hello: { agentId: 'agent-1', node: NODE, agentVersion: TOLLGATE_VERSION },
    backoff: { initialMs: 50, maxMs: 200 },
  });
  t.after(async () => {
    await shipper.stop();
    await collector.stop();
    for (const unmount of unmounts.splice(0)) unmount();
  });
  shipper.start();
  const diskFull = async () =>
    /^tollgate_collector_disk_full 1$/m.test(
      await (await fetch(`${collector.httpUrl}/metrics`)).text(),
    );
  return { collector, shipper, diskFull };
}

test('a full disk refuses batches without losing one; ingest resumes when space is freed', async (t) => {
  const dir = await smallDisk(24);
  const { collector, shipper, diskFull } = await setUp(t, dir);
  const ballast = join(dir, 'tollgate.db.ballast');
  assert.ok(existsSync(ballast), 'a ballast is laid while there is room');
  const t0 = Date.now() - 60_000;
  for (let i = 1; i <= 5; i++) shipper.send(meshBatch(i, t0 + i * 1000));
  assert.ok(await shipper.flush(10_000));
  assert.equal(await collector.store.batchCount(), 5);

  const filler = fill(dir);
  // Enough batches to need more room than the ballast leaves.
  for (let i = 6; i <= 400; i++) shipper.send(meshBatch(i, t0 + i * 100));
  await until('the disk found full', () =>
    (shipper.stats().lastError ?? '').includes('disk is full'),
  );
  assert.ok(await diskFull(), 'tollgate_collector_disk_full is 1');
  assert.ok(!existsSync(ballast), 'the ballast was released');
  const stored = await collector.store.batchCount();
  assert.ok(stored < 400, `${stored} stored of 400 on a full disk`);
  assert.equal(shipper.stats().spoolDropped, 0);
  assert.equal(shipper.stats().stored, stored, 'every stored batch acknowledged, no other');

  // The operator frees space: every batch the agent kept is stored, once.
  rmSync(filler);
  await until('all 400 stored', async () => (await collector.store.batchCount()) === 400);
  await until(
    'all acknowledged',
    () => shipper.stats().stored + shipper.stats().duplicates === 400,
  );
  assert.equal(shipper.stats().spoolDropped, 0);
  assert.equal(shipper.stats().rejected, 0);
  assert.ok(!(await diskFull()));
  await until('the ballast laid again', () => existsSync(ballast));
});

test('retention makes room inside the database while the disk stays full', async (t) => {
  const dir = await smallDisk(24);
  // Everything older than 8 s goes: long enough to fill the database first.
  const { collector, shipper, diskFull } = await setUp(t, dir, 8000);
  const now = Date.now();
  let sent = 0;
  const send = (n: number) => {
    for (let i = 0; i < n; i++) shipper.send(meshBatch(++sent, now + sent));
  };
  // Rows worth several ballasts first, while there is room.
  for (let round = 0; statSync(join(dir, 'tollgate.db')).size < 3 * BALLAST; round++) {
    assert.ok(round < 200, 'the database grows');
    send(50);
    assert.ok(await shipper.flush(10_000));
  }
  const early = sent;
  const filler = fill(dir);
  const before = statfsSync(dir);
  assert.ok(before.bavail * before.bsize < BALLAST, 'the disk is full');
  // More until the collector says the disk is full.
  while (!(shipper.stats().lastError ?? '').includes('disk is full')) {
    assert.ok(sent < early + 5000, 'the disk filled');
    send(20);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(await diskFull());
  // Nobody frees space on disk; the rows pass their retention and are deleted, and their
  // pages take the new batches.
  await until(
    `all ${sent} stored (now ${await collector.store.batchCount()})`,
    () => shipper.stats().stored + shipper.stats().duplicates === sent,
    30_000,
  );
  assert.equal(shipper.stats().spoolDropped, 0);
  assert.ok(existsSync(filler), 'the filler still takes the disk');
  const after = statfsSync(dir);
  assert.ok(after.bavail * after.bsize < BALLAST * 2, 'and the disk is still full');
});
