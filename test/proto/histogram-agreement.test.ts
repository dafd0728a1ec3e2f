// C (proto/histogram.h, used by the kernel programs) and TypeScript (proto/histogram.ts)
// must put every value in the same bucket, and the header must compile for BPF.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BUCKET_COUNT, bucketIndex } from '../../proto/histogram.js';

const protoDir = new URL('../../proto', import.meta.url).pathname;
const harness = new URL('./histogram_index.c', import.meta.url).pathname;

function testValues(): number[] {
  const values: number[] = [];
  for (let p = 0; p <= 52; p++) {
    for (const delta of [-1, 0, 1]) values.push(2 ** p + delta);
    for (let sub = 0; sub < 16; sub++) values.push(Math.floor(2 ** p * (1 + sub / 16)));
  }
  let x = 12345;
  for (let k = 0; k < 5000; k++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    values.push(Math.floor(2 ** ((x / 2 ** 31) * 50)));
  }
  return values.filter((v) => v >= 0 && v < 2 ** 53);
}

test('C and TypeScript agree on the bucket of every value', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-hist-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const binary = join(dir, 'histogram_index');
  execFileSync('cc', ['-O2', '-Wall', '-Werror', `-I${protoDir}`, '-o', binary, harness]);
  const values = testValues();
  const output = execFileSync(binary, { input: values.join('\n') })
    .toString()
    .trim()
    .split('\n');
  assert.equal(output.length, values.length);
  assert.deepEqual(output.map(Number), values.map(bucketIndex));
  assert.ok(
    output.some((line) => Number(line) === BUCKET_COUNT - 1),
    'clamping exercised',
  );
});

test('proto/histogram.h compiles for the BPF target without helper calls', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-hist-bpf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const source = join(dir, 'h.bpf.c');
  writeFileSync(
    source,
    '#include "histogram.h"\nunsigned int index_of(unsigned long long v) { return tg_hist_index(v); }\n',
  );
  execFileSync('clang', [
    '-target',
    'bpf',
    '-O2',
    '-Wall',
    '-Werror',
    `-I${protoDir}`,
    '-c',
    source,
    '-o',
    join(dir, 'h.o'),
  ]);
});
