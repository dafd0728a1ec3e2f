// The repository's promises to a newcomer: README's two commands are the ones CI runs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { TOLLGATE_VERSION } from '../proto/version.js';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

test('README gives the demo and the test command, and CI runs that test command', () => {
  const readme = read('README.md');
  assert.match(readme, /^npm run demo\b/m);
  assert.match(readme, /^npm test\b/m);
  assert.match(read('.ci/run'), /^npm test$/m);
});

test('both README commands run the setup first', () => {
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.pretest, 'bash bin/setup.sh');
  assert.equal(pkg.scripts.predemo, 'bash bin/setup.sh');
  assert.match(pkg.scripts.test ?? '', /typecheck.*lint/);
});

test('engines and required packages match the machines (Node >= 20.19)', () => {
  const pkg = JSON.parse(read('package.json')) as {
    engines: { node: string };
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  assert.equal(pkg.engines.node, '>=20.19');
  for (const name of [
    '@grpc/grpc-js',
    'fastify',
    'ws',
    'd3',
    'protobufjs',
    '@kubernetes/client-node',
    'better-sqlite3',
  ]) {
    assert.ok(pkg.dependencies[name], `${name} is a dependency`);
  }
  assert.ok(pkg.devDependencies.vite, 'vite builds the viewer');
});

test('the version every part states is the package version', () => {
  const pkg = JSON.parse(read('package.json')) as { version: string };
  assert.equal(TOLLGATE_VERSION, pkg.version);
});
