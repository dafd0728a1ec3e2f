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

const toObjectOptions: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  bytes: Uint8Array,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};

/** protobufjs sets absent message fields to null with `defaults`; readers get undefined. */
function nullsToUndefined(value: unknown): unknown {
  if (Array.isArray(value)) {
    for (const item of value) nullsToUndefined(item);
  } else if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (record[key] === null) delete record[key];
      else nullsToUndefined(record[key]);
    }
  }
  return value;
}

export function rootFromDescriptor(descriptor: protobuf.INamespace): protobuf.Root {
  return protobuf.Root.fromJSON(descriptor);
}

export function codec<T>(root: protobuf.Root, typeName: string): Codec<T> {
  const type = root.lookupType(typeName);
  const toPlain = (message: protobuf.Message): T =>
    nullsToUndefined(type.toObject(message, toObjectOptions)) as T;
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
