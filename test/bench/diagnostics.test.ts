// The bench's bpftrace diagnostics (bench/diagnostics/*.bt), whose figures README and
// docs/ cite, compile against this kernel: bpftrace's dry run resolves each tracepoint's
// fields and builds the programs without attaching them. A script that names a field its
// tracepoint lacks must fail it, or the check says nothing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const DIAGNOSTICS = join(import.meta.dirname, '../../bench/diagnostics');

/** bpftrace's dry run of `script`; a script that takes a pid as $1 is given this one's. */
async function dryRun(script: string): Promise<{ ok: boolean; stderr: string }> {
  try {
    await run('bpftrace', ['-d', script, String(process.pid)], {
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { ok: true, stderr: '' };
  } catch (error) {
    return { ok: false, stderr: String((error as { stderr?: string }).stderr ?? error) };
  }
}

test('every diagnostic script compiles against this kernel', async () => {
  const scripts = readdirSync(DIAGNOSTICS).filter((name) => name.endsWith('.bt'));
  assert.ok(scripts.includes('cpu-turns.bt'), `scripts found: ${scripts.join(', ')}`);
  for (const name of scripts) {
    const { ok, stderr } = await dryRun(join(DIAGNOSTICS, name));
    assert.ok(ok, `${name}: ${stderr.slice(0, 2000)}`);
  }
});

test('the dry run fails a script that names a field its tracepoint lacks', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-diagnostics-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const broken = join(dir, 'broken.bt');
  writeFileSync(broken, 'tracepoint:sched:sched_switch { @n[args->no_such_field] = count(); }\n');
  const { ok, stderr } = await dryRun(broken);
  assert.equal(ok, false);
  assert.match(stderr, /no_such_field/);
});
