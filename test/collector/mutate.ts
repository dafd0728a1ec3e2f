// Fuzzing inputs from a seed: a small deterministic PRNG, byte-level mutations of encoded
// messages and files, and structural mutations of JSON documents. A failing case names
// its seed and index, so it can be run again exactly.

/** mulberry32: 32-bit state, good enough to pick mutations, and reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export type Random = () => number;
const int = (random: Random, n: number) => Math.floor(random() * n);
const pick = <T>(random: Random, items: readonly T[]): T => items[int(random, items.length)]!;

export function randomBytes(random: Random, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => int(random, 256));
}

/** One to four byte-level edits: flips, overwrites, truncation, deletion, insertion, repetition. */
export function mutateBytes(random: Random, input: Uint8Array): Uint8Array {
  let bytes: Uint8Array = Uint8Array.from(input);
  const edits = 1 + int(random, 4);
  for (let e = 0; e < edits && bytes.length > 0; e++) {
    const at = int(random, bytes.length);
    switch (int(random, 6)) {
      case 0:
        bytes[at]! ^= 1 << int(random, 8);
        break;
      case 1:
        bytes[at] = pick(random, [0x00, 0x7f, 0x80, 0xff]);
        break;
      case 2:
        bytes = bytes.slice(0, at);
        break;
      case 3:
        bytes = Uint8Array.from([...bytes.slice(0, at), ...bytes.slice(at + 1 + int(random, 16))]);
        break;
      case 4:
        bytes = Uint8Array.from([
          ...bytes.slice(0, at),
          ...randomBytes(random, 1 + int(random, 8)),
          ...bytes.slice(at),
        ]);
        break;
      default: {
        const length = 1 + int(random, 32);
        const piece = bytes.slice(at, at + length);
        bytes = Uint8Array.from([...bytes.slice(0, at), ...piece, ...piece, ...bytes.slice(at)]);
      }
    }
  }
  return bytes;
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const ODD_VALUES: readonly Json[] = [
  null,
  true,
  0,
  -1,
  1.5,
  2 ** 53,
  1e308,
  -1e308,
  '',
  'x',
  '9007199254740993',
  "'; DROP TABLE sessions; --",
  '<script>alert(1)</script>',
  '\u0000\u001b[31m\u202e',
  'y'.repeat(70_000),
  [],
  {},
  [1, 'a', null],
  { nested: { deeper: [{}] } },
];

/** Every path to a value in the document, objects and arrays included. */
function paths(value: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(prefix);
  if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value))
      paths(v, [...prefix, Array.isArray(value) ? Number(k) : k], out);
  return out;
}

/** One to three structural edits: a value replaced by an odd one, a key removed or added, a list emptied or grown. */
export function mutateJson(random: Random, document: Json): Json {
  const copy = structuredClone(document);
  const edits = 1 + int(random, 3);
  for (let e = 0; e < edits; e++) {
    const path = pick(random, paths(copy).slice(1));
    if (!path) break;
    let parent = copy as Record<string | number, Json>;
    for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, Json>;
    const key = path.at(-1)!;
    const value = parent[key];
    switch (int(random, 5)) {
      case 0:
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete parent[key];
        break;
      case 1:
        if (value && typeof value === 'object' && !Array.isArray(value))
          (value as Record<string, Json>)[`extra_${int(random, 100)}`] = pick(random, ODD_VALUES);
        else parent[key] = pick(random, ODD_VALUES);
        break;
      case 2:
        if (Array.isArray(value)) value.push(...value.slice(0, 1 + int(random, 3)));
        else parent[key] = pick(random, ODD_VALUES);
        break;
      case 3:
        if (typeof value === 'number')
          parent[key] = pick(random, [-value, value + 0.5, value * 2 ** 40]);
        else parent[key] = pick(random, ODD_VALUES);
        break;
      default:
        parent[key] = pick(random, ODD_VALUES);
    }
  }
  return copy;
}
