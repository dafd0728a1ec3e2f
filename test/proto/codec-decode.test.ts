// The codec's decode (proto/plain-decoder.ts) against the path it replaced, protobufjs's
// decode + toObject + the null fix (bench/proto-decode-reference.ts), over every message
// type of the contract: random messages with edge values, concatenations (protobuf's merge),
// fields appended raw (unknown numbers, wrong wire types, enum values no enum has), and
// malformed bytes. Same result, key order included, or the same ProtoDecodeError.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import protobuf from 'protobufjs/light.js';
import { referenceDecoder } from '../../bench/proto-decode-reference.js';
import { codec, ProtoDecodeError } from '../../proto/codec.js';
import { Batch, root } from '../../proto/gen/tollgate/v1.js';

type Plain = Record<string, unknown>;

// A fixed seed: every run checks the same inputs, so a failure reproduces.
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const random = prng(20_250_601);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(values: readonly T[]): T => values[int(values.length)]!;

const edgeNumbers: Record<string, readonly number[]> = {
  uint32: [0, 1, 127, 128, 2 ** 31, 2 ** 32 - 1],
  int32: [0, 1, -1, -(2 ** 31), 2 ** 31 - 1],
  uint64: [0, 1, 2 ** 32, 2 ** 53 - 1],
  int64: [0, -1, 2 ** 53 - 1, -(2 ** 53 - 1), 1_795_000_000_000],
  double: [0, -0, 0.1, -1e308, 5e-324, Number.POSITIVE_INFINITY, Number.NaN],
};
const strings = ['', 'a', 'haproxy', 'ünïcödé', '🦀 emoji', 'x'.repeat(70), '__proto__'];

function scalar(type: string): unknown {
  const edges = edgeNumbers[type];
  const edge = random() < 0.4;
  switch (type) {
    case 'string':
      return random() < 0.5 ? pick(strings) : `s${int(1e6)}`;
    case 'bool':
      return random() < 0.5;
    case 'uint32':
      return edge ? pick(edges!) : int(2 ** 32);
    case 'int32':
      return edge ? pick(edges!) : int(2 ** 32) - 2 ** 31;
    case 'uint64':
      return edge ? pick(edges!) : int(2 ** 53);
    case 'int64':
      return edge ? pick(edges!) : int(2 ** 53) * (random() < 0.5 ? -1 : 1);
    case 'double':
      return edge ? pick(edges!) : (random() - 0.5) * 1e6;
    default:
      throw new Error(`no generator for ${type}: the contract grew, extend this test`);
  }
}

function fieldValue(field: protobuf.Field, depth: number): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type)
    return depth > 4 ? {} : message(resolved, depth + 1, random() < 0.3);
  if (resolved instanceof protobuf.Enum) return pick(Object.keys(resolved.values));
  return scalar(field.type);
}

/** A random message of `type` as encode takes it; `empty`: no fields at all. */
function message(type: protobuf.Type, depth = 0, empty = false): Plain {
  const value: Plain = {};
  if (empty) return value;
  const oneofMembers = new Set(type.oneofsArray.flatMap((o) => o.oneof));
  for (const field of type.fieldsArray) {
    field.resolve();
    if (oneofMembers.has(field.name) || random() < 0.2) continue;
    if (field instanceof protobuf.MapField) {
      const entries: Plain = {};
      for (let i = int(4); i > 0; i--)
        Object.defineProperty(entries, pick(strings), {
          value: scalar('string'),
          enumerable: true,
          configurable: true,
          writable: true,
        });
      value[field.name] = entries;
    } else if (field.repeated)
      value[field.name] = Array.from({ length: int(4) }, () => fieldValue(field, depth));
    else value[field.name] = fieldValue(field, depth);
  }
  for (const oneof of type.oneofsArray) {
    const member = type.fields[pick([...oneof.oneof, ''])];
    if (member) value[member.name] = fieldValue(member, depth);
  }
  return value;
}

/** One field appended as raw wire bytes: maybe unknown, maybe of the wrong wire type. */
function rawField(type: protobuf.Type): Uint8Array {
  const writer = protobuf.Writer.create();
  const id = random() < 0.7 ? pick(type.fieldsArray).id : 100 + int(1000);
  const wire = pick([0, 0, 1, 2, 2, 5]);
  writer.uint32(((id << 3) | wire) >>> 0);
  if (wire === 0) writer.int32(pick([0, 1, 2, 3, 7, 99, -1, -5]));
  else if (wire === 1) writer.fixed64(int(2 ** 32));
  else if (wire === 5) writer.fixed32(int(2 ** 32));
  else {
    const inner = random() < 0.5 ? new Uint8Array([8, int(128)]) : new Uint8Array([int(256)]);
    writer.bytes(inner);
  }
  return writer.finish();
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const messageTypes: protobuf.Type[] = [];
(function collect(namespace: protobuf.NamespaceBase) {
  for (const nested of namespace.nestedArray) {
    if (nested instanceof protobuf.Type) messageTypes.push(nested);
    if (nested instanceof protobuf.Namespace) collect(nested);
  }
})(root);

/** Same keys in the same order, all the way down (deepStrictEqual ignores order). */
function keyOrders(value: unknown, path = '$'): string[] {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return [];
  const here = Array.isArray(value) ? [] : [`${path}: ${Object.keys(value).join(',')}`];
  return here.concat(
    ...Object.entries(value).map(([key, member]) => keyOrders(member, `${path}.${key}`)),
  );
}

type Outcome = { value: unknown } | { error: string };
function outcome(decode: (bytes: Uint8Array) => unknown, bytes: Uint8Array): Outcome {
  try {
    return { value: decode(bytes) };
  } catch (error) {
    assert.ok(error instanceof ProtoDecodeError, `not a ProtoDecodeError: ${String(error)}`);
    return { error: error.message };
  }
}

function agree(type: protobuf.Type, bytes: Uint8Array, what: string): 'value' | 'error' {
  const name = type.fullName.slice(1);
  const plain = codec<unknown>(root, name).decode;
  const reference = referenceDecoder(root, name);
  let result: 'value' | 'error' = 'value';
  // Both readers protobufjs picks: Buffer (what gRPC hands over) and plain Uint8Array.
  for (const input of [Buffer.from(bytes), new Uint8Array(bytes)]) {
    const expected = outcome(reference, input);
    const actual = outcome(plain, input);
    assert.deepStrictEqual(actual, expected, `${name}, ${what}`);
    if ('value' in expected && 'value' in actual)
      assert.deepStrictEqual(keyOrders(actual.value), keyOrders(expected.value), `${name} order`);
    else result = 'error';
  }
  return result;
}

test('the contract has oneofs and maps, so both are exercised below', () => {
  assert.ok(messageTypes.some((t) => t.oneofsArray.length > 0));
  assert.ok(messageTypes.some((t) => t.fieldsArray.some((f) => f.map)));
  assert.ok(messageTypes.length >= 40, `${messageTypes.length} message types`);
});

test('every message type decodes as decode + toObject + null fix did', () => {
  for (const type of messageTypes) {
    const encode = (value: Plain) => type.encode(type.fromObject(value)).finish();
    agree(type, new Uint8Array(0), 'empty');
    for (let i = 0; i < 60; i++) {
      const one = encode(message(type));
      agree(type, one, 'random');
      // Concatenation is protobuf's merge: singular messages merge, repeated fields append,
      // the later oneof member wins.
      agree(type, concat(one, encode(message(type))), 'merged');
      agree(type, concat(one, rawField(type), rawField(type)), 'raw fields appended');
    }
  }
});

test('an enum value no enum has stays a number, as toObject leaves it', () => {
  // Histogram.layout (field 1) = 7, then 2^31-1 as a varint: not HistogramLayout values.
  const type = root.lookupType('tollgate.v1.Histogram');
  agree(type, new Uint8Array([8, 7]), 'enum 7');
  const decoded = codec<Plain>(root, 'tollgate.v1.Histogram').decode(new Uint8Array([8, 7]));
  assert.equal(decoded.layout, 7);
});

test('malformed bytes: the same ProtoDecodeError, at every truncation and for byte flips', () => {
  let errors = 0;
  for (const type of messageTypes) {
    const bytes = type.encode(type.fromObject(message(type))).finish();
    for (let cut = 0; cut < bytes.length; cut++)
      if (agree(type, bytes.subarray(0, cut), `cut at ${cut}`) === 'error') errors++;
    for (let i = 0; i < 20 && bytes.length > 0; i++) {
      const flipped = new Uint8Array(bytes);
      flipped[int(flipped.length)] = int(256);
      if (agree(type, flipped, 'byte flipped') === 'error') errors++;
    }
  }
  // The comparison above means something only if many of these inputs do fail.
  assert.ok(errors > 500, `${errors} malformed inputs failed`);
});

test('invalid UTF-8 in a string fails, as protobufjs verifies proto3 strings', () => {
  const type = root.lookupType('tollgate.v1.Batch');
  const bytes = new Uint8Array([0x0a, 2, 0xc3, 0x28]); // agent_id: a broken 2-byte sequence
  assert.equal(agree(type, bytes, 'bad utf-8'), 'error');
  assert.throws(() => Batch.decode(bytes), ProtoDecodeError);
});

test('a map key "__proto__" is an own entry, not the prototype', () => {
  const type = root.lookupType('tollgate.v1.PodRef');
  const entries: Plain = {};
  Object.defineProperty(entries, '__proto__', { value: 'x', enumerable: true });
  const bytes = type.encode(type.fromObject({ labels: entries })).finish();
  agree(type, bytes, '__proto__ key');
  const decoded = codec<{ labels: Plain }>(root, 'tollgate.v1.PodRef').decode(bytes);
  assert.deepEqual(Object.keys(decoded.labels), ['__proto__']);
  assert.equal(Object.getPrototypeOf(decoded.labels), Object.prototype);
});

/** A varint of `length` bytes with random bits; 11 bytes is longer than any 64-bit one. */
function rawVarint(length: number): number[] {
  return Array.from({ length }, (_, i) => (i < length - 1 ? 128 : 0) | int(128));
}

test('64-bit varints of every length, at every distance from the end of their message', () => {
  // The decoder reads 64-bit varints itself (no LongBits object per value): hold it to
  // protobufjs's reader where the message, or the packed run, ends within ten bytes.
  const histogram = root.lookupType('tollgate.v1.Histogram');
  const batch = root.lookupType('tollgate.v1.Batch');
  const outcomes = { value: 0, error: 0 };
  for (let length = 1; length <= 11; length++)
    for (let trial = 0; trial < 6; trial++)
      for (let padding = -1; padding <= 10; padding++) {
        // After the value: nothing, or an unknown field 100 holding `padding` bytes.
        const after = padding < 0 ? [] : [0xa2, 0x06, padding, ...new Array(padding).fill(7)];
        const packed = [...rawVarint(1 + int(10)), ...rawVarint(length), ...rawVarint(1)];
        const inputs: [protobuf.Type, number[]][] = [
          [histogram, [0x20, ...rawVarint(length), ...after]], // sum_ns, uint64
          [histogram, [0x1a, packed.length, ...packed, ...after]], // counts, packed uint64
          [histogram, [0x18, ...rawVarint(length), ...after]], // counts, one unpacked
          [batch, [0x28, ...rawVarint(length), ...after]], // interval_start_unix_ms, int64
          // The same Batch field inside an AgentMessage: the nested message's end is the limit.
          [
            root.lookupType('tollgate.v1.AgentMessage'),
            [0x12, length + 1, 0x28, ...rawVarint(length), ...after],
          ],
        ];
        for (const [type, bytes] of inputs) {
          const whole = new Uint8Array(bytes);
          for (let cut = 1; cut <= whole.length; cut++)
            outcomes[agree(type, whole.subarray(0, cut), `varint of ${length}, cut at ${cut}`)]++;
        }
      }
  // Both outcomes are compared above, many times each.
  assert.ok(outcomes.value > 1000 && outcomes.error > 1000, JSON.stringify(outcomes));
});
