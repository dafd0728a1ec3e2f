// Runtime behind the generated module: typed encode/decode over protobufjs reflection.
// Decoded messages are plain objects: enums as their names, 64-bit integers as numbers
// (every 64-bit field of the contract stays below 2^53: counters, nanosecond durations,
// unix milliseconds), repeated fields always present, absent messages undefined.
import protobuf from 'protobufjs/light.js';

/** What a writer may pass: any field may be left out, as protobuf allows. */
export type Init<T> = T extends readonly (infer U)[]
  ? Init<U>[]
  : T extends Uint8Array
    ? T
    : T extends object
      ? { [K in keyof T]?: Init<T[K]> | null }
      : T;

export interface Codec<T> {
  readonly typeName: string;
  /** Encodes a message; throws TypeError when a field has the wrong type. */
  encode(value: Init<T>): Uint8Array;
  /** Decodes a message; throws ProtoDecodeError on malformed input. */
  decode(bytes: Uint8Array): T;
}

export class ProtoDecodeError extends Error {
  constructor(typeName: string, cause: unknown) {
    super(`malformed ${typeName}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'ProtoDecodeError';
  }
}

// 64-bit fields decode straight to numbers (protobufjs's own fallback when it has no Long
// class): every one of the contract stays below 2^53 (above), and a Long object per field
// was garbage for every counter of every report.
protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();

const toObjectOptions: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  bytes: Uint8Array,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};

type Fix = (value: Record<string, unknown>) => void;

/**
 * protobufjs's toObject with `defaults` sets absent message fields to null; readers get
 * undefined. The walk is made once per type from its reflection, so it visits only the
 * message fields, and it assigns rather than deletes: a deleted property turns a decoded
 * object into a slow dictionary for everything that reads it afterwards.
 */
function nullFixer(type: protobuf.Type, made = new Map<protobuf.Type, Fix>()): Fix {
  const known = made.get(type);
  if (known) return known;
  const steps: Fix[] = [];
  const fix: Fix = (value) => {
    for (const step of steps) step(value);
  };
  made.set(type, fix);
  for (const field of type.fieldsArray) {
    field.resolve();
    if (!(field.resolvedType instanceof protobuf.Type)) continue;
    const inner = nullFixer(field.resolvedType, made);
    const name = field.name;
    if (field.map)
      steps.push((value) => {
        const entries = value[name] as Record<string, Record<string, unknown>>;
        for (const key in entries) inner(entries[key]!);
      });
    else if (field.repeated)
      steps.push((value) => {
        for (const item of value[name] as Record<string, unknown>[]) inner(item);
      });
    else
      steps.push((value) => {
        const member = value[name];
        if (member === null) value[name] = undefined;
        else if (member !== undefined) inner(member as Record<string, unknown>);
      });
  }
  return fix;
}

export function rootFromDescriptor(descriptor: protobuf.INamespace): protobuf.Root {
  return protobuf.Root.fromJSON(descriptor);
}

export function codec<T>(root: protobuf.Root, typeName: string): Codec<T> {
  const type = root.lookupType(typeName);
  const fixNulls = nullFixer(type);
  const toPlain = (message: protobuf.Message): T => {
    const plain = type.toObject(message, toObjectOptions);
    fixNulls(plain);
    return plain as T;
  };
  return {
    typeName,
    encode(value) {
      return type.encode(type.fromObject(value as Record<string, unknown>)).finish();
    },
    decode(bytes) {
      let message: protobuf.Message;
      try {
        message = type.decode(bytes);
      } catch (error) {
        throw new ProtoDecodeError(typeName, error);
      }
      return toPlain(message);
    },
  };
}
