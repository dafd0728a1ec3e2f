// Runtime behind the generated module: typed encode/decode over protobufjs reflection.
// Decoded messages are plain objects: enums as their names, 64-bit integers as numbers
// (every 64-bit field of the contract stays below 2^53: counters, nanosecond durations,
// unix milliseconds), repeated fields always present, absent messages undefined.
import protobuf from 'protobufjs/light.js';
import { plainDecoder } from './plain-decoder.js';

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

export function rootFromDescriptor(descriptor: protobuf.INamespace): protobuf.Root {
  return protobuf.Root.fromJSON(descriptor);
}

export function codec<T>(root: protobuf.Root, typeName: string): Codec<T> {
  const type = root.lookupType(typeName);
  // Straight to plain objects: what type.decode and then type.toObject gave, without the
  // message instances in between (proto/plain-decoder.ts).
  const decoder = plainDecoder(type);
  return {
    typeName,
    encode(value) {
      return type.encode(type.fromObject(value as Record<string, unknown>)).finish();
    },
    decode(bytes) {
      try {
        return decoder.whole(protobuf.Reader.create(bytes)) as T;
      } catch (error) {
        throw new ProtoDecodeError(typeName, error);
      }
    },
  };
}
