// The session export file, both encodings, and the checks an imported file must pass.
// Pure: bytes and strings in, messages out.
//
// JSON (.tollgate.json) is canonical: the proto's own field names (snake_case, as SMPS
// spells them), every field present in field-number order, map keys sorted, two-space
// indent and a final newline. So export -> import -> export gives the same bytes, and two
// files diff line by line. Protobuf (.pb) carries the same message. Both go through one
// validator: the reflected schema (unknown fields, types, ranges), size limits, then the
// meaning (version, times, histograms, selectors, mesh modes and shares), and the first
// problem is reported with its path, e.g. "tollgate.edges[3].srtt: bucket indexes not
// strictly ascending". Strings from the observed world (names, labels, mode signs) pass
// unchanged within the limits: the readers show them as text.
import type protobuf from 'protobufjs/light.js';
import { ProtoDecodeError } from '../../proto/codec.js';
import { type Histogram, root, SessionExport } from '../../proto/gen/tollgate/v1.js';
import { compileTarget, SelectorError } from '../../proto/target.js';
import { badHistogram } from '../ingest/validate-batch.js';
import { MESH_MODES, PROXY_KINDS, SHARE_METHODS } from './pod-mesh.js';

/** The file format this Tollgate writes and reads. */
export const FORMAT_VERSION = 1;
/** The Service Mesh Performance specification version the top-level fields follow. */
export const SMP_VERSION = '0.0.1';

export const FILE_LIMITS = {
  bytes: 32 * 2 ** 20,
  stringLength: 4_096,
  labels: 64,
  /** Any repeated field other than a histogram's buckets and those below. */
  listLength: 100_000,
  /** A pod's mode signs (each a string of at most stringLength). */
  modeSigns: 64,
  /** A pod's waypoints. */
  waypoints: 16,
} as const;

/** Repeated fields with a tighter limit than listLength, by message and field. */
const LIST_LIMITS: Readonly<Record<string, number>> = {
  'PodResult.modeSigns': FILE_LIMITS.modeSigns,
  'PodResult.waypoints': FILE_LIMITS.waypoints,
  // One share per method at most.
  'PodResult.proxyShares': SHARE_METHODS.length,
  'WaypointPart.shares': SHARE_METHODS.length,
};

export type SessionFileFormat = 'json' | 'pb';

export class SessionFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SessionFileError';
  }
}

const exportType = root.lookupType('tollgate.v1.SessionExport');

/** protobufjs names fields in camelCase; the file uses the .proto's snake_case. */
export function fileFieldName(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

const fieldsOf = (type: protobuf.Type) => [...type.fieldsArray].sort((a, b) => a.id - b.id);
const isMessage = (field: protobuf.Field): boolean =>
  field.resolvedType !== null && 'fieldsArray' in field.resolvedType;
const isEnum = (field: protobuf.Field): boolean =>
  field.resolvedType !== null && 'values' in field.resolvedType;

function scalarDefault(field: protobuf.Field): unknown {
  if (isEnum(field)) return (field.resolvedType as protobuf.Enum).valuesById[0];
  if (field.type === 'string') return '';
  if (field.type === 'bool') return false;
  return 0;
}

type Plain = Record<string, unknown>;

/** A decoded message as the canonical JSON value: every field, in field-number order. */
function toFileValue(type: protobuf.Type, value: Plain | undefined): Plain {
  const out: Plain = {};
  for (const field of fieldsOf(type)) {
    const v = value?.[field.name];
    const convert = (item: unknown) =>
      isMessage(field)
        ? toFileValue(field.resolvedType as protobuf.Type, item as Plain)
        : (item ?? scalarDefault(field));
    if (field.map) {
      const entries = Object.entries((v as Plain | undefined) ?? {}).sort(([a], [b]) =>
        a < b ? -1 : a > b ? 1 : 0,
      );
      out[fileFieldName(field.name)] = Object.fromEntries(entries.map(([k, x]) => [k, convert(x)]));
    } else if (field.repeated) {
      out[fileFieldName(field.name)] = ((v as unknown[] | undefined) ?? []).map(convert);
    } else {
      out[fileFieldName(field.name)] = convert(v);
    }
  }
  return out;
}

const describe = (v: unknown) =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'an array'
      : `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;

function scalarFromFile(field: protobuf.Field, v: unknown, path: string): unknown {
  const fail = (what: string) => {
    throw new SessionFileError(`${path} must be ${what}, got ${describe(v)}`);
  };
  if (isEnum(field)) {
    const names = Object.keys((field.resolvedType as protobuf.Enum).values);
    if (typeof v !== 'string' || !names.includes(v)) fail(`one of ${names.join(', ')}`);
    return v;
  }
  switch (field.type) {
    case 'string':
      if (typeof v !== 'string') fail('a string');
      if ((v as string).length > FILE_LIMITS.stringLength)
        throw new SessionFileError(`${path} is longer than ${FILE_LIMITS.stringLength} characters`);
      return v;
    case 'bool':
      if (typeof v !== 'boolean') fail('true or false');
      return v;
    case 'double':
    case 'float':
      if (typeof v !== 'number' || !Number.isFinite(v)) fail('a finite number');
      return v;
    default: {
      const unsigned = field.type.startsWith('u') || field.type.startsWith('fixed');
      const max = field.type.endsWith('32') ? 2 ** 32 - 1 : Number.MAX_SAFE_INTEGER;
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail('an integer below 2^53');
      if ((unsigned && (v as number) < 0) || Math.abs(v as number) > max)
        fail(`an integer in the range of ${field.type}`);
      return v;
    }
  }
}

/** A canonical JSON value back to a message object, checking every field on the way. */
function fromFileValue(type: protobuf.Type, value: unknown, path: string): Plain {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new SessionFileError(`${path || 'the file'} must be an object, got ${describe(value)}`);
  const fields = new Map(fieldsOf(type).map((f) => [fileFieldName(f.name), f]));
  const at = (name: string) => (path ? `${path}.${name}` : name);
  for (const key of Object.keys(value)) {
    if (!fields.has(key)) throw new SessionFileError(`${at(key)} is not a field of ${type.name}`);
  }
  const out: Plain = {};
  for (const [name, field] of fields) {
    const v = (value as Plain)[name];
    const convert = (item: unknown, where: string) =>
      isMessage(field)
        ? fromFileValue(field.resolvedType as protobuf.Type, item, where)
        : scalarFromFile(field, item, where);
    if (field.map) {
      const map = v ?? {};
      if (typeof map !== 'object' || Array.isArray(map) || map === null)
        throw new SessionFileError(`${at(name)} must be an object, got ${describe(v)}`);
      const entries = Object.entries(map);
      if (entries.length > FILE_LIMITS.labels)
        throw new SessionFileError(
          `${at(name)} has ${entries.length} entries, more than ${FILE_LIMITS.labels}`,
        );
      out[field.name] = Object.fromEntries(
        entries.map(([k, x]) => {
          if (k.length > FILE_LIMITS.stringLength)
            throw new SessionFileError(
              `${at(name)} has a key longer than ${FILE_LIMITS.stringLength}`,
            );
          return [k, convert(x, `${at(name)}[${JSON.stringify(k.slice(0, 40))}]`)];
        }),
      );
    } else if (field.repeated) {
      const list = v ?? [];
      if (!Array.isArray(list))
        throw new SessionFileError(`${at(name)} must be an array, got ${describe(v)}`);
      const limit = LIST_LIMITS[`${type.name}.${field.name}`] ?? FILE_LIMITS.listLength;
      if (list.length > limit)
        throw new SessionFileError(`${at(name)} has ${list.length} items, more than ${limit}`);
      out[field.name] = list.map((item, i) => convert(item, `${at(name)}[${i}]`));
    } else if (v === undefined) {
      out[field.name] = isMessage(field)
        ? fromFileValue(field.resolvedType as protobuf.Type, {}, at(name))
        : scalarDefault(field);
    } else {
      out[field.name] = convert(v, at(name));
    }
  }
  return out;
}

/** Every histogram in a message, with its path, for the sanity checks. */
function* histograms(type: protobuf.Type, value: Plain, path: string): Generator<[string, Plain]> {
  for (const field of fieldsOf(type)) {
    if (!isMessage(field)) continue;
    const child = field.resolvedType as protobuf.Type;
    const name = path ? `${path}.${fileFieldName(field.name)}` : fileFieldName(field.name);
    const items = field.repeated
      ? ((value[field.name] as Plain[]) ?? []).map((v, i) => [`${name}[${i}]`, v] as const)
      : [[name, value[field.name] as Plain] as const];
    for (const [where, item] of items) {
      if (!item) continue;
      if (child.name === 'Histogram') yield [where, item];
      else yield* histograms(child, item, where);
    }
  }
}

function checkMeaning(e: SessionExport): void {
  const fail = (message: string) => {
    throw new SessionFileError(message);
  };
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(e.id))
    fail(`id '${e.id.slice(0, 40)}' must be 1 to 128 letters, digits or . _ : -`);
  if (e.name.trim() === '') fail('name is empty');
  if (!(e.startUnixMs > 0)) fail('start_unix_ms must be a positive time');
  if (e.endUnixMs < e.startUnixMs) fail('end_unix_ms is before start_unix_ms');
  try {
    compileTarget(e.target);
  } catch (error) {
    if (error instanceof SelectorError) fail(`target: ${error.message}`);
    throw error;
  }
  const l = e.latenciesMs!;
  const order = [l.min, l.p50, l.p90, l.p99, l.max];
  if (order.some((x) => x < 0) || order.some((x, i) => i > 0 && x < order[i - 1]!))
    fail('latencies_ms must be non-negative with min <= p50 <= p90 <= p99 <= max');
  if (e.actualQps < 0) fail('actual_qps is negative');
  // The same histogram checks as a batch from an agent gets.
  for (const [where, h] of histograms(exportType, e as unknown as Plain, '')) {
    const problem = badHistogram(h as unknown as Histogram, where);
    if (problem) fail(problem);
  }
  const ids = new Set<string>();
  for (const [i, edge] of (e.tollgate?.edges ?? []).entries()) {
    if (ids.has(edge.id)) fail(`tollgate.edges[${i}].id '${edge.id.slice(0, 80)}' appears twice`);
    ids.add(edge.id);
  }
  for (const [i, pod] of (e.tollgate?.pods ?? []).entries())
    checkPodMesh(pod, `tollgate.pods[${i}]`);
  const dataplane = e.tollgate?.dataplane;
  for (const [i, m] of (dataplane?.modes ?? []).entries())
    oneOf(m.mode, MESH_MODES, `tollgate.dataplane.modes[${i}].mode`);
  for (const [i, g] of (dataplane?.proxies ?? []).entries()) {
    const at = `tollgate.dataplane.proxies[${i}]`;
    oneOf(g.kind, PROXY_KINDS, `${at}.kind`);
    notNegative(g.cpuMcores, `${at}.cpu_mcores`);
    notNegative(g.memMb, `${at}.mem_mb`);
  }
}

/** A value's JSON, cut short: observed strings in an error stay one escaped line. */
const quoted = (v: string) => JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);

function oneOf(value: string, allowed: readonly string[], path: string, orEmpty = false): void {
  if ((orEmpty && value === '') || allowed.includes(value)) return;
  throw new SessionFileError(
    `${path} is ${quoted(value)}, not one of ${[...(orEmpty ? ["''"] : []), ...allowed].join(', ')}`,
  );
}

function notNegative(value: number, path: string): void {
  if (value < 0) throw new SessionFileError(`${path} is negative`);
}

function checkShare(value: number, path: string): void {
  if (!(value >= 0 && value <= 1)) throw new SessionFileError(`${path} must be within 0..1`);
}

/** The shares of a shared proxy by method: known methods, each once, each within 0..1. */
function checkShares(list: readonly { method: string; share: number }[], path: string): void {
  const seen = new Set<string>();
  for (const [i, s] of list.entries()) {
    oneOf(s.method, SHARE_METHODS, `${path}[${i}].method`);
    if (seen.has(s.method))
      throw new SessionFileError(`${path}[${i}].method ${quoted(s.method)} appears twice`);
    seen.add(s.method);
    checkShare(s.share, `${path}[${i}].share`);
  }
}

/** A pod's mode, shares and waypoints mean something this Tollgate can show. */
function checkPodMesh(
  pod: NonNullable<SessionExport['tollgate']>['pods'][number],
  path: string,
): void {
  oneOf(pod.meshMode, MESH_MODES, `${path}.mesh_mode`, true);
  oneOf(pod.proxyShareMethod, SHARE_METHODS, `${path}.proxy_share_method`, true);
  checkShare(pod.proxyShare, `${path}.proxy_share`);
  checkShares(pod.proxyShares, `${path}.proxy_shares`);
  notNegative(pod.sidecarCpuMcores, `${path}.sidecar_cpu_mcores`);
  // A proxy not measured has no figures: a number beside the reason would read as one.
  if (
    pod.proxyUnmeasured !== '' &&
    (pod.sidecarCpuMsPerThousandRequests !== 0 ||
      pod.sidecarMemMb !== 0 ||
      pod.sidecarCpuMcores !== 0)
  )
    throw new SessionFileError(
      `${path}.proxy_unmeasured says the proxy was not measured, but its sidecar_* figures are not 0`,
    );
  for (const [i, w] of pod.waypoints.entries()) {
    const at = `${path}.waypoints[${i}]`;
    oneOf(w.shareMethod, SHARE_METHODS, `${at}.share_method`, true);
    checkShare(w.share, `${at}.share`);
    checkShares(w.shares, `${at}.shares`);
    notNegative(w.cpuMsPerThousandRequests, `${at}.cpu_ms_per_thousand_requests`);
    notNegative(w.memMb, `${at}.mem_mb`);
    notNegative(w.cpuMcores, `${at}.cpu_mcores`);
  }
}

function checkVersion(version: unknown): void {
  if (version !== FORMAT_VERSION)
    throw new SessionFileError(
      `format_version ${JSON.stringify(version)} is not supported: this Tollgate reads version ${FORMAT_VERSION}`,
    );
}

export function encodeSessionJson(e: SessionExport): string {
  return `${JSON.stringify(toFileValue(exportType, e as unknown as Plain), null, 2)}\n`;
}

export function encodeSessionProto(e: SessionExport): Uint8Array {
  return SessionExport.encode(e);
}

function checkSize(length: number): void {
  if (length > FILE_LIMITS.bytes)
    throw new SessionFileError(
      `the file is ${length} bytes, more than the limit of ${FILE_LIMITS.bytes}`,
    );
  if (length === 0) throw new SessionFileError('the file is empty');
}

/** Reads and checks a session file; throws SessionFileError saying what is wrong. */
export function decodeSessionFile(bytes: Uint8Array, format: SessionFileFormat): SessionExport {
  checkSize(bytes.length);
  let value: unknown;
  if (format === 'json') {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new SessionFileError('the file is not UTF-8 text');
    }
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new SessionFileError(`not JSON (truncated or corrupt?): ${(error as Error).message}`);
    }
    if (value !== null && typeof value === 'object' && !Array.isArray(value))
      checkVersion((value as Plain).format_version);
  } else {
    let decoded: SessionExport;
    try {
      decoded = SessionExport.decode(bytes);
    } catch (error) {
      if (error instanceof ProtoDecodeError)
        throw new SessionFileError(
          `not a session protobuf (truncated or corrupt?): ${error.message}`,
        );
      throw error;
    }
    checkVersion(decoded.formatVersion);
    value = toFileValue(exportType, decoded as unknown as Plain);
  }
  const message = fromFileValue(exportType, value, '') as unknown as SessionExport;
  checkMeaning(message);
  return message;
}

/** The format a file name or content type says. */
export function formatOf(nameOrType: string): SessionFileFormat | undefined {
  if (/\.json$|json/i.test(nameOrType)) return 'json';
  if (/\.pb$|protobuf|octet-stream/i.test(nameOrType)) return 'pb';
  return undefined;
}

/** A message in its canonical shape (every message present, maps sorted), as imports give. */
export function canonicalSession(e: SessionExport): SessionExport {
  return fromFileValue(
    exportType,
    toFileValue(exportType, e as unknown as Plain),
    '',
  ) as unknown as SessionExport;
}

export function encodeSessionFile(e: SessionExport, format: SessionFileFormat): Uint8Array {
  const canonical = canonicalSession(e);
  return format === 'json'
    ? new TextEncoder().encode(encodeSessionJson(canonical))
    : encodeSessionProto(canonical);
}
