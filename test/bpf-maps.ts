// The entries of the kernel maps of a name, read with bpftool: the truth a test checks the
// runner's maps against (one runner runs at a time in the tests, so a name is its map).
import { execFileSync } from 'node:child_process';

interface MapInfo {
  id: number;
  name?: string;
  max_entries: number;
}

const mapsNamed = (name: string): MapInfo[] =>
  (
    JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8' })) as MapInfo[]
  ).filter((m) => m.name === name);

/** The sizes the kernel gave the maps of a name. */
export function bpfMapMaxEntries(name: string): number[] {
  return mapsNamed(name).map((m) => m.max_entries);
}

export function bpfMapEntries<T>(name: string): T[] {
  return mapsNamed(name).flatMap(
    (m) =>
      JSON.parse(
        execFileSync('bpftool', ['-j', 'map', 'dump', 'id', String(m.id)], {
          encoding: 'utf8',
          maxBuffer: 256 * 2 ** 20,
        }),
      ) as T[],
  );
}
