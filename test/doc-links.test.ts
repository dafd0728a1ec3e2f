// README and the documents beside it link to each other's sections and to files of the
// repository: every such link leads somewhere, so a section moved or renamed cannot leave
// a reader at a dead end.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const DOCUMENTS = [
  'README.md',
  'bench/results/HISTORY.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}

/** A document's text without its code blocks, whose lines are neither links nor headings. */
const prose = (file: string) =>
  readFileSync(join(root, file), 'utf8').replace(/```[\s\S]*?```/g, '');

const anchors = new Map<string, Set<string>>();
function anchorsIn(file: string): Set<string> {
  let found = anchors.get(file);
  if (!found) {
    found = new Set([...prose(file).matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchorOf(m[1]!)));
    anchors.set(file, found);
  }
  return found;
}

test('a heading anchor is what GitHub makes of it', () => {
  assert.equal(
    anchorOf('What "added latency" means, and how it is checked'),
    'what-added-latency-means-and-how-it-is-checked',
  );
  assert.equal(anchorOf("The neighbours' wait: the CPU"), 'the-neighbours-wait-the-cpu');
});

test('every link in README and the documents beside it leads to a file and a heading there', () => {
  const broken: string[] = [];
  let links = 0;
  for (const file of DOCUMENTS) {
    for (const [, target] of prose(file).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue; // a web address
      links++;
      const [path, anchor] = target!.split('#') as [string, string | undefined];
      const resolved = path ? relative(root, join(dirname(join(root, file)), path)) : file;
      // Outside the repository (the team's shared design beside it): not in a clone.
      if (resolved.startsWith('..')) continue;
      if (!existsSync(join(root, resolved))) broken.push(`${file}: ${target} (no ${resolved})`);
      else if (anchor && resolved.endsWith('.md') && !anchorsIn(resolved).has(anchor))
        broken.push(`${file}: ${target} (no such heading in ${resolved})`);
    }
  }
  assert.ok(links > 40, `${links} links read`);
  assert.deepEqual(broken, []);
});
