// Generates proto/gen/tollgate/v1.ts from proto/tollgate/v1/*.proto: message interfaces,
// enums as string unions, a typed codec per message and the grpc-js service definitions.
//   tsx proto/generate.ts           prints the module
//   tsx proto/generate.ts --write   writes it (npm run gen:proto), after the files the
//                                   counter tables generate (proto/generate-metrics.ts)
// test/proto/generated.test.ts regenerates in memory and fails when the file is stale.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import {
  countersHeader,
  countersHeaderPath,
  reportProtoPath,
  withEdgeCounters,
  withHopCounters,
} from './generate-metrics.js';

const protoRoot = dirname(fileURLToPath(import.meta.url));
const packageName = 'tollgate.v1';
export const generatedPath = join(protoRoot, 'gen', 'tollgate', 'v1.ts');

const numberTypes = new Set([
  'double',
  'float',
  'int32',
  'uint32',
  'sint32',
  'fixed32',
  'sfixed32',
  'int64',
  'uint64',
  'sint64',
  'fixed64',
  'sfixed64',
]);

function loadRoot(sourceRoot: string): protobuf.Root {
  const dir = join(sourceRoot, 'tollgate', 'v1');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.proto'))
    .sort();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(sourceRoot, target);
  root.loadSync(
    files.map((f) => `tollgate/v1/${f}`),
    { keepCase: false, alternateCommentMode: true },
  );
  root.resolveAll();
  return root;
}

function docComment(comment: string | null, indent = ''): string {
  if (!comment) return '';
  const lines = comment.trim().split('\n');
  return `${indent}/**\n${lines.map((l) => `${indent} * ${l.replace(/\*\//g, '*\\/')}`.trimEnd()).join('\n')}\n${indent} */\n`;
}

function tsFieldType(field: protobuf.Field): string {
  const base = (() => {
    if (
      field.resolvedType instanceof protobuf.Enum ||
      field.resolvedType instanceof protobuf.Type
    ) {
      return field.resolvedType.name;
    }
    if (numberTypes.has(field.type)) return 'number';
    if (field.type === 'bool') return 'boolean';
    if (field.type === 'string') return 'string';
    if (field.type === 'bytes') return 'Uint8Array';
    throw new Error(`unsupported field type ${field.type} in ${field.fullName}`);
  })();
  if (field instanceof protobuf.MapField) return `Record<string, ${base}>`;
  if (field.repeated) return `${base}[]`;
  return base;
}

function emitEnum(e: protobuf.Enum): string {
  const names = Object.keys(e.values);
  const members = names
    .map((name) => `${docComment(e.comments[name] ?? null, '  ')}  | '${name}'`)
    .join('\n');
  return `${docComment(e.comment)}export type ${e.name} =\n${members};\n`;
}

function emitMessage(type: protobuf.Type): string {
  const oneofMembers = new Set(type.oneofsArray.flatMap((o) => o.oneof));
  const fields = type.fieldsArray.map((field) => {
    const optional = field.resolvedType instanceof protobuf.Type && !field.repeated && !field.map;
    const mark = optional || oneofMembers.has(field.name) ? '?' : '';
    return `${docComment(field.comment, '  ')}  ${field.name}${mark}: ${tsFieldType(field)};`;
  });
  for (const oneof of type.oneofsArray) {
    fields.push(
      `  /** Which member of the oneof is set. */\n  ${oneof.name}?: ${oneof.oneof.map((n) => `'${n}'`).join(' | ')};`,
    );
  }
  return [
    `${docComment(type.comment)}export interface ${type.name} {\n${fields.join('\n')}\n}`,
    `export const ${type.name}: Codec<${type.name}> = codec(root, '${type.fullName.slice(1)}');\n`,
  ].join('\n');
}

function emitService(service: protobuf.Service): string {
  const methods = service.methodsArray.map((method) => {
    method.resolve();
    const req = method.resolvedRequestType!.name;
    const res = method.resolvedResponseType!.name;
    const key = method.name.charAt(0).toLowerCase() + method.name.slice(1);
    return `  ${key}: {
    path: '/${service.fullName.slice(1)}/${method.name}',
    requestStream: ${Boolean(method.requestStream)},
    responseStream: ${Boolean(method.responseStream)},
    requestSerialize: (value: Init<${req}>) => Buffer.from(${req}.encode(value)),
    requestDeserialize: (bytes: Buffer) => ${req}.decode(bytes),
    responseSerialize: (value: Init<${res}>) => Buffer.from(${res}.encode(value)),
    responseDeserialize: (bytes: Buffer) => ${res}.decode(bytes),
    originalName: '${method.name}',
  },`;
  });
  return `${docComment(service.comment)}export const ${service.name}Service = {\n${methods.join('\n')}\n} as const;\n`;
}

/** The generated module for the .proto files under sourceRoot (default: this folder). */
export function generate(sourceRoot: string = protoRoot): string {
  const root = loadRoot(sourceRoot);
  const ns = root.lookup(packageName);
  if (!(ns instanceof protobuf.Namespace)) throw new Error(`package ${packageName} not found`);
  const items = ns.nestedArray.slice().sort((a, b) => a.name.localeCompare(b.name));
  const body: string[] = [];
  for (const item of items) {
    if (item instanceof protobuf.Enum) body.push(emitEnum(item));
    else if (item instanceof protobuf.Type) body.push(emitMessage(item));
    else if (item instanceof protobuf.Service) body.push(emitService(item));
  }
  const descriptor = JSON.stringify(root.toJSON({ keepComments: false }), null, 2);
  return `// Code generated by \`npm run gen:proto\` (proto/generate.ts) from proto/tollgate/v1/*.proto.
// DO NOT EDIT: test/proto/generated.test.ts fails when this file is stale.
import { type Codec, codec, type Init, rootFromDescriptor } from '../../codec.js';

export type { Codec, Init };

export const descriptor = ${descriptor};

/** The reflected schema, for readers that walk messages field by field (import validation). */
export const root = rootFromDescriptor(descriptor);

${body.join('\n')}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--write')) {
    // The counter tables' outputs first: report.proto's blocks feed the module.
    writeFileSync(countersHeaderPath, countersHeader());
    const proto = readFileSync(reportProtoPath, 'utf8');
    writeFileSync(reportProtoPath, withHopCounters(withEdgeCounters(proto)));
    writeFileSync(generatedPath, generate());
  } else process.stdout.write(generate());
}
