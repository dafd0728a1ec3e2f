// The parts' walls, read from the source: product code never imports the lab, the
// benchmarks, the CLI or the tests; the viewer's code, types included, comes from the
// viewer and proto/ alone, and the bundle it builds to holds no other file (its source map
// lists every module in it).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const PRODUCT = ['collector', 'daemonset', 'embedded', 'probes', 'proto', 'web/src'];
const NOT_PRODUCT = ['lab', 'bench', 'cli', 'test'];

/**
 * Every relative import of a file, types included, as repository paths. Only specifiers
 * naming a file that exists count: code a generator writes out as text has imports of
 * its own, relative to where that code goes (tsc checks that real imports resolve).
 */
function importsOf(file: string): { target: string }[] {
  const source = readFileSync(file, 'utf8');
  const specifiers = [
    ...[...source.matchAll(/^(?:import|export)\s+[^;]*?from\s+'(\.{1,2}\/[^']+)'/gms)],
    ...[...source.matchAll(/import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)],
  ].map((m) => resolve(dirname(file), m[1]!));
  return specifiers
    .filter((path) => existsSync(path.replace(/\.js$/, '.ts')) || existsSync(path))
    .map((path) => ({ target: relative(root, path) }));
}

function sources(dir: string): string[] {
  return (readdirSync(join(root, dir), { recursive: true }) as string[])
    .filter((f) => /\.tsx?$/.test(f) && !f.includes('node_modules') && !f.endsWith('.d.ts'))
    .map((f) => join(root, dir, f));
}

const under = (path: string, dirs: readonly string[]) =>
  dirs.some((d) => path === d || path.startsWith(`${d}/`));

test('product code imports no lab, benchmark, CLI or test code', () => {
  const crossings: string[] = [];
  for (const dir of PRODUCT)
    for (const file of sources(dir))
      for (const { target } of importsOf(file))
        if (under(target, NOT_PRODUCT)) crossings.push(`${relative(root, file)} -> ${target}`);
  assert.deepEqual(crossings, []);
});

test("the viewer's code, types included, is the viewer's and proto/'s", () => {
  const crossings: string[] = [];
  for (const file of sources('web/src'))
    for (const { target } of importsOf(file))
      if (!under(target, ['web/src', 'proto']))
        crossings.push(`${relative(root, file)} -> ${target}`);
  assert.deepEqual(crossings, []);
});

test('proto/, the shared wall, imports nothing but proto/', () => {
  const crossings: string[] = [];
  for (const file of sources('proto'))
    for (const { target } of importsOf(file))
      if (!under(target, ['proto'])) crossings.push(`${relative(root, file)} -> ${target}`);
  assert.deepEqual(crossings, []);
});

test('the built viewer holds modules of the viewer, proto/ and its packages only', () => {
  // Built by the setup that runs before the tests (bin/setup.sh).
  const assets = join(root, 'web/dist/assets');
  assert.ok(existsSync(assets), 'the viewer is built (npm run build:web)');
  const maps = readdirSync(assets).filter((f) => f.endsWith('.js.map'));
  assert.ok(maps.length > 0, 'the build writes source maps');
  const outside: string[] = [];
  let modules = 0;
  for (const map of maps) {
    const { sources: list } = JSON.parse(readFileSync(join(assets, map), 'utf8')) as {
      sources: string[];
    };
    for (const s of list) {
      modules++;
      const path = relative(root, resolve(assets, s));
      if (!under(path, ['web/src', 'proto', 'node_modules'])) outside.push(path);
    }
  }
  assert.ok(modules > 20, `${modules} modules`);
  assert.deepEqual(outside, []);
});
