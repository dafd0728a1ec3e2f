// The shapes the collector's HTTP and WebSocket API sends, named once for the collector,
// the viewer and the tools that read the API. Types only: no run-time code, and imports
// from proto/ alone, so the viewer needs nothing of the collector's to name them.
import type { WireCounter } from './edge-metrics.js';
import type {
  AgentCost,
  EdgeReport,
  Histogram,
  MeshConfig,
  SessionExport,
  SessionTarget,
} from './gen/tollgate/v1.js';
import type { SparseHistogram } from './histogram.js';
import type { AddedMethod, HandoffsByEnds, HandoffTiming, LatencyStats } from './latency.js';

// The topology of a time range (collector/model/topology.ts builds it).

/** The counters an edge report carries (proto/edge-metrics.ts), summed over the ends of one side of an edge. */
export type EndCounters = Pick<EdgeReport, WireCounter>;

export interface EndSummary extends EndCounters {
  /** How many kernel aggregation keys were merged into this side of the edge. */
  ends: number;
  exchangeLatency: LatencyStats;
  connectLatency: LatencyStats;
  srtt: LatencyStats;
  /**
   * This side's counters also cover other edges. A client's: other servers (the kernel
   * aggregates by dialed address, and a Service address spreads over several backends).
   * A server's: other client processes (the kernel keys a server end by the client's
   * address, which every process of the client's pod shares).
   */
  shared: boolean;
}

export type JoinMethod = 'tuple' | 'address' | 'none';

export interface TopologyEdge {
  id: string;
  source: string;
  target: string;
  /** The port the client dialed (the server's listening port for an unjoined server end). */
  port: number;
  joined: JoinMethod;
  requestsPerS: number;
  bytesPerS: number;
  /**
   * Exchange latency p50: the client's view when known, else the server's. Null on a
   * multiplexed edge, whose send-to-reply times are no request's latency.
   */
  latencyMs: number | null;
  /**
   * Either end was seen carrying several requests at once (multiplexedExchanges > 0):
   * HTTP/2, gRPC, pipelining. Its exchange latency is left out (latencyMs null, both
   * ends' exchangeLatency empty), and requestsPerS counts its direction changes, which
   * take requests in flight together for one. Requests on HTTP/2 connections followed
   * from their preface (plaintext) are counted from their frames instead, on any edge
   * (EndCounters' http2Requests and http2Exchanges), and those a proxy forwarded on its
   * multiplexed upstream whose frames are not followed (HTTP/2 in TLS) by its hop
   * pairing (forwardedRequests and forwardedExchanges).
   */
  multiplexed: boolean;
  client: EndSummary | null;
  server: EndSummary | null;
}

export interface TopologyProcess {
  id: string;
  pod: string | null;
  node: string;
  pid: number;
  comm: string;
  exe: string;
  cmdline: string[];
  container: string;
  role: 'app' | 'sidecar';
}

export interface TopologyPod {
  id: string;
  namespace: string;
  name: string;
  node: string;
  source: string;
  /** Kubernetes labels (none for network-namespace pods). Untrusted strings. */
  labels: Record<string, string>;
  processes: string[];
  /**
   * What the cluster says of how the pod is meshed, as its agent last shipped it; absent
   * for pods without Kubernetes (network namespaces) and from agents older than it.
   */
  mesh?: MeshSigns;
}

/**
 * The cluster's own signs of how a pod is meshed (proto/mesh-signs.ts says which): Istio's
 * labels on its namespace and on itself, its controlling owner, its sidecar containers.
 * Untrusted strings, each at most 253 characters.
 */
export interface MeshSigns {
  /** The namespace's istio.io/dataplane-mode and istio.io/use-waypoint, when set. */
  namespaceLabels: Record<string, string>;
  /** The pod's istio.io/dataplane-mode, istio.io/use-waypoint, gateway.istio.io/managed and app, when set. */
  labels: Record<string, string>;
  /** The controller that owns the pod (a DaemonSet, a ReplicaSet, ...); null for none. */
  owner: { kind: string; name: string } | null;
  /** The pod's containers named as a mesh's sidecar (istio-proxy, linkerd-proxy, ...). */
  sidecarContainers: string[];
}

export interface TopologyExternal {
  id: string;
  address: string;
  port: number;
  /** Who owns the address, "namespace/name", when known: a pod or a Service. */
  name: string | null;
  /**
   * 'folded': not one peer but the peers the kernel summed (address unspecified): a
   * listener's clients past its per-interval limit (port 0), or servers a client's edge
   * map had no room for (the dialed port).
   */
  kind: 'pod' | 'service' | 'folded' | null;
}

export interface Topology {
  fromMs: number;
  toMs: number;
  pods: TopologyPod[];
  processes: TopologyProcess[];
  externals: TopologyExternal[];
  edges: TopologyEdge[];
}

// What each pod's sidecar costs (collector/model/sidecar-cost.ts).

export type Direction = 'inbound' | 'outbound';

export interface ProcessCost {
  cpuMsPer1kRequests: number | null;
  millicores: number;
  rssMb: number | null;
  rssMbMax: number | null;
}

export interface DirectionCost {
  /**
   * Downstream exchanges the sidecar saw complete in this direction (from agents that
   * time read -> write: the request hops they timed).
   */
  requests: number;
  /** Of `requests`, those left out of the joint figure: a hop could not be paired. */
  unpaired: number;
  /** Exchanges behind `addedLatency` (see AddedLatency.exchanges). */
  exchanges: number;
  /** exchanges / requests: the share of the traffic the figure covers; null without any. */
  coverage: number | null;
  /** How `addedLatency` was made. */
  method: AddedMethod;
  /** Forwards that found no arrival to pair with (health checks, multiplexed writes). */
  unmatchedForwards: number;
  /** Hops timed from the proxy's read: the kernel had not seen their bytes arrive. */
  arrivalUnknown: number;
  /**
   * Request hops that ran on to the next reader (the proxy and that reader both idle at
   * the hand-off: from the proxy's wake-up to the reader's as `handoffTiming` says;
   * or, from agents of 2026-12-04 on, a request the busy proxy let go in a burst to a
   * reader busy with the burst, to its read: README, "What added latency means"); the
   * others run from the arrival to the proxy's forward.
   */
  handoffs: number;
  /**
   * Where the hand-offs (`handoffs` and `replyHandoffs` together) began and ended: at the
   * proxy's and the reader's switches onto a CPU (wake-up to wake-up), at their reads (an
   * agent whose kernel gave it no context-switch hook, or whose attach of it failed), more
   * than one of these over the range ('mixed', see `handoffsByEnds`), or not said (agents
   * older than the field: read to read before 2026-12-07). Null without hand-offs. A
   * message carried to a reader busy with the proxy's burst runs to its read either way.
   */
  handoffTiming: HandoffTiming | null;
  /** The hand-offs (request and reply) by how they were timed. */
  handoffsByEnds: HandoffsByEnds;
  /**
   * Response hops that ran on to the client (the proxy idle when the reply reached it, a
   * client on its node that is no proxy waiting for it: to the client's wake-up; or, from
   * agents of 2026-12-04 on, a reply the busy proxy let go in a burst to such a client busy
   * with the burst: to its read); the others run from the reply's arrival to its delivery
   * by the proxy's write.
   */
  replyHandoffs: number;
  /**
   * The run-queue wait of other processes' threads while this direction's proxy threads ran
   * on their CPU, per request, ms: the CPU the proxy took from its neighbours (its app,
   * clients on its node), which no hop holds and of which an A/B measurement sees part as
   * latency (docs/added-latency.md, "The neighbours' wait"). Not in `addedLatency`. Null
   * without requests; 0 where the kernel did not count it (no sched_switch hook, older
   * agents).
   */
  neighbourWaitMsPerRequest: number | null;
  addedLatency: LatencyStats;
  requestHop: LatencyStats;
  responseHop: LatencyStats;
  /** Added mean / downstream exchange mean; null without downstream exchanges. */
  overheadShare: number | null;
  downstreamLatency: LatencyStats;
}

/**
 * How a pod's mesh traffic is proxied: by a sidecar in the pod; by a node proxy outside it
 * (ambient mode's ztunnel) with sockets in the pod's namespace; by a node proxy and, for
 * its inbound traffic, a waypoint (an L7 proxy pod between node proxies); the pod is itself
 * a node proxy's or a waypoint's, whose cost goes to the pods they serve; or not at all.
 */
export type MeshMode =
  | 'sidecar'
  | 'ambient'
  | 'ambient+waypoint'
  | 'node-proxy'
  | 'waypoint'
  | 'none';

/**
 * How a shared proxy's CPU and memory are split among the pods it serves: `on-cpu`, the
 * proxy threads' on-CPU time while serving the pod's sockets (timed by the kernel), or
 * `bytes`, the pod's share of the proxy's bytes, both ways.
 */
export type ShareMethod = 'on-cpu' | 'bytes';

export interface ProxyShare {
  /**
   * The shared proxy processes this is a share of, by their ids in Topology.processes:
   * one, or several where more than one served the pod over the range (a node proxy that
   * restarted is a new process), the share then being of them together.
   */
  processes: string[];
  /** The method behind `share`, and so behind the cost: on-cpu where timed, else bytes. */
  method: ShareMethod;
  share: number | null;
  /** The share by each method, null where not measured: the method's effect, visible. */
  byMethod: { onCpu: number | null; bytes: number | null };
}

/** A waypoint carrying a pod's inbound mesh traffic, and the part of it put to the pod. */
export interface WaypointCost {
  /** The waypoint's process id and executable name. */
  process: string;
  proxy: string;
  share: ProxyShare;
  /** Its CPU and memory at `share`, per 1,000 of the pod's requests. */
  cost: ProcessCost | null;
  /**
   * What it adds to the requests it carries, over all its traffic: the kernel times its
   * hops per listener, not per destination. Not in the pod's `inbound`, which is the node
   * proxy's in the pod. null where its hops are not timed.
   */
  inbound: DirectionCost | null;
}

export interface PodCost {
  pod: string;
  namespace: string;
  name: string;
  mode: MeshMode;
  /**
   * Why the mode, in words: what Tollgate saw (a sidecar process in the pod, a node
   * proxy's sockets in its namespace) and the cluster's own signs (labels, container
   * names). Label values come from the observed world: display them as text only.
   */
  modeSigns: string[];
  /** The proxy's executable name (the sidecar's, or the node proxy's), or null for none. */
  proxy: string | null;
  /**
   * For an ambient pod: the share of the node proxy's CPU and memory put to this pod, and
   * how, and which node proxy process it is of; `sidecar` then holds that share. null for
   * the other modes.
   */
  proxyShare: ProxyShare | null;
  /** For an ambient+waypoint pod: the waypoint's part; null otherwise. */
  waypoint: WaypointCost | null;
  requests: number;
  requestsPerS: number;
  inbound: DirectionCost | null;
  outbound: DirectionCost | null;
  /**
   * The CPU and memory of the proxy carrying the pod's traffic (its sidecar, or its share
   * of the node proxy); null where not measured, and then `sidecarUnmeasured` says why.
   */
  sidecar: ProcessCost | null;
  /**
   * Why `sidecar` is null though the mode says a proxy carries the pod's traffic (sidecar,
   * ambient, ambient+waypoint): no process of it was seen (it is known only from the
   * cluster's signs), or none of its CPU and memory samples were read in the range. null
   * where `sidecar` is measured, and for the other modes.
   */
  sidecarUnmeasured: string | null;
  app: ProcessCost | null;
}

// What changed between two topologies (collector/model/diff.ts).

export type Collections = 'pods' | 'processes' | 'externals' | 'edges';

export interface TopologyDelta {
  fromMs: number;
  toMs: number;
  upserted: { [K in Collections]: Topology[K] };
  removed: { [K in Collections]: string[] };
  costs: { upserted: PodCost[]; removed: string[] };
}

/** What the live WebSocket sends: a whole view first, then what changed. */
export type LiveMessage =
  | ({ type: 'snapshot' } & TopologyResponse)
  | ({ type: 'delta' } & TopologyDelta);

/** `GET /api/topology`: a range's topology and each pod's sidecar cost. */
export type TopologyResponse = Topology & { costs: PodCost[] };

// Details and agents (collector/queries.ts).

export interface EdgeDetail {
  edge: Topology['edges'][number];
  histograms: {
    clientExchange: SparseHistogram;
    serverExchange: SparseHistogram;
    connect: SparseHistogram;
    srtt: SparseHistogram;
  };
  series: {
    startMs: number;
    client: EndSummary | null;
    server: EndSummary | null;
  }[];
}

/** A pod in a range: its cost, its processes, and its sidecar's added latency distributions. */
export interface PodDetail {
  pod: Topology['pods'][number];
  cost: PodCost;
  processes: Topology['processes'];
  /** Each exchange's added latency (request hop + response hop), per direction. */
  addedHistograms: { inbound: SparseHistogram; outbound: SparseHistogram };
}

/**
 * An agent's latest cumulative cost report: the AgentCost of the last batch of the agent
 * that carried one, as the collector decoded it (every number there, 64-bit ones as
 * numbers; `programs` a list, maybe empty) and stored it, as JSON. `lost`, the loss
 * counters, is absent when the agent sent none.
 */
export type AgentCostReport = AgentCost;

export interface AgentView {
  agentId: string;
  node: string;
  bootId: string;
  version: string;
  lastSeenMs: number;
  nodeInfo: unknown;
  millicores: number | null;
  runnerMillicores: number | null;
  rssMb: number | null;
  runnerRssMb: number | null;
  /**
   * The latest cumulative cost report, loss counters and per-program BPF time included;
   * null for an agent that has said hello and sent no cost report yet.
   */
  latest: AgentCostReport | null;
}

// Sessions (collector/sessions/session-manager.ts and stored-session.ts,
// collector/store/session-rows.ts).

export type SessionState = 'running' | 'finishing' | 'stopped' | 'imported' | 'failed';

/** A load Tollgate runs (urls given) or one run by something else that is described. */
export interface LoadSpec {
  urls?: string[];
  generator?: string;
  rps: number;
  connections: number;
  durationS: number;
}

export interface StartSpec {
  name: string;
  labels?: Record<string, string>;
  target?: Partial<Pick<SessionTarget, 'namespaces' | 'podSelector' | 'pods'>>;
  /** Stop by itself after this long. */
  durationS?: number;
  mesh?: Partial<MeshConfig>;
  kubernetesVersion?: string;
  load?: LoadSpec;
}

export interface SessionSummary {
  id: string;
  name: string;
  state: SessionState;
  labels: Record<string, string>;
  target: StartSpec['target'];
  startMs: number;
  endMs: number | null;
  plannedEndMs: number | null;
  readOnly: boolean;
  error: string | null;
  load: LoadSpec | null;
  loadAgents: string[];
}

// A session's result as its export file's canonical JSON holds it
// (collector/sessions/session-file.ts), and the session detail that carries it.

/** snake_case of a camelCase name: how the file spells the .proto's fields. */
type Snake<S extends string> = S extends `${infer H}${infer T}`
  ? `${H extends Lowercase<H> ? H : `_${Lowercase<H>}`}${Snake<T>}`
  : S;

/** A message as the canonical session file holds it: snake_case names, every field present. */
type FileShape<T> = T extends readonly (infer U)[]
  ? FileShape<U>[]
  : T extends object
    ? {
        -readonly [K in keyof T as K extends string ? Snake<K> : K]-?: FileShape<NonNullable<T[K]>>;
      }
    : T;

export type SessionFile = FileShape<SessionExport>;
export type FileHistogram = FileShape<Histogram>;

/** GET /sessions/:id: the summary, with the result once the session is stopped or imported. */
export type SessionDetail = SessionSummary & { result: SessionFile | null };

// Two sessions compared (collector/sessions/compare.ts).

export interface MetricDelta {
  metric: string;
  unit: 'ms' | 'ms/1k req' | 'MB' | 'req/s' | 'count';
  a: number | null;
  b: number | null;
  /** b - a. */
  delta: number | null;
  /** (b - a) / a. */
  relative: number | null;
  errorBound: number | null;
  significant: boolean;
  /** Why a difference is not judged (too few samples, missing on one side). */
  note: string;
}

export interface ComparedItem {
  kind: 'session' | 'pod' | 'edge';
  key: string;
  /** The item's name in each session (null where it is missing). */
  a: string | null;
  b: string | null;
  matchedBy: 'name' | 'workload' | null;
  /** A pod's mesh mode in each session (null where it is missing): a migration shows here. */
  meshModes?: { a: MeshMode | null; b: MeshMode | null };
  metrics: MetricDelta[];
}

export interface SessionSide {
  id: string;
  name: string;
  startUnixMs: number;
  endUnixMs: number;
  labels: Record<string, string>;
}

export interface Comparison {
  a: SessionSide;
  b: SessionSide;
  items: ComparedItem[];
  significant: number;
}
