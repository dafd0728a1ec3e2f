// A cgroup path made for a test (and its parents), as kubelet makes them; removed again
// after the test, deepest first, once the test has moved its processes out or ended them.
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export function cgroup(t: TestContext, root: string, path: string): string {
  const parts = path.split('/');
  const made: string[] = [];
  for (let i = 1; i <= parts.length; i++) {
    const dir = join(root, ...parts.slice(0, i));
    try {
      mkdirSync(dir);
      made.push(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  t.after(() => {
    for (const dir of made.reverse()) rmdirSync(dir);
  });
  return join(root, path);
}
