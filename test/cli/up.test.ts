// `tollgate up` as a user runs it: a fresh token at each start, the viewer's link with it
// printed, the API closed without it and open through the link's cookie, the token
// file readable by its owner alone; `--no-token` says it is open and is.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';

const repo = new URL('../..', import.meta.url).pathname;

/** Starts `tollgate up` on free ports; resolves with its printed lines once it is up. */
async function up(
  t: TestContext,
  extra: string[],
): Promise<{ lines: string[]; dir: string; child: ChildProcess }> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-up-'));
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(repo, 'cli/tollgate.ts'),
      'up',
      '--port',
      '0',
      '--grpc-port',
      '0',
      '--data-dir',
      dir,
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c) => {
    out += c;
  });
  child.stderr?.on('data', (c) => {
    err += c;
  });
  const deadline = Date.now() + 60_000;
  while (!out.includes('gRPC ingest on')) {
    if (child.exitCode !== null || Date.now() > deadline)
      assert.fail(`tollgate up did not start: ${out}${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { lines: out.trim().split('\n'), dir, child };
}

test('tollgate up makes a token, prints the link, and the API needs it', async (t) => {
  const { lines, dir } = await up(t, []);
  const link = /web viewer on (http:\S+\/\?token=(\S+))$/.exec(lines[0] ?? '');
  assert.ok(link, lines.join('\n'));
  const [, url, token] = link as unknown as [string, string, string];
  const base = new URL(url).origin;
  assert.ok(token.length >= 32, 'a long random token');
  const tokenFile = join(dir, 'up-token');
  assert.equal(readFileSync(tokenFile, 'utf8').trim(), token);
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600);

  assert.equal((await fetch(`${base}/api/topology`)).status, 401);
  const signIn = await fetch(url, { redirect: 'manual' });
  assert.equal(signIn.status, 303);
  const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0]!;
  assert.equal((await fetch(`${base}/api/topology`, { headers: { cookie } })).status, 200);
  assert.equal(
    (await fetch(`${base}/api/sessions`, { headers: { authorization: `Bearer ${token}` } })).status,
    200,
  );
});

test('tollgate up --no-token serves the API open, and says so; its terminal closing stops it in order', async (t) => {
  const { lines, child } = await up(t, ['--no-token']);
  const open = /web viewer and API on (http:\S+) \(no token\)$/.exec(lines[0] ?? '');
  assert.ok(open, lines.join('\n'));
  assert.equal((await fetch(`${open[1]}/api/topology`)).status, 200);
  // SIGHUP, as when the terminal it runs in closes: a shutdown in order and exit 0, where
  // the default would be death by the signal with the agent's probes and spool left open.
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) =>
    child.once('exit', (code, signal) => r([code, signal])),
  );
  child.kill('SIGHUP');
  assert.deepEqual(await exited, [0, null]);
  await assert.rejects(fetch(`${open[1]}/api/topology`), 'the API closed');
});
