// A damaged store file does not keep the collector down: it starts, moves the file (and
// its log) aside byte for byte, says so on stderr and in /metrics, and serves and stores
// from an empty store. Two kinds of damage: a file that is not a database at all, and a
// real store whose schema page was overwritten.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Store } from '../../collector/store/store.js';
import { Shipper } from '../../daemonset/shipping/shipper.js';
import { Batch } from '../../proto/gen/tollgate/v1.js';
import { TOLLGATE_VERSION } from '../../proto/version.js';
import { meshBatch, NODE } from './mesh-batches.js';

const repo = new URL('../..', import.meta.url).pathname;

test('a file that is not a database: the collector starts, sets it aside, says so, and stores', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-corrupt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const garbage = randomBytes(64 * 1024);
  writeFileSync(join(dir, 'tollgate.db'), garbage);
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(repo, 'cli/tollgate.ts'),
      'collector',
      `--data-dir=${dir}`,
      '--grpc-listen=127.0.0.1:0',
      '--http-listen=127.0.0.1:0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => {
    out += c;
  });
  child.stderr.on('data', (c) => {
    err += c;
  });
  const deadline = Date.now() + 30_000;
  while (!/API and web viewer on/.test(out)) {
    assert.ok(
      child.exitCode === null && Date.now() < deadline,
      `collector did not start: ${out}${err}`,
    );
    await new Promise((r) => setTimeout(r, 100));
  }
  const url = /API and web viewer on (\S+)/.exec(out)![1]!;
  const grpcPort = /gRPC ingest on [^:]+:(\d+)/.exec(out)![1]!;
  assert.match(
    err,
    /ERROR: the store .*tollgate\.db is damaged .*moved aside, untouched, to .*tollgate\.db\.corrupt-/,
  );
  const aside = readdirSync(dir).filter((f) => f.startsWith('tollgate.db.corrupt-'));
  assert.equal(aside.length, 1);
  assert.deepEqual(
    readFileSync(join(dir, aside[0]!)),
    garbage,
    'the damaged file kept byte for byte',
  );
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
  assert.match(
    await (await fetch(`${url}/metrics`)).text(),
    /^tollgate_collector_store_set_aside 1$/m,
  );

  const shipper = new Shipper({
    target: `127.0.0.1:${grpcPort}`,
    hello: { agentId: 'agent-1', node: NODE, agentVersion: TOLLGATE_VERSION },
  });
  t.after(() => shipper.stop());
  shipper.start();
  shipper.send(meshBatch(1, Date.now() - 5000));
  assert.ok(await shipper.flush(10_000), 'a batch stored in the new store');
  assert.equal(shipper.stats().stored, 1);
});

test('a store whose schema page was overwritten is set aside whole', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-corrupt-'));
  try {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'tollgate.db');
    const store = Store.open(path);
    store.commit([
      Batch.decode(
        Batch.encode({
          ...meshBatch(1, Date.now() - 5000),
          agentId: 'a',
          bootId: 'b',
          sequence: 1,
        }),
      ),
    ]);
    store.truncateLog();
    store.close();
    // Page 1 past the 100-byte file header: the schema table's b-tree page.
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(400, 0xa5), 0, 400, 100);
    closeSync(fd);
    const damaged = readFileSync(path);
    const opened = Store.openOrSetAside(path, {}, Date.UTC(2026, 10, 30, 12, 0, 0));
    try {
      assert.ok(opened.setAside, 'set aside');
      assert.equal(opened.setAside.path, `${path}.corrupt-2026-11-30T12-00-00-000Z`);
      assert.match(opened.setAside.reason, /malformed|not a database/);
      assert.deepEqual(readFileSync(opened.setAside.path), damaged);
      assert.equal(opened.store.batchCount(), 0, 'an empty store in its place');
    } finally {
      opened.store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
