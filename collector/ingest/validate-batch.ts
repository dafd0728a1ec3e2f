// Checks a decoded batch before anything of it is stored. The wire decoder already
// refused malformed bytes; this refuses well-formed nonsense: references to processes
// the batch does not describe, impossible numbers, broken histograms, unbounded lists.
// Returns the first problem as a sentence, or undefined. Pure.
import { isIP } from 'node:net';
import type {
  Batch,
  EdgeReport,
  Endpoint,
  Hello,
  Histogram,
  HopReport,
  PodRef,
} from '../../proto/gen/tollgate/v1.js';
import { type Layout, validate as validateHistogram } from '../../proto/histogram.js';
import { MESH_SIGN_LIMITS } from '../../proto/mesh-signs.js';
import { processId } from '../model/ids.js';

export const BATCH_LIMITS = {
  processes: 50_000,
  edges: 200_000,
  hops: 50_000,
  resources: 50_000,
  peers: 50_000,
  /** As many as the processes: one pod's signs per pod of the batch. */
  podSigns: 50_000,
  loadReports: 64,
  podLabels: 64,
  tuplesPerEdge: 1_024,
  idLength: 256,
  /** Observed strings are kept verbatim up to these lengths; the agent truncates first. */
  stringLength: 4_096,
  cmdlineArgs: 256,
} as const;

/** A method this collector knows; an unknown one (a newer agent's) cannot be labelled. */
const HOP_METHODS: readonly string[] = [
  'HOP_METHOD_UNSPECIFIED',
  'HOP_METHOD_READ_TO_WRITE',
  'HOP_METHOD_ARRIVAL_TO_FORWARD',
];

const LAYOUTS: readonly string[] = [
  'HISTOGRAM_LAYOUT_LOG_LINEAR_16',
  'HISTOGRAM_LAYOUT_POWER_OF_TWO',
];

/** The first number of `record`'s own fields that is not a count (its other fields are not looked at). */
function badNumbers(record: object, where: string): string | undefined {
  const fields = record as Record<string, unknown>;
  for (const key in fields) {
    const value = fields[key];
    if (typeof value === 'number' && !(Number.isSafeInteger(value) && value >= 0))
      return `${where}.${key} is ${value}, not a non-negative integer below 2^53`;
  }
  return undefined;
}

/** The first problem of a wire histogram (an empty one is fine), or undefined. */
export function badHistogram(h: Histogram | undefined, where: string): string | undefined {
  if (!h) return undefined;
  if (h.indexes.length === 0 && h.counts.length === 0) return undefined;
  if (!LAYOUTS.includes(h.layout)) return `${where} has layout ${h.layout}`;
  // Its layout is one of LAYOUTS, checked above.
  const problem = validateHistogram(h as Histogram & { layout: Layout });
  return problem ? `${where}: ${problem}` : undefined;
}

/**
 * `addresses` holds those already found to be IP addresses in this batch: the same few
 * local addresses recur in every edge.
 */
function badEndpoint(
  e: Endpoint | undefined,
  where: string,
  needPort: boolean,
  addresses: Set<string>,
): string | undefined {
  if (!e) return `${where} is missing`;
  if (e.address !== '' && !addresses.has(e.address)) {
    if (isIP(e.address) === 0) return `${where}.address is not an IP address`;
    if (addresses.size < 4096) addresses.add(e.address);
  }
  if (e.port > 65_535 || (needPort && e.port === 0))
    return `${where}.port ${e.port} is out of range`;
  return undefined;
}

function badString(value: string, where: string, limit: number = BATCH_LIMITS.stringLength) {
  return value.length > limit ? `${where} is longer than ${limit} characters` : undefined;
}

/**
 * The first problem of a stream's hello, or undefined. Its strings go into the agents
 * table and the API as they are, so they are bounded like a batch's.
 */
export function validateHello(hello: Hello): string | undefined {
  if (!hello.agentId) return 'hello: agent_id is empty';
  if (!hello.bootId) return 'hello: boot_id is empty';
  for (const [value, where] of [
    [hello.agentId, 'agent_id'],
    [hello.bootId, 'boot_id'],
    [hello.node, 'node'],
    [hello.agentVersion, 'agent_version'],
  ] as const) {
    const problem = badString(value, `hello: ${where}`, BATCH_LIMITS.idLength);
    if (problem) return problem;
  }
  const info = hello.nodeInfo;
  if (info) {
    for (const [value, where] of [
      [info.kernelRelease, 'kernel_release'],
      [info.kubernetesVersion, 'kubernetes_version'],
      [info.osImage, 'os_image'],
    ] as const) {
      const problem = badString(value, `hello: node_info.${where}`, BATCH_LIMITS.idLength);
      if (problem) return problem;
    }
    const numbers = badNumbers(
      { cpuCores: info.cpuCores, memoryBytes: info.memoryBytes },
      'hello: node_info',
    );
    if (numbers) return numbers;
  }
  return undefined;
}

export function validateBatch(
  batch: Batch,
  hello?: { agentId: string; bootId: string },
): string | undefined {
  if (!batch.agentId) return 'agent_id is empty';
  if (!batch.bootId) return 'boot_id is empty';
  if (hello && (batch.agentId !== hello.agentId || batch.bootId !== hello.bootId))
    return `batch names agent ${batch.agentId}/${batch.bootId}, but the stream's hello said ${hello.agentId}/${hello.bootId}`;
  for (const [value, where] of [
    [batch.agentId, 'agent_id'],
    [batch.bootId, 'boot_id'],
    [batch.node, 'node'],
  ] as const) {
    const problem = badString(value, where, BATCH_LIMITS.idLength);
    if (problem) return problem;
  }
  if (!(Number.isSafeInteger(batch.sequence) && batch.sequence >= 1))
    return `sequence ${batch.sequence} must be a positive integer`;
  // An interval that ends before it starts is an agent's clock stepped back (NTP): its
  // data is real, so it is kept, at its end, and counted (clockStepBack), not refused.
  if (batch.intervalStartUnixMs < 0 || batch.intervalEndUnixMs < 0)
    return 'interval times must not be negative';
  // Past 2^53 ms (the year 287396) a time is no longer exact as a number; the stores key
  // rows by it (PostgreSQL's partitions too, which would fail the whole group over it).
  if (
    !Number.isSafeInteger(batch.intervalStartUnixMs) ||
    !Number.isSafeInteger(batch.intervalEndUnixMs)
  )
    return 'interval times must be whole milliseconds below 2^53';
  for (const [list, name] of [
    [batch.processes, 'processes'],
    [batch.edges, 'edges'],
    [batch.hops, 'hops'],
    [batch.resources, 'resources'],
    [batch.peers, 'peers'],
    [batch.podSigns, 'podSigns'],
    [batch.loadReports, 'loadReports'],
  ] as const) {
    if (list.length > BATCH_LIMITS[name])
      return `${list.length} ${name}, more than the limit of ${BATCH_LIMITS[name]}`;
  }

  const known = new Set<string>();
  for (const [i, p] of batch.processes.entries()) {
    const where = `processes[${i}]`;
    if (!p.ref || p.ref.pid === 0) return `${where} has no pid`;
    const problem =
      badNumbers(p.ref, `${where}.ref`) ??
      badNumbers({ cgroupId: p.cgroupId, netnsInode: p.netnsInode }, where) ??
      badString(p.comm, `${where}.comm`) ??
      badString(p.exe, `${where}.exe`) ??
      badString(p.containerId, `${where}.container_id`) ??
      badString(p.containerName, `${where}.container_name`) ??
      (p.cmdline.length > BATCH_LIMITS.cmdlineArgs
        ? `${where}.cmdline has more than ${BATCH_LIMITS.cmdlineArgs} arguments`
        : undefined) ??
      p.cmdline.map((a, k) => badString(a, `${where}.cmdline[${k}]`)).find(Boolean) ??
      (p.pod ? badPod(p.pod, `${where}.pod`) : undefined);
    if (problem) return problem;
    known.add(processId(batch.node, p.ref));
  }
  const refersToKnown = (ref: Batch['edges'][number]['process'], where: string) =>
    known.has(processId(batch.node, ref))
      ? undefined
      : `${where} refers to a process the batch does not describe`;

  const addresses = new Set<string>();
  // The edges and hops are most of a batch: their messages are made only for a problem.
  for (let i = 0; i < batch.edges.length; i++) {
    const e = batch.edges[i]!;
    const problem =
      sideProblem(e.side) ?? refersToKnown(e.process, '.process') ?? edgeProblem(e, addresses);
    if (problem) return `edges[${i}]${problem}`;
  }
  for (let i = 0; i < batch.hops.length; i++) {
    const h = batch.hops[i]!;
    const problem =
      directionProblem(h.direction) ?? refersToKnown(h.process, '.process') ?? hopProblem(h);
    if (problem) return `hops[${i}]${problem}`;
  }
  for (const [i, r] of batch.resources.entries()) {
    const where = `resources[${i}]`;
    const { process: _p, source: _s, ...numbers } = r;
    const problem = refersToKnown(r.process, `${where}.process`) ?? badNumbers(numbers, where);
    if (problem) return problem;
  }
  if (batch.agentCost) {
    const { lost, programs, ...numbers } = batch.agentCost;
    const problem =
      badNumbers(numbers, 'agent_cost') ??
      (lost ? badNumbers(lost, 'agent_cost.lost') : undefined) ??
      (programs.length > 256 ? 'agent_cost lists more than 256 programs' : undefined) ??
      programs
        .map(
          (p, k) =>
            badNumbers(p, `agent_cost.programs[${k}]`) ??
            badString(p.name, `agent_cost.programs[${k}].name`, 128),
        )
        .find(Boolean);
    if (problem) return problem;
  }
  for (const [i, peer] of batch.peers.entries()) {
    const where = `peers[${i}]`;
    const problem =
      (isIP(peer.address) === 0 ? `${where}.address is not an IP address` : undefined) ??
      (peer.kind === 'PEER_KIND_POD' || peer.kind === 'PEER_KIND_SERVICE'
        ? undefined
        : `${where}.kind is ${peer.kind}`) ??
      badString(peer.namespace, `${where}.namespace`, BATCH_LIMITS.idLength) ??
      badString(peer.name, `${where}.name`, BATCH_LIMITS.idLength);
    if (problem) return problem;
  }
  for (const [i, signs] of batch.podSigns.entries()) {
    const where = `pod_signs[${i}]`;
    const value = (v: string, what: string) =>
      badString(v, `${where}.${what}`, MESH_SIGN_LIMITS.value);
    // Labels no sign of this collector's (a newer agent's) are bounded here and left out
    // of the store, not refused: the batch's other content stands.
    const labels = (map: Record<string, string>, what: string) => {
      const entries = Object.entries(map);
      if (entries.length > MESH_SIGN_LIMITS.labels)
        return `${where}.${what} has ${entries.length} labels, more than ${MESH_SIGN_LIMITS.labels}`;
      return entries
        .map(([k, v]) => value(k, `${what} key`) ?? value(v, `${what}[${k.slice(0, 64)}]`))
        .find(Boolean);
    };
    const problem =
      (signs.name === '' ? `${where}.name is empty` : undefined) ??
      badString(signs.namespace, `${where}.namespace`) ??
      badString(signs.name, `${where}.name`) ??
      labels(signs.namespaceLabels, 'namespace_labels') ??
      labels(signs.labels, 'labels') ??
      value(signs.ownerKind, 'owner_kind') ??
      value(signs.ownerName, 'owner_name') ??
      (signs.sidecarContainers.length > MESH_SIGN_LIMITS.sidecarContainers
        ? `${where} names more than ${MESH_SIGN_LIMITS.sidecarContainers} sidecar containers`
        : undefined) ??
      signs.sidecarContainers.map((c, k) => value(c, `sidecar_containers[${k}]`)).find(Boolean);
    if (problem) return problem;
  }
  for (const [i, report] of batch.loadReports.entries()) {
    const where = `load_reports[${i}]`;
    const { sessionId, latency, error, ...numbers } = report;
    const problem =
      (sessionId === '' ? `${where}.session_id is empty` : undefined) ??
      badString(sessionId, `${where}.session_id`, BATCH_LIMITS.idLength) ??
      badString(error, `${where}.error`) ??
      badNumbers(numbers, where) ??
      badHistogram(latency, `${where}.latency`);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * An edge's first problem past its side and process, its path relative to the edge
 * (".local is missing"), or undefined.
 */
function edgeProblem(e: EdgeReport, addresses: Set<string>): string | undefined {
  const client = e.side === 'CONNECTION_SIDE_CLIENT';
  const problem =
    badEndpoint(e.local, '.local', !client, addresses) ??
    badEndpoint(e.remote, '.remote', client, addresses) ??
    (e.socketPod ? badPod(e.socketPod, '.socket_pod') : undefined) ??
    // Its counters; its other fields (messages, and the side, a name by now) are not numbers.
    badNumbers(e, '') ??
    badHistogram(e.connectLatency, '.connect_latency') ??
    badHistogram(e.exchangeLatency, '.exchange_latency') ??
    badHistogram(e.srtt, '.srtt');
  if (problem) return problem;
  if (e.connections.length > BATCH_LIMITS.tuplesPerEdge)
    return ` samples ${e.connections.length} connections, more than ${BATCH_LIMITS.tuplesPerEdge}`;
  for (let k = 0; k < e.connections.length; k++) {
    const c = e.connections[k]!;
    const client = badEndpoint(c.client, '', true, addresses);
    if (client) return `.connections[${k}].client${client}`;
    const server = badEndpoint(c.server, '', true, addresses);
    if (server) return `.connections[${k}].server${server}`;
  }
  return undefined;
}

/**
 * An edge's side, unless it is one this collector stores: an unknown value (a newer
 * agent's, or noise) decodes as a number, and stored it would fail the whole commit group.
 */
function sideProblem(side: EdgeReport['side']): string | undefined {
  if (side === 'CONNECTION_SIDE_CLIENT' || side === 'CONNECTION_SIDE_SERVER') return undefined;
  return side === 'CONNECTION_SIDE_UNSPECIFIED' ? '.side is unspecified' : `.side is ${side}`;
}

/** A hop's direction, unless it is one this collector stores (as sideProblem). */
function directionProblem(direction: HopReport['direction']): string | undefined {
  if (direction === 'DIRECTION_INBOUND' || direction === 'DIRECTION_OUTBOUND') return undefined;
  return direction === 'DIRECTION_UNSPECIFIED'
    ? '.direction is unspecified'
    : `.direction is ${direction}`;
}

/** A hop's first problem past its direction and process, relative to the hop, or undefined. */
function hopProblem(h: HopReport): string | undefined {
  return (
    (h.socketPod ? badPod(h.socketPod, '.socket_pod') : undefined) ??
    // An unknown enum value decodes as a number: the method is named first.
    (HOP_METHODS.includes(h.method) ? undefined : `.method is ${h.method}`) ??
    // Its counters. Its other fields are not numbers (messages; the direction and method,
    // named by now), but for a handoff_ends this collector does not know (a newer agent's),
    // which decodes as a number and is no count: stored, its hand-offs as not said.
    badNumbers({ ...h, handoffEnds: undefined }, '') ??
    // Unpaired exchanges are a part of those seen complete, by definition.
    (h.unpaired > h.requests
      ? `.unpaired ${h.unpaired} is more than its requests ${h.requests}`
      : undefined) ??
    badHistogram(h.requestHop, '.request_hop') ??
    badHistogram(h.responseHop, '.response_hop') ??
    badHistogram(h.added, '.added')
  );
}

function badPod(pod: PodRef, where: string): string | undefined {
  const labels = Object.entries(pod.labels);
  return (
    badString(pod.name, `${where}.name`) ??
    badString(pod.namespace, `${where}.namespace`) ??
    badString(pod.uid, `${where}.uid`, BATCH_LIMITS.idLength) ??
    (labels.length > BATCH_LIMITS.podLabels
      ? `${where} has ${labels.length} labels, more than ${BATCH_LIMITS.podLabels}`
      : undefined) ??
    labels
      .map(
        ([k, v]) =>
          badString(k, `${where}.labels key`) ?? badString(v, `${where}.labels[${k.slice(0, 64)}]`),
      )
      .find(Boolean)
  );
}
