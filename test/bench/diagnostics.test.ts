// The bench's bpftrace diagnostics (bench/diagnostics/*.bt), whose figures README and
// docs/ cite, compile against this kernel: bpftrace resolves each tracepoint's fields from
// this kernel's formats and builds the programs into an ELF file, without loading or
// attaching them (`--emit-elf`; the verifier is not asked). A script that names a field its
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

/** Compiles `script` into `dir`; a script that takes a pid as $1 is given this one's. */
async function compile(script: string, dir: string): Promise<{ ok: boolean; stderr: string }> {
  try {
    await run('bpftrace', ['--emit-elf', join(dir, 'out.o'), script, String(process.pid)], {
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { ok: true, stderr: '' };
  } catch (error) {
    return { ok: false, stderr: String((error as { stderr?: string }).stderr ?? error) };
  }
}

function scratchDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-diagnostics-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('every diagnostic script compiles against this kernel', async (t) => {
  const scripts = readdirSync(DIAGNOSTICS).filter((name) => name.endsWith('.bt'));
  assert.ok(scripts.includes('cpu-turns.bt'), `scripts found: ${scripts.join(', ')}`);
  const dir = scratchDir(t);
  for (const name of scripts) {
    await t.test(name, async () => {
      const { ok, stderr } = await compile(join(DIAGNOSTICS, name), dir);
      assert.ok(ok, `${name}: ${stderr.slice(0, 2000)}`);
    });
  }
});

test('a script that names a field its tracepoint lacks does not compile', async (t) => {
  const dir = scratchDir(t);
  const broken = join(dir, 'broken.bt');
  writeFileSync(broken, 'tracepoint:sched:sched_switch { @n[args->no_such_field] = count(); }\n');
  const { ok, stderr } = await compile(broken, dir);
  assert.equal(ok, false);
  assert.match(stderr, /no_such_field/);
});
