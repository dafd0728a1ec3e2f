// The parts' walls, read from the source against README's table of them ("Layout"):
// product code never imports the lab, the benchmarks, the CLI or the tests; the viewer's
// code, types included, comes from the viewer and proto/ alone, and the bundle it builds
// to holds no other file (its source map lists every module in it).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * README's table of the parts and the parts each may import ("Layout"): the rule this
 * file checks, so that what README says is what holds.
 */
function readmeLayout(): Map<string, string[]> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const at = readme.indexOf('### Layout');
  assert.ok(at >= 0, 'README has its Layout section');
  const rows = readme
    .slice(at)
    .split('\n')
    .filter((line) => /^\| `[^`]+\/` \|/.test(line));
  const parts = new Map<string, string[]>();
  for (const row of rows) {
    const cells = row.split('|').map((c) => c.trim());
    const name = /^`([^`]+)\/`$/.exec(cells[1]!)![1]!;
    const allowed = [...cells[3]!.matchAll(/`([^`]+)\/`/g)].map((m) => m[1]!);
    parts.set(name, allowed);
  }
  return parts;
}

const LAYOUT = readmeLayout();
const PARTS = [...LAYOUT.keys()];

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

/** The part a repository path is in (the longest match: web/src before web). */
const partOf = (path: string) =>
  PARTS.filter((p) => under(path, [p])).sort((a, b) => b.length - a.length)[0];

test("README's layout names every folder of TypeScript, product and tools alike", () => {
  const product = ['collector', 'daemonset', 'embedded', 'probes', 'proto', 'web/src'];
  const tools = ['lab', 'bench', 'cli', 'test'];
  assert.deepEqual([...PARTS].sort(), [...product, ...tools].sort());
  // The walls the rest rests on, whatever else the table says.
  for (const p of product)
    assert.deepEqual(
      LAYOUT.get(p)!.filter((q) => tools.includes(q)),
      [],
      `${p} may import no lab, benchmark, CLI or test code`,
    );
  assert.deepEqual(LAYOUT.get('proto'), [], 'proto/, the shared wall, imports nothing else');
  assert.deepEqual(LAYOUT.get('web/src'), ['proto'], 'the viewer imports only proto/');
});

test("every import goes the way README's layout allows", () => {
  const crossings: string[] = [];
  for (const [part, allowed] of LAYOUT)
    for (const file of sources(part))
      for (const { target } of importsOf(file)) {
        const to = partOf(target);
        if (to !== part && !(to && allowed.includes(to)))
          crossings.push(`${relative(root, file)} -> ${target}`);
      }
  assert.deepEqual(crossings, []);
});

test('the check catches an import against the layout', () => {
  // collector/ importing the viewer, and the agent importing the lab: both refused.
  const wrong = [
    ['collector', 'web/src/main.ts'],
    ['daemonset', 'lab/lab.ts'],
    ['probes', 'daemonset/agent.ts'],
  ] as const;
  for (const [part, target] of wrong) {
    const to = partOf(target)!;
    assert.ok(!LAYOUT.get(part)!.includes(to), `${part} -> ${to} is refused`);
  }
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
