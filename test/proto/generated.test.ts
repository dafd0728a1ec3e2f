// The checked-in generated module must be what the .proto files generate today.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generate, generatedPath } from '../../proto/generate.js';

const protoDir = new URL('../../proto', import.meta.url).pathname;

test('proto/gen is current: run `npm run gen:proto` after changing a .proto', () => {
  assert.equal(readFileSync(generatedPath, 'utf8'), generate());
});

test('a .proto change without regeneration is detected', (t) => {
  const copy = mkdtempSync(join(tmpdir(), 'tollgate-proto-'));
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(join(protoDir, 'tollgate'), join(copy, 'tollgate'), { recursive: true });
  const file = join(copy, 'tollgate', 'v1', 'histogram.proto');
  writeFileSync(
    file,
    readFileSync(file, 'utf8').replace(
      'uint64 sum_ns = 4;',
      'uint64 sum_ns = 4;\n  uint64 max_ns = 5;',
    ),
  );
  const changed = generate(copy);
  assert.notEqual(changed, readFileSync(generatedPath, 'utf8'));
  assert.match(changed, /maxNs: number;/);
});
