// The entries of the kernel maps of a name, read with bpftool: the truth a test checks the
// runner's maps against (one runner runs at a time in the tests, so a name is its map).
import { execFileSync } from 'node:child_process';

export function bpfMapEntries<T>(name: string): T[] {
  const maps = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8' })) as {
    id: number;
    name?: string;
  }[];
  return maps
    .filter((m) => m.name === name)
    .flatMap(
      (m) =>
        JSON.parse(
          execFileSync('bpftool', ['-j', 'map', 'dump', 'id', String(m.id)], {
            encoding: 'utf8',
            maxBuffer: 256 * 2 ** 20,
          }),
        ) as T[],
    );
}
