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
// What the contract does not use (groups, closed enums, required fields, 64-bit map keys,
// bytes map values) is refused when a decoder is built, rather than decoded differently.
import protobuf from 'protobufjs/light.js';

type Plain = Record<string, unknown>;
type Reader = protobuf.Reader;

/** Reads one occurrence of a field into `into`; false when the wire type is not the
 *  field's, and the caller then skips it as an unknown field (as protobufjs does). */
type FieldReader = (r: Reader, wire: number, into: Plain, depth: number) => boolean;

interface MessageDecoder {
  /** A message with every field at its default, keys in toObject's order. */
  create(): Plain;
  /** Decodes the `length` bytes at the reader's position, merged into `target` when a
   *  singular message field occurs again (protobuf's merge rule), else into a new one. */
  nested(r: Reader, length: number, depth: number, target: Plain | undefined): Plain;
  /** Decodes everything the reader holds. */
  whole(r: Reader): Plain;
}

const wireTypes = protobuf.types.basic as Record<string, number | undefined>;
const packable = protobuf.types.packed as Record<string, number | undefined>;
const LENGTH_DELIMITED = 2;

// One small function per scalar type rather than r[method](): each call site then stays
// monomorphic in the reader's method. 64-bit reads are numbers: codec.ts turns Long off.
const scalarReads: Record<string, (r: Reader) => unknown> = {
  double: (r) => r.double(),
  float: (r) => r.float(),
  int32: (r) => r.int32(),
  uint32: (r) => r.uint32(),
  sint32: (r) => r.sint32(),
  fixed32: (r) => r.fixed32(),
  sfixed32: (r) => r.sfixed32(),
  int64: (r) => r.int64(),
  uint64: (r) => r.uint64(),
  sint64: (r) => r.sint64(),
  fixed64: (r) => r.fixed64(),
  sfixed64: (r) => r.sfixed64(),
  bool: (r) => r.bool(),
  bytes: (r) => r.bytes(),
  string: (r) => r.string(),
  stringVerify: (r) => r.stringVerify(),
};

type PackedRead = (r: Reader, into: unknown[]) => void;
const packedReads: Record<string, PackedRead> = {
  double: (r, a) => r.doubles(a as number[]),
  float: (r, a) => r.floats(a as number[]),
  int32: (r, a) => r.int32s(a as number[]),
  uint32: (r, a) => r.uint32s(a as number[]),
  sint32: (r, a) => r.sint32s(a as number[]),
  fixed32: (r, a) => r.fixed32s(a as number[]),
  sfixed32: (r, a) => r.sfixed32s(a as number[]),
  int64: (r, a) => r.int64s(a as number[]),
  uint64: (r, a) => r.uint64s(a as number[]),
  sint64: (r, a) => r.sint64s(a as number[]),
  fixed64: (r, a) => r.fixed64s(a as number[]),
  sfixed64: (r, a) => r.sfixed64s(a as number[]),
  bool: (r, a) => r.bools(a as boolean[]),
};

/** protobufjs's edition features: proto3 strings are checked as UTF-8 ("VERIFY"). */
interface WithFeatures {
  _features?: { utf8_validation?: string; enum_type?: string };
}

function features(of: protobuf.ReflectionObject): WithFeatures['_features'] {
  return (of as unknown as WithFeatures)._features;
}

function stringRead(field: protobuf.FieldBase): (r: Reader) => unknown {
  return features(field)?.utf8_validation === 'VERIFY'
    ? scalarReads.stringVerify!
    : scalarReads.string!;
}

/**
 * A function returning a new object literal with these keys and defaults. Generated code,
 * and the only generated code here: V8 builds a literal's objects from one shape, all
 * properties in the object itself, while a copy of a template ({...template}) made by a
 * function shared by every message type falls to V8's slow path, and so did a loop of
 * computed-name stores; either made this decoder slower than decode plus toObject. Keys
 * and values are written with JSON.stringify: field names and default scalars only.
 */
function literalFactory(
  defaults: readonly [string, unknown][],
  arrays: readonly string[],
  objects: readonly string[],
  bytes: readonly string[],
): () => Plain {
  const members = defaults.map(([key, value]) => {
    const name = JSON.stringify(key);
    if (arrays.includes(key)) return `${name}: []`;
    if (objects.includes(key)) return `${name}: {}`;
    if (bytes.includes(key)) return `${name}: newBuffer([])`;
    return `${name}: ${value === undefined ? 'undefined' : JSON.stringify(value)}`;
  });
  const make = new Function('newBuffer', `return () => ({${members.join(', ')}});`);
  return make(protobuf.util.newBuffer) as () => Plain;
}

function rangeError(): RangeError {
  return new RangeError('index out of range');
}

/** An enum value's name, or the number itself when the enum has no such value. */
function enumNamer(enumType: protobuf.Enum): (value: number) => unknown {
  const names = enumType.valuesById;
  return (value) => {
    const name = names[value];
    return name === undefined ? value : name;
  };
}

function unsupported(field: protobuf.FieldBase, what: string): Error {
  return new Error(`plain decoder: ${field.fullName} is ${what}, which it does not handle`);
}

type Decoders = Map<protobuf.Type, MessageDecoder>;

export function plainDecoder(type: protobuf.Type, made: Decoders = new Map()): MessageDecoder {
  const known = made.get(type);
  if (known) return known;

  const fields = type.fieldsArray.slice().sort((a, b) => a.id - b.id);
  for (const field of fields) field.resolve();
  const byId: FieldReader[] = [];
  const defaults: [string, unknown][] = [];
  const freshArrays: string[] = [];
  const freshObjects: string[] = [];
  const freshBytes: string[] = [];
  const oneofOrder: [member: string, oneof: string | undefined][] = [];

  // toObject's key order: repeated fields, then maps, then the other fields outside
  // oneofs (each group by field number), then each set oneof member and its oneof's name.
  for (const field of fields)
    if (!field.partOf && field.repeated) {
      defaults.push([field.name, undefined]);
      freshArrays.push(field.name);
    }
  for (const field of fields)
    if (!field.partOf && field.map) {
      defaults.push([field.name, undefined]);
      freshObjects.push(field.name);
    }
  for (const field of fields) {
    if (field.partOf || field.repeated || field.map) continue;
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) defaults.push([field.name, undefined]);
    else if (resolved instanceof protobuf.Enum)
      defaults.push([field.name, resolved.valuesById[field.typeDefault as number]]);
    else if (field.type === 'bytes') {
      defaults.push([field.name, undefined]);
      freshBytes.push(field.name);
    } else defaults.push([field.name, field.typeDefault]);
  }
  for (const field of fields)
    if (field.partOf)
      oneofOrder.push([field.name, field.partOf.isProto3Optional ? undefined : field.partOf.name]);

  const create = literalFactory(defaults, freshArrays, freshObjects, freshBytes);
  const template: Plain = create();

  const noFields = fields.length === 0;
  const loop = (r: Reader, end: number, depth: number, into: Plain): void => {
    while (r.pos < end) {
      const tag = r.tag();
      const wire = tag & 7;
      const id = tag >>> 3;
      const read = byId[id];
      if (read?.(r, wire, into, depth)) continue;
      // protobufjs passes the whole tag where a message has no fields at all.
      r.skipType(wire, depth, noFields ? tag : id);
    }
  };

  // Which member of a oneof is set is named last, after the member: a later member
  // replaces an earlier one, and the keys are put back in toObject's order at the end.
  const ordered =
    oneofOrder.length === 0
      ? (value: Plain) => value
      : (value: Plain): Plain => {
          const out: Plain = {};
          for (const key in template) out[key] = value[key];
          for (const [member, oneof] of oneofOrder)
            if (Object.hasOwn(value, member)) {
              out[member] = value[member];
              if (oneof !== undefined) out[oneof] = value[oneof];
            }
          return out;
        };

  const decoder: MessageDecoder = {
    create,
    nested(r, length, depth, target) {
      if (depth > protobuf.Reader.recursionLimit) throw new Error('max depth exceeded');
      const end = r.pos + length;
      if (end > r.len) throw rangeError();
      const len = r.len;
      r.len = end;
      const value = target ?? create();
      loop(r, end, depth, value);
      if (r.pos !== end) throw rangeError();
      r.len = len;
      return ordered(value);
    },
    whole(r) {
      const value = create();
      loop(r, r.len, 0, value);
      return ordered(value);
    },
  };
  made.set(type, decoder);

  for (const field of fields) byId[field.id] = fieldReader(field, made);
  return decoder;
}

function fieldReader(field: protobuf.Field, made: Decoders): FieldReader {
  if (field.delimited) throw unsupported(field, 'a group');
  if (field.required) throw unsupported(field, 'required');
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum && features(resolved)?.enum_type === 'CLOSED')
    throw unsupported(field, 'a closed enum');
  if (field instanceof protobuf.MapField) return mapReader(field, made);
  if (field.repeated) return repeatedReader(field, made);

  const name = field.name;
  let read: FieldReader;
  if (resolved instanceof protobuf.Type) {
    const inner = plainDecoder(resolved, made);
    read = (r, wire, into, depth) => {
      if (wire !== LENGTH_DELIMITED) return false;
      into[name] = inner.nested(r, r.size(), depth + 1, into[name] as Plain | undefined);
      return true;
    };
  } else if (resolved instanceof protobuf.Enum) {
    // proto3 enums start at 0, so the default read ("absent" to protobufjs) is named
    // as toObject names an absent enum: by its first value.
    if (field.typeDefault !== 0) throw unsupported(field, 'an enum whose first value is not 0');
    const namer = enumNamer(resolved);
    read = (r, wire, into) => {
      if (wire !== 0) return false;
      into[name] = namer(r.int32());
      return true;
    };
  } else {
    const wireType = wireTypes[field.type];
    const value = field.type === 'string' ? stringRead(field) : scalarReads[field.type];
    if (wireType === undefined || value === undefined) throw unsupported(field, field.type);
    // protobufjs drops a default read as absent and toObject puts the field's default back:
    // the same value only where the default is the type's zero, as proto3 has it.
    const zero = (protobuf.types.defaults as Record<string, unknown>)[field.type];
    const custom =
      field.type === 'bytes'
        ? (field.typeDefault as ArrayLike<number>).length > 0
        : !Object.is(field.typeDefault, zero);
    if (custom) throw unsupported(field, 'a field with a custom default');
    if (field.type === 'bytes' && !field.partOf) {
      // An empty value is "absent" to protobufjs: toObject gives a fresh empty Buffer.
      read = (r, wire, into) => {
        if (wire !== wireType) return false;
        const bytes = r.bytes();
        into[name] = bytes.length > 0 ? bytes : protobuf.util.newBuffer([]);
        return true;
      };
    } else
      read = (r, wire, into) => {
        if (wire !== wireType) return false;
        into[name] = value(r);
        return true;
      };
  }
  const oneof = field.partOf;
  if (!oneof) return read;
  const others = oneof.oneof.filter((member) => member !== name);
  const oneofName = oneof.isProto3Optional ? undefined : oneof.name;
  return (r, wire, into, depth) => {
    if (!read(r, wire, into, depth)) return false;
    for (const other of others) if (Object.hasOwn(into, other)) delete into[other];
    if (oneofName !== undefined) into[oneofName] = name;
    return true;
  };
}

function repeatedReader(field: protobuf.Field, made: Decoders): FieldReader {
  const name = field.name;
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) {
    const inner = plainDecoder(resolved, made);
    return (r, wire, into, depth) => {
      if (wire !== LENGTH_DELIMITED) return false;
      (into[name] as unknown[]).push(inner.nested(r, r.size(), depth + 1, undefined));
      return true;
    };
  }
  const type = resolved instanceof protobuf.Enum ? 'int32' : field.type;
  const wireType = wireTypes[type];
  const value = type === 'string' ? stringRead(field) : scalarReads[type];
  if (wireType === undefined || value === undefined) throw unsupported(field, type);
  const packed = packable[type] === undefined ? undefined : packedReads[type];
  if (resolved instanceof protobuf.Enum) {
    const namer = enumNamer(resolved);
    return (r, wire, into) => {
      const list = into[name] as unknown[];
      if (packed !== undefined && wire === LENGTH_DELIMITED) {
        const from = list.length;
        packed(r, list);
        for (let i = from; i < list.length; i++) list[i] = namer(list[i] as number);
        return true;
      }
      if (wire !== wireType) return false;
      list.push(namer(r.int32()));
      return true;
    };
  }
  return (r, wire, into) => {
    const list = into[name] as unknown[];
    if (packed !== undefined && wire === LENGTH_DELIMITED) {
      packed(r, list);
      return true;
    }
    if (wire !== wireType) return false;
    list.push(value(r));
    return true;
  };
}

const mapKeyTypes = new Set(['string', 'int32', 'uint32', 'sint32', 'fixed32', 'sfixed32', 'bool']);

function mapReader(field: protobuf.MapField, made: Decoders): FieldReader {
  const name = field.name;
  const keyType = field.keyType;
  if (!mapKeyTypes.has(keyType)) throw unsupported(field, `a map keyed by ${keyType}`);
  const keyWire = wireTypes[keyType]!;
  const readKey = keyType === 'string' ? stringRead(field) : scalarReads[keyType]!;
  const keyDefault = (protobuf.types.defaults as Record<string, unknown>)[keyType];

  const resolved = field.resolvedType;
  let valueWire: number;
  let readValue: (r: Reader, depth: number, previous: unknown) => unknown;
  let finishValue: (value: unknown) => unknown;
  let valueDefault: unknown;
  if (resolved instanceof protobuf.Type) {
    const inner = plainDecoder(resolved, made);
    valueWire = LENGTH_DELIMITED;
    readValue = (r, depth, previous) =>
      inner.nested(r, r.size(), depth + 1, previous as Plain | undefined);
    finishValue = (value) => value ?? inner.create();
    valueDefault = undefined;
  } else {
    const type = resolved instanceof protobuf.Enum ? 'int32' : field.type;
    if (type === 'bytes') throw unsupported(field, 'a map of bytes');
    const wireType = wireTypes[type];
    const value = type === 'string' ? stringRead(field) : scalarReads[type];
    if (wireType === undefined || value === undefined) throw unsupported(field, type);
    valueWire = wireType;
    readValue = (r) => value(r);
    if (resolved instanceof protobuf.Enum) {
      const namer = enumNamer(resolved);
      finishValue = (v) => namer(v as number);
    } else finishValue = (v) => v;
    valueDefault = (protobuf.types.defaults as Record<string, unknown>)[type];
  }

  return (r, wire, into, depth) => {
    if (wire !== LENGTH_DELIMITED) return false;
    const entries = into[name] as Plain;
    const end = r.size() + r.pos;
    if (end > r.len) throw rangeError();
    const len = r.len;
    r.len = end;
    let key = keyDefault;
    let value = valueDefault;
    while (r.pos < end) {
      const tag = r.tag();
      const entryWire = tag & 7;
      const id = tag >>> 3;
      if (id === 1 && entryWire === keyWire) key = readKey(r);
      else if (id === 2 && entryWire === valueWire) value = readValue(r, depth, value);
      else r.skipType(entryWire, depth, id);
    }
    if (r.pos !== end) throw rangeError();
    r.len = len;
    const property = String(key);
    // A key "__proto__" is an own property, as protobufjs makes it, not the prototype.
    if (property === '__proto__') protobuf.util.makeProp(entries, property);
    entries[property] = finishValue(value);
    return true;
  };
}
