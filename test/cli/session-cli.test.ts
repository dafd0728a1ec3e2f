// `tollgate session` against a real collector: start, stop, show, export in both
// encodings, compare, import, delete, with the API's bearer token; the collector's
// errors reach the terminal as they are.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Batch } from '../../proto/gen/tollgate/v1.js';
import { startCollector } from '../collector/fixture.js';
import { meshBatch, PER_INTERVAL } from '../collector/mesh-batches.js';

const repo = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);

test('tollgate session: a whole session from the command line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-session-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'token'), 'secret\n');
  writeFileSync(join(dir, 'wrong'), 'guess\n');
  const collector = await startCollector(t, { credentials: { admin: 'secret', read: 'reader' } });
  const tollgate = async (args: string[], token = 'token') => {
    try {
      const r = await run(process.execPath, [
        '--import',
        'tsx',
        join(repo, 'cli/tollgate.ts'),
        'session',
        ...args,
        '--server',
        collector.httpUrl,
        '--token-file',
        join(dir, token),
      ]);
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, out: e.stdout, err: e.stderr };
    }
  };

  const started = await tollgate([
    'start',
    '--name',
    'from the cli',
    '--label',
    'team=mesh',
    '--namespace',
    'shop',
  ]);
  assert.equal(started.code, 0, started.err);
  const id = started.out.trim();
  // One whole interval inside the session, then stop.
  const t0 = Math.ceil(Date.now() / 1000) * 1000;
  await new Promise((r) => setTimeout(r, t0 + 1200 - Date.now()));
  await collector.store.commit([
    Batch.decode(
      Batch.encode({ ...meshBatch(0, t0), agentId: 'node-1', bootId: 'b', sequence: 1 }),
    ),
  ]);
  const stopped = await tollgate(['stop', id]);
  assert.equal(stopped.code, 0, stopped.err);
  assert.match(stopped.out, new RegExp(`^${id}  stopped`));
  assert.match((await tollgate(['list'])).out, new RegExp(`${id}  stopped .* from the cli`));
  const shown = JSON.parse((await tollgate(['show', id])).out);
  const hop = shown.result.tollgate.edges.find(
    (e: { id: string }) => e.id === 'shop/pod-a/sidecar>shop/pod-b/sidecar:9080',
  );
  assert.equal(hop.exchanges, PER_INTERVAL.exchanges);
  assert.deepEqual(shown.labels, { team: 'mesh' });

  const jsonFile = join(dir, 'run.tollgate.json');
  assert.equal((await tollgate(['export', id, '-o', jsonFile])).code, 0);
  assert.match(
    readFileSync(jsonFile, 'utf8'),
    /^\{\n {2}"format_version": 1,\n {2}"smp_version": "0\.0\.1",/,
  );
  assert.equal((await tollgate(['export', id, '-o', join(dir, 'run.pb')])).code, 0);
  const compared = await tollgate(['compare', id, id]);
  assert.match(compared.out, /^0 difference\(s\) larger than the measurement error/m);
  assert.equal(JSON.parse((await tollgate(['compare', id, id, '--json'])).out).significant, 0);

  const twice = await tollgate(['import', jsonFile]);
  assert.equal(twice.code, 1);
  assert.match(twice.err, new RegExp(`409: a session with id ${id} exists already`));
  assert.equal((await tollgate(['delete', id])).code, 0);
  const imported = await tollgate(['import', join(dir, 'run.pb')]);
  assert.equal(imported.code, 0, imported.err);
  assert.match(imported.out, new RegExp(`^${id}  imported`));
  const refused = await tollgate(['list'], 'wrong');
  assert.equal(refused.code, 1);
  assert.match(refused.err, /401: missing or wrong bearer token/);
  // The read credential lists but does not start.
  writeFileSync(join(dir, 'reader'), 'reader\n');
  assert.equal((await tollgate(['list'], 'reader')).code, 0);
  const readOnly = await tollgate(['start', '--name', 'not allowed'], 'reader');
  assert.equal(readOnly.code, 1);
  assert.match(readOnly.err, /403: this needs the admin credential/);
});
