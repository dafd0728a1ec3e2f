// Decodes protobuf bytes straight into the plain objects readers get (enums as names,
// 64-bit integers as numbers, defaults filled in, absent messages undefined), with no
// message instances in between: protobufjs's decode followed by its toObject built two
// object trees per message, and decoding is a large part of the collector's CPU per batch.
//
// The result is exactly what protobufjs gives with
//   type.toObject(type.decode(bytes), {longs: Number, enums: String, bytes: Uint8Array,
//     defaults: true, arrays: true, objects: true, oneofs: true})
// with null messages turned into undefined, key order included (JSON of a decoded message
// reads the same), on good and bad input alike: the wire is read with protobufjs's own
// Reader and in the same steps as the decoder protobufjs generates (a field of the wrong
// wire type skipped as unknown, a repeated singular message merged into the first, the
// last member of a oneof winning, the same range, depth and UTF-8 checks), so malformed
// input fails where it failed before, with the same message. test/proto/codec-decode.test.ts
// holds it to that path over every message type of the contract.
//
// Each message type's decode is generated as one function (a switch on the field number
// with the reads inline, nested types called directly), as protobufjs generates its own
// decoders: a closure per field, called through a table, cost a call and a megamorphic
// dispatch per field read, and the per-field closures could not be inlined into the loop.
//
// What the contract does not use (groups, closed enums, required fields, 64-bit map keys,
// bytes map values) is refused when a decoder is built, rather than decoded differently.
import protobuf from 'protobufjs/light.js';

type Plain = Record<string, unknown>;
type Reader = protobuf.Reader;

export interface MessageDecoder {
  /** Decodes everything the reader holds. */
  whole(r: Reader): Plain;
}

// Copied into objects without a prototype: a type name looked up must be one of their
// own, not `constructor`.
const wireTypes: Record<string, number | undefined> = Object.assign(
  Object.create(null),
  protobuf.types.basic,
);
const packable: Record<string, number | undefined> = Object.assign(
  Object.create(null),
  protobuf.types.packed,
);
const typeDefaults: Record<string, unknown> = Object.assign(
  Object.create(null),
  protobuf.types.defaults,
);
const LENGTH_DELIMITED = 2;

/** protobufjs's edition features: proto3 strings are checked as UTF-8 ("VERIFY"). */
interface WithFeatures {
  _features?: { utf8_validation?: string; enum_type?: string };
}

function features(of: protobuf.ReflectionObject): WithFeatures['_features'] {
  return (of as unknown as WithFeatures)._features;
}

function unsupported(field: protobuf.FieldBase, what: string): Error {
  return new Error(`plain decoder: ${field.fullName} is ${what}, which it does not handle`);
}

// 64-bit varints as numbers (codec.ts turns Long off) without protobufjs's LongBits object
// per value: 64-bit reads were the largest allocation of a decoded batch. The reader's own
// read (readLongVarint, then LongBits.toNumber) succeeds exactly when the varint ends
// within the bytes left and within ten bytes (its fast and careful routes differ only in
// where they check the end), and every route builds the value with the same steps, done
// here on two numbers. Where it would fail, it is called to fail with its own message.
function readVarint64(r: Reader, unsigned: boolean): number {
  const buf = r.buf;
  const start = r.pos;
  const end = start + Math.min(r.len - start, 10);
  let pos = start;
  let lo = 0;
  let b = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= end) return failing(r, unsigned);
    b = buf[pos++]!;
    lo = (lo | ((b & 127) << shift)) >>> 0;
    if (b < 128) {
      r.pos = pos;
      return lo;
    }
  }
  if (pos >= end) return failing(r, unsigned);
  b = buf[pos++]!;
  lo = (lo | ((b & 127) << 28)) >>> 0;
  let hi = (b & 127) >> 4;
  for (let shift = 3; b >= 128; shift += 7) {
    if (pos >= end) return failing(r, unsigned);
    b = buf[pos++]!;
    hi = (hi | ((b & 127) << shift)) >>> 0;
  }
  r.pos = pos;
  // LongBits.toNumber.
  if (!unsigned && hi >>> 31) {
    const negLo = (~lo + 1) >>> 0;
    let negHi = ~hi >>> 0;
    if (!negLo) negHi = (negHi + 1) >>> 0;
    return -(negLo + negHi * 4294967296);
  }
  return lo + hi * 4294967296;
}

/** The reader's own 64-bit read, from where readVarint64 started: it throws. */
function failing(r: Reader, unsigned: boolean): number {
  // A number, not a Long: codec.ts turns Long off before any decoder runs.
  return (unsigned ? r.uint64() : r.int64()) as unknown as number;
}

const readUint64 = (r: Reader): number => readVarint64(r, true);
const readInt64 = (r: Reader): number => readVarint64(r, false);

function indexOutOfRange(r: Reader, length: number): RangeError {
  return new RangeError(`index out of range: ${r.pos} + ${length || 1} > ${r.len}`);
}

/** A packed run of 64-bit varints, as the reader's uint64s()/int64s() read it. */
function readPacked64(r: Reader, into: number[], unsigned: boolean): void {
  const end = r.size() + r.pos;
  const len = r.len;
  if (end > len) throw indexOutOfRange(r, end - r.pos);
  r.len = end;
  while (r.pos < end) into.push(readVarint64(r, unsigned));
  if (r.pos !== end) throw new RangeError('index out of range');
  r.len = len;
}

/** An enum's names by value: an array where the values are small and not negative. */
function enumNames(enumType: protobuf.Enum): Record<number, string> | string[] {
  const ids = Object.keys(enumType.valuesById).map(Number);
  if (ids.every((id) => Number.isInteger(id) && id >= 0 && id < 1024)) {
    const names: string[] = [];
    for (const id of ids) names[id] = enumType.valuesById[id]!;
    return names;
  }
  const names: Record<number, string> = Object.create(null);
  for (const id of ids) names[id] = enumType.valuesById[id]!;
  return names;
}

/** A reader method for a scalar type; 64-bit varints by readVarint64. */
function scalarRead(field: protobuf.FieldBase, type: string): string {
  if (type === 'string')
    return features(field)?.utf8_validation === 'VERIFY' ? 'r.stringVerify()' : 'r.string()';
  if (type === 'uint64') return 'readUint64(r)';
  if (type === 'int64') return 'readInt64(r)';
  return `r.${type}()`;
}

const mapKeyTypes = new Set(['string', 'int32', 'uint32', 'sint32', 'fixed32', 'sfixed32', 'bool']);

/** Source of the decoders of a message type and every type it reaches. */
class Generator {
  readonly types: protobuf.Type[] = [];
  private readonly index = new Map<protobuf.Type, number>();
  /** Values the generated code refers to by name: enum names, oneof orderings. */
  readonly values: [name: string, value: unknown][] = [];
  private readonly enums = new Map<protobuf.Enum, string>();
  readonly functions: string[] = [];

  /** The name of a type's decode function, generating it on first use. */
  decoderOf(type: protobuf.Type): string {
    let at = this.index.get(type);
    if (at === undefined) {
      at = this.types.length;
      this.types.push(type);
      this.index.set(type, at);
      this.functions.push(this.messageFunction(type, at));
    }
    return `d${at}`;
  }

  /** The name of a type's factory of its default message (map values only). */
  factoryOf(type: protobuf.Type): string {
    return this.decoderOf(type).replace('d', 'c');
  }

  private enumOf(enumType: protobuf.Enum): string {
    let name = this.enums.get(enumType);
    if (name === undefined) {
      name = `e${this.enums.size}`;
      this.enums.set(enumType, name);
      this.values.push([name, enumNames(enumType)]);
    }
    return name;
  }

  /** An expression: the enum's name for `value`, or the number itself when it has none. */
  private named(enumType: protobuf.Enum, value: string): string {
    return `(${this.enumOf(enumType)}[${value}] ?? ${value})`;
  }

  private messageFunction(type: protobuf.Type, at: number): string {
    const fields = type.fieldsArray.slice().sort((a, b) => a.id - b.id);
    for (const field of fields) field.resolve();
    // A field or oneof named as something every object has (`constructor`, `__proto__`,
    // `toString`) would be read through the prototype (a merge target that is a built-in)
    // or set it: refused, as the contract has none.
    for (const name of [...fields.map((f) => f.name), ...type.oneofsArray.map((o) => o.name)])
      if (name in Object.prototype)
        throw new Error(`plain decoder: ${type.fullName} has a field or oneof named ${name}`);
    const defaults: [key: string, value: string][] = [];
    const oneofOrder: [member: string, oneof: string | undefined][] = [];

    // toObject's key order: repeated fields, then maps, then the other fields outside
    // oneofs (each group by field number), then each set oneof member and its oneof's name.
    const source = (value: unknown) => (value === undefined ? 'undefined' : JSON.stringify(value));
    for (const field of fields)
      if (!field.partOf && field.repeated) defaults.push([field.name, '[]']);
    for (const field of fields) if (!field.partOf && field.map) defaults.push([field.name, '{}']);
    for (const field of fields) {
      if (field.partOf || field.repeated || field.map) continue;
      const resolved = field.resolvedType;
      let value: string;
      if (resolved instanceof protobuf.Type) value = 'undefined';
      else if (resolved instanceof protobuf.Enum)
        value = source(resolved.valuesById[field.typeDefault as number]);
      else if (field.type === 'bytes') value = 'newBuffer([])';
      else value = source(field.typeDefault);
      defaults.push([field.name, value]);
    }
    const keys = defaults.map(([key]) => key);
    for (const field of fields)
      if (field.partOf)
        oneofOrder.push([
          field.name,
          field.partOf.isProto3Optional ? undefined : field.partOf.name,
        ]);
    // An object literal: V8 builds it from one shape with every property in the object.
    const literal = `{${defaults.map(([key, value]) => `${JSON.stringify(key)}: ${value}`).join(', ')}}`;

    // Which member of a oneof is set is named last, after the member: a later member
    // replaces an earlier one, and the keys are put back in toObject's order at the end.
    let result = 'm';
    if (oneofOrder.length > 0) {
      const ordered = (value: Plain): Plain => {
        const out: Plain = {};
        for (const key of keys) out[key] = value[key];
        for (const [member, oneof] of oneofOrder)
          if (Object.hasOwn(value, member)) {
            out[member] = value[member];
            if (oneof !== undefined) out[oneof] = value[oneof];
          }
        return out;
      };
      this.values.push([`o${at}`, ordered]);
      result = `o${at}(m)`;
    }

    const cases = fields.map((field) => `case ${field.id}: {\n${this.fieldCase(field)}\n}`);
    // protobufjs passes the whole tag where a message has no fields at all.
    const loop =
      fields.length === 0
        ? 'r.skipType(t & 7, q, t);'
        : `switch (t >>> 3) {\n${cases.join('\n')}\n}\nr.skipType(t & 7, q, t >>> 3);`;
    return `
function d${at}(r, l, q, m) {
  var c, s, n, v;
  if (l === undefined) c = r.len;
  else {
    if (q > Reader.recursionLimit) throw Error("max depth exceeded");
    c = r.pos + l;
    if (c > r.len) throw RangeError("index out of range");
    s = r.len;
    r.len = c;
  }
  if (m === undefined) m = ${literal};
  while (r.pos < c) {
    var t = r.tag();
    ${loop}
  }
  if (l !== undefined) {
    if (r.pos !== c) throw RangeError("index out of range");
    r.len = s;
  }
  return ${result};
}
function c${at}() {
  return ${literal};
}`;
  }

  /** The body of a field's case: reads one occurrence, `break` to skip it as unknown. */
  private fieldCase(field: protobuf.Field): string {
    if (field.delimited) throw unsupported(field, 'a group');
    if (field.required) throw unsupported(field, 'required');
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Enum && features(resolved)?.enum_type === 'CLOSED')
      throw unsupported(field, 'a closed enum');
    if (field instanceof protobuf.MapField) return this.mapCase(field);
    if (field.repeated) return this.repeatedCase(field);

    const key = `m[${JSON.stringify(field.name)}]`;
    let read: string;
    if (resolved instanceof protobuf.Type) {
      read = `if ((t & 7) !== 2) break;
${key} = ${this.decoderOf(resolved)}(r, r.size(), q + 1, ${key});`;
    } else if (resolved instanceof protobuf.Enum) {
      // proto3 enums start at 0, so the default read ("absent" to protobufjs) is named
      // as toObject names an absent enum: by its first value.
      if (field.typeDefault !== 0) throw unsupported(field, 'an enum whose first value is not 0');
      read = `if ((t & 7) !== 0) break;
v = r.int32();
${key} = ${this.named(resolved, 'v')};`;
    } else {
      const wireType = wireTypes[field.type];
      if (wireType === undefined) throw unsupported(field, field.type);
      // protobufjs drops a default read as absent and toObject puts the field's default
      // back: the same value only where the default is the type's zero, as proto3 has it.
      const zero = typeDefaults[field.type];
      const custom =
        field.type === 'bytes'
          ? (field.typeDefault as ArrayLike<number>).length > 0
          : !Object.is(field.typeDefault, zero);
      if (custom) throw unsupported(field, 'a field with a custom default');
      // An empty value is "absent" to protobufjs: toObject gives a fresh empty Buffer.
      read =
        field.type === 'bytes' && !field.partOf
          ? `if ((t & 7) !== ${wireType}) break;
v = r.bytes(); ${key} = v.length > 0 ? v : newBuffer([]);`
          : `if ((t & 7) !== ${wireType}) break;
${key} = ${scalarRead(field, field.type)};`;
    }
    const oneof = field.partOf;
    if (!oneof) return `${read}\ncontinue;`;
    const others = oneof.oneof
      .filter((member) => member !== field.name)
      .map((member) => JSON.stringify(member))
      .map((member) => `if (Object.hasOwn(m, ${member})) delete m[${member}];`);
    const setName = oneof.isProto3Optional
      ? ''
      : `m[${JSON.stringify(oneof.name)}] = ${JSON.stringify(field.name)};`;
    return `${read}\n${others.join('\n')}\n${setName}\ncontinue;`;
  }

  private repeatedCase(field: protobuf.Field): string {
    const list = `m[${JSON.stringify(field.name)}]`;
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type)
      return `if ((t & 7) !== 2) break;
${list}.push(${this.decoderOf(resolved)}(r, r.size(), q + 1, undefined));
continue;`;
    const type = resolved instanceof protobuf.Enum ? 'int32' : field.type;
    const wireType = wireTypes[type];
    if (wireType === undefined) throw unsupported(field, type);
    const isPackable = packable[type] !== undefined;
    if (resolved instanceof protobuf.Enum) {
      return `if ((t & 7) === 2) {
  v = ${list};
  var from = v.length;
  r.int32s(v);
  for (; from < v.length; from++) { n = v[from]; v[from] = ${this.named(resolved, 'n')}; }
  continue;
}
if ((t & 7) !== ${wireType}) break;
v = r.int32();
${list}.push(${this.named(resolved, 'v')});
continue;`;
    }
    let packed = '';
    if (isPackable) {
      const read =
        type === 'uint64'
          ? `readPacked64(r, ${list}, true);`
          : type === 'int64'
            ? `readPacked64(r, ${list}, false);`
            : `r.${type}s(${list});`;
      packed = `if ((t & 7) === 2) { ${read} continue; }\n`;
    }
    return `${packed}if ((t & 7) !== ${wireType}) break;
${list}.push(${scalarRead(field, type)});
continue;`;
  }

  private mapCase(field: protobuf.MapField): string {
    const keyType = field.keyType;
    if (!mapKeyTypes.has(keyType)) throw unsupported(field, `a map keyed by ${keyType}`);
    const keyWire = wireTypes[keyType]!;
    const readKey = scalarRead(field, keyType);
    const keyDefault = JSON.stringify(typeDefaults[keyType]);

    const resolved = field.resolvedType;
    let valueWire: number;
    let readValue: string;
    let finish: string;
    let valueDefault: string;
    if (resolved instanceof protobuf.Type) {
      valueWire = LENGTH_DELIMITED;
      readValue = `v = ${this.decoderOf(resolved)}(r, r.size(), q + 1, v);`;
      finish = `v === undefined ? ${this.factoryOf(resolved)}() : v`;
      valueDefault = 'undefined';
    } else {
      const type = resolved instanceof protobuf.Enum ? 'int32' : field.type;
      if (type === 'bytes') throw unsupported(field, 'a map of bytes');
      const wireType = wireTypes[type];
      if (wireType === undefined) throw unsupported(field, type);
      valueWire = wireType;
      readValue = `v = ${scalarRead(field, type)};`;
      finish = resolved instanceof protobuf.Enum ? this.named(resolved, 'v') : 'v';
      valueDefault = JSON.stringify(typeDefaults[type]);
    }
    // me, ml: the entry's end and the length to restore; p: the key, v: the value.
    return `if ((t & 7) !== 2) break;
var me = r.size() + r.pos;
if (me > r.len) throw RangeError("index out of range");
var ml = r.len;
r.len = me;
var p = ${keyDefault};
v = ${valueDefault};
while (r.pos < me) {
  var mt = r.tag();
  if (mt >>> 3 === 1 && (mt & 7) === ${keyWire}) p = ${readKey};
  else if (mt >>> 3 === 2 && (mt & 7) === ${valueWire}) { ${readValue} }
  else r.skipType(mt & 7, q, mt >>> 3);
}
if (r.pos !== me) throw RangeError("index out of range");
r.len = ml;
p = String(p);
var entries = m[${JSON.stringify(field.name)}];
// A key "__proto__" is an own property, as protobufjs makes it, not the prototype.
if (p === "__proto__") makeProp(entries, p);
entries[p] = ${finish};
continue;`;
  }
}

type Decode = (r: Reader, length: undefined, depth: number, target: undefined) => Plain;

// Built once per message type: the reflection does not change once the contract is loaded.
const built = new WeakMap<protobuf.Type, MessageDecoder>();

export function plainDecoder(type: protobuf.Type): MessageDecoder {
  const known = built.get(type);
  if (known) return known;
  const generator = new Generator();
  const root = generator.decoderOf(type);
  const helpers: [string, unknown][] = [
    ['Reader', protobuf.Reader],
    ['newBuffer', protobuf.util.newBuffer],
    ['makeProp', protobuf.util.makeProp],
    ['readUint64', readUint64],
    ['readInt64', readInt64],
    ['readPacked64', readPacked64],
  ];
  const values = [...helpers, ...generator.values];
  // Generated code, from the contract's reflection only (field names JSON-encoded, field
  // numbers, wire types, defaults, names of the values passed in); never from decoded
  // input. One source for a type and all it reaches, so that nested decoders are direct
  // calls V8 can inline.
  const source = `"use strict";\n${generator.functions.join('\n')}\nreturn ${root};`;
  const make = new Function(...values.map(([name]) => name), source);
  const decode = make(...values.map(([, value]) => value)) as Decode;
  const decoder: MessageDecoder = { whole: (r) => decode(r, undefined, 0, undefined) };
  built.set(type, decoder);
  return decoder;
}
