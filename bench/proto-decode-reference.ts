// The collector's decode before proto/plain-decoder.ts: protobufjs's message instances, then
// its toObject, then a walk turning null messages into undefined. Kept as the baseline of
// bench/proto-decode.ts and as the reference test/proto/codec-decode.test.ts holds the
// plain decoder to. Not for product code: it builds two object trees per message.
import protobuf from 'protobufjs/light.js';
import { ProtoDecodeError } from '../proto/codec.js';

const toObjectOptions: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  bytes: Uint8Array,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};

type Plain = Record<string, unknown>;
type Fix = (value: Plain) => void;

/** With `defaults`, toObject sets absent message fields to null; readers get undefined. */
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
        const entries = value[name] as Record<string, Plain>;
        for (const key in entries) inner(entries[key]!);
      });
    else if (field.repeated)
      steps.push((value) => {
        for (const item of value[name] as Plain[]) inner(item);
      });
    else
      steps.push((value) => {
        const member = value[name];
        if (member === null) value[name] = undefined;
        else if (member !== undefined) inner(member as Plain);
      });
  }
  return fix;
}

/** Decodes as codec(root, typeName).decode did before the plain decoder. */
export function referenceDecoder(
  root: protobuf.Root,
  typeName: string,
): (bytes: Uint8Array) => Plain {
  const type = root.lookupType(typeName);
  const fixNulls = nullFixer(type);
  return (bytes) => {
    let message: protobuf.Message;
    try {
      message = type.decode(bytes);
    } catch (error) {
      throw new ProtoDecodeError(typeName, error);
    }
    const plain = type.toObject(message, toObjectOptions);
    fixNulls(plain);
    return plain;
  };
}
