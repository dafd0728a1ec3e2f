// One simulated node of `bench scale`: a busy node's interval as its agent would ship it,
// and the topology those intervals must give. Pure: the batch of node `agent` for
// interval `k` is a function of the shape, the cluster's size and the interval.
//
// The shape (one per node, NodeShape):
// - `pods` meshed pods, each an app process and an Envoy-like sidecar (istio-proxy) in
//   the pod's network namespace, with Kubernetes identities, labels and mesh signs;
// - each pod's sidecar calls `upstreams` pods of other nodes (port 8080) and is called by
//   as many, so the two ends of those connections come from different agents and the
//   collector joins them across agents, on their tuples;
// - the app calls a Service (its ClusterIP, port 80), redirected to its own sidecar's
//   outbound listener (15001); the sidecar calls the app on loopback (9080); the app also
//   calls one endpoint outside the cluster (443), which no agent serves;
// - every end is active in every interval: counters, exchange latency, srtt, and one new
//   connection sampled per client end (connection churn), both ends of it reported;
// - per sidecar one hop report per direction; per process one resource sample; the
//   agent's own cost with its kernel programs; names of the Services dialed.
//
// Addresses: node `a`'s pod `j` is 10.(16 + a / 256).(a % 256).(j + 2), so up to 5,000
// nodes of up to 250 pods each have distinct pod addresses.
import type {
  Batch,
  EdgeReport,
  HopReport,
  Init,
  PeerName,
  PodMeshSigns,
  ProcessIdentity,
  ResourceSample,
} from '../proto/gen/tollgate/v1.js';
import { fromValues, type SparseHistogram } from '../proto/histogram.js';

export interface NodeShape {
  /** Meshed pods on the node, each an app and its sidecar. */
  pods: number;
  /** Pods on other nodes each pod's sidecar calls (and is called by). */
  upstreams: number;
}

/** 30 meshed pods, each calling 3 pods elsewhere, one Service and one external endpoint. */
export const BUSY_NODE: NodeShape = { pods: 30, upstreams: 3 };

export const MAX_PODS = 250;
export const MAX_INTERVALS = 3_600;

const SIDECAR_PORT = 8080;
const APP_PORT = 9080;
const SERVICE_PORT = 80;
const OUTBOUND_CAPTURE_PORT = 15001;
const EXTERNAL_PORT = 443;
const NAMESPACE = 'shop';

/** Edge reports of one pod in one interval: sidecar 2U + 2 ends, app 3. */
export function edgesPerPod(shape: NodeShape): number {
  return 2 * shape.upstreams + 5;
}

/** Edge reports, hop reports and resource samples of one node's interval. */
export function recordsPerInterval(shape: NodeShape): number {
  return shape.pods * (edgesPerPod(shape) + 2 + 2);
}

export function checkShape(shape: NodeShape, agents: number): void {
  if (!Number.isInteger(shape.pods) || shape.pods < 1 || shape.pods > MAX_PODS)
    throw new RangeError(`pods per node must be 1 to ${MAX_PODS}`);
  if (!Number.isInteger(shape.upstreams) || shape.upstreams < 1)
    throw new RangeError('upstreams must be at least 1');
  // Each pod's upstreams are on the next `upstreams` nodes, none its own.
  if (agents < shape.upstreams + 1)
    throw new RangeError(
      `${shape.upstreams} upstreams need at least ${shape.upstreams + 1} agents`,
    );
  if (agents > 5_000) throw new RangeError('at most 5,000 agents (pod addresses)');
}

export const nodeName = (agent: number) => `scale-node-${agent}`;
export const agentId = (agent: number) => `scale-agent-${agent}`;

export function podAddress(agent: number, pod: number): string {
  return `10.${16 + (agent >> 8)}.${agent & 255}.${pod + 2}`;
}

const serviceAddress = (pod: number) => `10.96.0.${pod + 10}`;
const externalAddress = (pod: number) => `198.51.100.${pod + 1}`;
const appPid = (pod: number) => 10_000 + 2 * pod;
const sidecarPid = (pod: number) => 10_001 + 2 * pod;
const START_TICKS = 4_242;
const ref = (pid: number) => ({ pid, startTimeTicks: START_TICKS });

/** The pod `upstream` u of node `agent`'s pod `pod` calls: on another node. */
export function upstreamOf(
  shape: NodeShape,
  agents: number,
  agent: number,
  pod: number,
  u: number,
): { agent: number; pod: number } {
  return { agent: (agent + 1 + u) % agents, pod: (pod + u) % shape.pods };
}

/** The pod that calls node `agent`'s pod `pod` as its upstream u (the inverse of upstreamOf). */
function callerOf(shape: NodeShape, agents: number, agent: number, pod: number, u: number) {
  return {
    agent: (((agent - 1 - u) % agents) + agents) % agents,
    pod: (((pod - u) % shape.pods) + shape.pods) % shape.pods,
  };
}

/**
 * The ephemeral port and initial sequence number of a connection node `agent`'s pod
 * opened in interval k through slot s (0..U-1 upstreams, U the Service, U+1 the external
 * endpoint): distinct for one pod address within 60 s, the collector's join window.
 */
function clientTuple(shape: NodeShape, agent: number, pod: number, k: number, slot: number) {
  const slots = shape.upstreams + 2;
  return {
    port: 32_768 + ((k * slots + slot) % 28_000),
    isn: (agent * 2_654_435_761 + pod * 40_503 + k * 9_973 + slot * 131) >>> 0,
  };
}

/** Latencies around `baseNs`, spread like a busy edge's (16 samples, a tail of 4x). */
function latencies(baseNs: number, variant: number): SparseHistogram {
  return fromValues(
    Array.from(
      { length: 16 },
      (_, i) => baseNs * (0.7 + (((i * 7 + variant) % 16) / 16) * 1.3 + (i === 15 ? 3 : 0)),
    ),
  );
}

/** A few histograms of each kind, cycled over edges and intervals as a node's vary. */
const VARIANTS = 8;
const HISTOGRAMS = {
  exchange: Array.from({ length: VARIANTS }, (_, v) => latencies(2_000_000 + v * 350_000, v)),
  loopback: Array.from({ length: VARIANTS }, (_, v) => latencies(900_000 + v * 90_000, v)),
  external: Array.from({ length: VARIANTS }, (_, v) => latencies(25_000_000 + v * 2e6, v)),
  connect: Array.from({ length: VARIANTS }, (_, v) => fromValues([150_000 + v * 20_000])),
  srtt: Array.from({ length: VARIANTS }, (_, v) =>
    fromValues([80_000 + v * 9_000, 95_000 + v * 7_000, 120_000]),
  ),
  hop: Array.from({ length: VARIANTS }, (_, v) => latencies(120_000 + v * 15_000, v)),
};

/** What does not change from one interval to the next: identities, names, mesh signs. */
export interface NodeStatics {
  processes: Init<ProcessIdentity>[];
  peers: Init<PeerName>[];
  podSigns: Init<PodMeshSigns>[];
}

export function nodeStatics(shape: NodeShape, agent: number): NodeStatics {
  const node = nodeName(agent);
  const processes: Init<ProcessIdentity>[] = [];
  const podSigns: Init<PodMeshSigns>[] = [];
  for (let j = 0; j < shape.pods; j++) {
    const name = `svc-${j}-${(agent * 7919 + j).toString(36)}`;
    const uid = `0000${agent.toString(16).padStart(4, '0')}-${j.toString(16).padStart(4, '0')}-4000-8000-00000000beef`;
    const labels = {
      app: `svc-${j}`,
      version: 'v1',
      'pod-template-hash': (agent * 31 + j).toString(36).padStart(10, 'x'),
      'security.istio.io/tlsMode': 'istio',
      'service.istio.io/canonical-name': `svc-${j}`,
    };
    const pod = {
      namespace: NAMESPACE,
      name,
      uid,
      node,
      source: 'POD_SOURCE_KUBERNETES' as const,
      labels,
    };
    const container = (c: number) =>
      `${(agent * 1_000 + j * 2 + c).toString(16).padStart(64, 'c')}`;
    const netnsInode = 4_026_532_000 + j;
    processes.push(
      {
        ref: ref(appPid(j)),
        comm: 'java',
        exe: '/opt/java/openjdk/bin/java',
        cmdline: [
          'java',
          '-XX:MaxRAMPercentage=75',
          '-jar',
          `/app/svc-${j}.jar`,
          '--server.port=9080',
        ],
        containerId: container(0),
        containerName: 'app',
        cgroupId: 9_000_000 + agent * 1_000 + j * 2,
        netnsInode,
        pod,
        role: 'ROLE_APP',
      },
      {
        ref: ref(sidecarPid(j)),
        comm: 'envoy',
        exe: '/usr/local/bin/envoy',
        cmdline: [
          '/usr/local/bin/envoy',
          '-c',
          'etc/istio/proxy/envoy-rev.json',
          '--drain-time-s',
          '45',
          '--drain-strategy',
          'immediate',
          '--local-address-ip-version',
          'v4',
          '--file-flush-interval-msec',
          '1000',
          '--log-format',
          '%Y-%m-%dT%T.%fZ\t%l\tenvoy %n %g:%#\t%v\tthread=%t',
          '--concurrency',
          '2',
        ],
        containerId: container(1),
        containerName: 'istio-proxy',
        cgroupId: 9_000_000 + agent * 1_000 + j * 2 + 1,
        netnsInode,
        pod,
        role: 'ROLE_SIDECAR',
      },
    );
    podSigns.push({
      namespace: NAMESPACE,
      name,
      namespaceLabels: { 'istio-injection': 'enabled' },
      labels: { app: `svc-${j}` },
      ownerKind: 'ReplicaSet',
      ownerName: `svc-${j}-${labels['pod-template-hash']}`,
      sidecarContainers: ['istio-proxy'],
    });
  }
  const peers = Array.from({ length: shape.pods }, (_, j) => ({
    address: serviceAddress(j),
    kind: 'PEER_KIND_SERVICE' as const,
    namespace: NAMESPACE,
    name: `svc-${j}`,
  }));
  return { processes, peers, podSigns };
}

/** The counters of an end that exchanged `rps` requests of `size` bytes in the interval. */
function counters(side: 'client' | 'server', rps: number, size: number) {
  const client = side === 'client';
  return {
    side: client ? ('CONNECTION_SIDE_CLIENT' as const) : ('CONNECTION_SIDE_SERVER' as const),
    connects: client ? 1 : 0,
    accepts: client ? 0 : 1,
    closes: 1,
    bytesSent: rps * (client ? 400 : size),
    bytesReceived: rps * (client ? size : 400),
    sendOps: rps,
    recvOps: rps,
    exchanges: rps,
  };
}

/**
 * Node `agent`'s batch for interval k >= 0 (its end at `endMs`), without agent id, boot id
 * and sequence, which the shipper sets.
 */
export function nodeInterval(
  shape: NodeShape,
  agents: number,
  agent: number,
  k: number,
  endMs: number,
  statics: NodeStatics,
): Init<Omit<Batch, 'agentId' | 'bootId' | 'sequence'>> {
  const edges: Init<EdgeReport>[] = [];
  const hops: Init<HopReport>[] = [];
  const resources: Init<ResourceSample>[] = [];
  const U = shape.upstreams;
  const h = (kind: keyof typeof HISTOGRAMS, e: number) => HISTOGRAMS[kind][(e + k) % VARIANTS]!;
  for (let j = 0; j < shape.pods; j++) {
    const address = podAddress(agent, j);
    const rps = 40 + ((agent + j + k) % 60);
    const app = ref(appPid(j));
    const sidecar = ref(sidecarPid(j));
    // The sidecar's calls to its upstreams, and the calls of the pods it is upstream of.
    for (let u = 0; u < U; u++) {
      const up = upstreamOf(shape, agents, agent, j, u);
      const t = clientTuple(shape, agent, j, k, u);
      edges.push({
        process: sidecar,
        local: { address },
        remote: { address: podAddress(up.agent, up.pod), port: SIDECAR_PORT },
        ...counters('client', rps, 2_000),
        connectLatency: h('connect', u),
        exchangeLatency: h('exchange', u),
        srtt: h('srtt', u),
        connections: [
          {
            client: { address, port: t.port },
            server: { address: podAddress(up.agent, up.pod), port: SIDECAR_PORT },
            clientIsn: t.isn,
          },
        ],
      });
      const caller = callerOf(shape, agents, agent, j, u);
      const callerAddress = podAddress(caller.agent, caller.pod);
      const c = clientTuple(shape, caller.agent, caller.pod, k, u);
      const callerRps = 40 + ((caller.agent + caller.pod + k) % 60);
      edges.push({
        process: sidecar,
        local: { address, port: SIDECAR_PORT },
        remote: { address: callerAddress },
        ...counters('server', callerRps, 2_000),
        exchangeLatency: h('exchange', u + 3),
        srtt: h('srtt', u + 3),
        connections: [
          {
            client: { address: callerAddress, port: c.port },
            server: { address, port: SIDECAR_PORT },
            clientIsn: c.isn,
          },
        ],
      });
    }
    // The app's call to a Service, redirected to its own sidecar's outbound listener.
    const svc = clientTuple(shape, agent, j, k, U);
    edges.push({
      process: app,
      local: { address },
      remote: { address: serviceAddress(j), port: SERVICE_PORT },
      ...counters('client', rps, 2_000),
      connectLatency: h('connect', 1),
      exchangeLatency: h('exchange', 1),
      srtt: h('srtt', 1),
      connections: [
        {
          client: { address, port: svc.port },
          server: { address: serviceAddress(j), port: SERVICE_PORT },
          clientIsn: svc.isn,
        },
      ],
    });
    edges.push({
      process: sidecar,
      local: { address: '127.0.0.1', port: OUTBOUND_CAPTURE_PORT },
      remote: { address },
      ...counters('server', rps, 2_000),
      exchangeLatency: h('exchange', 2),
      connections: [
        {
          client: { address, port: svc.port },
          server: { address: '127.0.0.1', port: OUTBOUND_CAPTURE_PORT },
          clientIsn: svc.isn,
        },
      ],
    });
    // The sidecar hands inbound requests to the app on loopback.
    const loop = { port: 40_000 + (k % 20_000), isn: (agent * 7 + j * 13 + k * 17) >>> 0 };
    const inbound = U * rps;
    edges.push({
      process: sidecar,
      local: { address: '127.0.0.1' },
      remote: { address: '127.0.0.1', port: APP_PORT },
      ...counters('client', inbound, 2_000),
      connectLatency: h('connect', 4),
      exchangeLatency: h('loopback', 0),
      srtt: h('srtt', 4),
      connections: [
        {
          client: { address: '127.0.0.1', port: loop.port },
          server: { address: '127.0.0.1', port: APP_PORT },
          clientIsn: loop.isn,
        },
      ],
    });
    edges.push({
      process: app,
      local: { address: '127.0.0.1', port: APP_PORT },
      remote: { address: '127.0.0.1' },
      ...counters('server', inbound, 2_000),
      exchangeLatency: h('loopback', 1),
      connections: [
        {
          client: { address: '127.0.0.1', port: loop.port },
          server: { address: '127.0.0.1', port: APP_PORT },
          clientIsn: loop.isn,
        },
      ],
    });
    // An endpoint outside the cluster: no agent reports its end.
    const ext = clientTuple(shape, agent, j, k, U + 1);
    edges.push({
      process: app,
      local: { address },
      remote: { address: externalAddress(j), port: EXTERNAL_PORT },
      ...counters('client', 5, 8_000),
      connectLatency: h('connect', 5),
      exchangeLatency: h('external', j),
      srtt: h('srtt', 5),
      connections: [
        {
          client: { address, port: ext.port },
          server: { address: externalAddress(j), port: EXTERNAL_PORT },
          clientIsn: ext.isn,
        },
      ],
    });
    for (const direction of ['DIRECTION_INBOUND', 'DIRECTION_OUTBOUND'] as const)
      hops.push({
        process: sidecar,
        direction,
        method: 'HOP_METHOD_ARRIVAL_TO_FORWARD',
        requestHop: h('hop', j),
        responseHop: h('hop', j + 1),
        added: h('hop', j + 2),
        requests: direction === 'DIRECTION_INBOUND' ? inbound : rps,
        onCpuNs: 2_000_000 + j * 1_000,
      });
    for (const [c, process] of [app, sidecar].entries())
      resources.push({
        process,
        cpuUserNs: (k + 1000) * (c === 0 ? 80_000_000 : 20_000_000),
        cpuSystemNs: (k + 1000) * (c === 0 ? 10_000_000 : 8_000_000),
        rssBytes: c === 0 ? 512 * 2 ** 20 : 96 * 2 ** 20,
        source: 'RESOURCE_SOURCE_PROC',
      });
  }
  return {
    node: nodeName(agent),
    intervalStartUnixMs: endMs - 1000,
    intervalEndUnixMs: endMs,
    processes: statics.processes,
    edges,
    hops,
    resources,
    peers: statics.peers,
    podSigns: statics.podSigns,
    agentCost: {
      agentCpuNs: (k + 1000) * 25_000_000,
      agentRssBytes: 110 * 2 ** 20,
      runnerCpuNs: (k + 1000) * 5_000_000,
      runnerRssBytes: 12 * 2 ** 20,
      lost: {},
      programs: PROGRAMS.map((name, i) => ({
        name,
        attachMode: 'tp_btf',
        runCount: (k + 1) * 1_000 * (i + 1),
        runTimeNs: (k + 1) * 300_000 * (i + 1),
      })),
    },
  };
}

const PROGRAMS = [
  'tg_set_state',
  'tg_send_length',
  'tg_recv_length',
  'tg_retransmit',
  'tg_recv_reset',
  'tg_send_reset',
  'tg_kfree_skb',
  'tg_arrival',
  'tg_sched_switch',
  'tg_exec',
  'tg_exit',
];

/** One edge of the topology the collector must serve, by process id and peer. */
export interface ExpectedEdge {
  source: { node: string; pid: number; startTimeTicks: number } | { external: string };
  target: { node: string; pid: number; startTimeTicks: number } | { external: string };
  port: number;
  joined: 'tuple' | 'none';
}

/**
 * The edges the collector must draw for the whole cluster, from the connections this
 * generator made (not from how the collector joins them): per pod, its sidecar to each
 * upstream's sidecar (8080) and to its app (9080), its app to its own sidecar through
 * the Service's port (80), and its app to the external endpoint (443).
 */
export function expectedEdges(shape: NodeShape, agents: number): ExpectedEdge[] {
  const edges: ExpectedEdge[] = [];
  const proc = (agent: number, pid: number) => ({
    node: nodeName(agent),
    pid,
    startTimeTicks: START_TICKS,
  });
  for (let a = 0; a < agents; a++)
    for (let j = 0; j < shape.pods; j++) {
      for (let u = 0; u < shape.upstreams; u++) {
        const up = upstreamOf(shape, agents, a, j, u);
        edges.push({
          source: proc(a, sidecarPid(j)),
          target: proc(up.agent, sidecarPid(up.pod)),
          port: SIDECAR_PORT,
          joined: 'tuple',
        });
      }
      edges.push(
        {
          source: proc(a, sidecarPid(j)),
          target: proc(a, appPid(j)),
          port: APP_PORT,
          joined: 'tuple',
        },
        {
          source: proc(a, appPid(j)),
          target: proc(a, sidecarPid(j)),
          port: SERVICE_PORT,
          joined: 'tuple',
        },
        {
          source: proc(a, appPid(j)),
          target: { external: `${externalAddress(j)}:${EXTERNAL_PORT}` },
          port: EXTERNAL_PORT,
          joined: 'none',
        },
      );
    }
  return edges;
}
