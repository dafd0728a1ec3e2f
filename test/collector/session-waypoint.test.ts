// A session result of a known ambient+waypoint topology, worked out by hand: a pod served
// by a node proxy (its share by on-cpu and by bytes) and a waypoint (its share by bytes),
// each part's CPU and memory, the mode signs as given (label values among them), the SMPS
// sidecars (none) and the data plane; the file round trip keeps all of it; and the
// comparison with the pod's sidecar days sums the node proxy's share and the waypoint's
// part. The collector's cost model does not fill waypoints yet, so the pod's cost is
// given here as the API's contract (PodCost) says it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HopRecord } from '../../collector/model/sidecar-cost.js';
import type { RangeView } from '../../collector/queries.js';
import { compareSessions } from '../../collector/sessions/compare.js';
import { detectMesh, meshDataplane } from '../../collector/sessions/environment.js';
import { sessionResults } from '../../collector/sessions/results.js';
import {
  canonicalSession,
  decodeSessionFile,
  encodeSessionFile,
} from '../../collector/sessions/session-file.js';
import type { PodCost, TopologyPod, TopologyProcess } from '../../proto/api.js';
import type { PodResult, SessionExport } from '../../proto/gen/tollgate/v1.js';
import { emptyHistogram, fromValues } from '../../proto/histogram.js';
import { compileTarget } from '../../proto/target.js';

const SECONDS = 10;
const REQUESTS = 2_000;
/** The node proxy over the window, and the pod's share of it by each method. */
const ZTUNNEL = { cpuMs: 1_000, rssMb: 20, onCpu: 0.4, bytes: 0.5 };
/** The waypoint over the window, and the pod's share of it (on-cpu not measured). */
const WAYPOINT = { cpuMs: 600, rssMb: 50, bytes: 0.25 };
const SIGNS = [
  'no sidecar in the pod; node proxy ztunnel holds sockets in its namespace',
  'namespace label istio.io/dataplane-mode=ambient',
  // A label value is the observed world's: carried as it is, shown as text.
  'label istio.io/use-waypoint=<img src=x onerror=alert(1)>\u202e',
];

function process(id: string, pod: string, comm: string, role: TopologyProcess['role']) {
  return {
    id,
    pod,
    node: 'node-1',
    pid: 1,
    comm,
    exe: `/usr/local/bin/${comm}`,
    cmdline: [comm],
    container: role === 'sidecar' ? 'istio-proxy' : comm,
    role,
  } satisfies TopologyProcess;
}

function pod(namespace: string, name: string, processes: string[]): TopologyPod {
  return {
    id: `pod:${namespace}/${name}`,
    namespace,
    name,
    node: 'node-1',
    source: 'POD_SOURCE_KUBERNETES',
    labels: {},
    processes,
  };
}

const WAYPOINT_POD = 'waypoint-7f9c8d6b5-x2x4k';
const PODS = [
  pod('shop', 'reviews-0', ['proc:reviews']),
  pod('shop', WAYPOINT_POD, ['proc:waypoint']),
  pod('istio-system', 'ztunnel-a', ['proc:ztunnel']),
];
const PROCESSES = [
  process('proc:reviews', PODS[0]!.id, 'reviews', 'app'),
  process('proc:waypoint', PODS[1]!.id, 'envoy', 'sidecar'),
  process('proc:ztunnel', PODS[2]!.id, 'ztunnel', 'sidecar'),
];

/** A process's CPU and memory at a share, as the cost model states them. */
const at = (cpuMs: number, rssMb: number, share: number) => ({
  cpuMsPer1kRequests: ((cpuMs * share) / REQUESTS) * 1000,
  millicores: (cpuMs * share) / SECONDS,
  rssMb: rssMb * share,
  rssMbMax: rssMb * share,
});

const base = {
  requests: REQUESTS,
  requestsPerS: REQUESTS / SECONDS,
  inbound: null,
  outbound: null,
  app: at(200, 30, 1),
  proxyShare: null,
  waypoint: null,
  modeSigns: [],
  sidecarUnmeasured: null,
} satisfies Partial<PodCost>;

const COSTS: PodCost[] = [
  {
    ...base,
    pod: PODS[0]!.id,
    namespace: 'shop',
    name: 'reviews-0',
    mode: 'ambient+waypoint',
    modeSigns: SIGNS,
    proxy: 'ztunnel',
    proxyShare: {
      processes: ['proc:ztunnel'],
      method: 'on-cpu',
      share: ZTUNNEL.onCpu,
      byMethod: { onCpu: ZTUNNEL.onCpu, bytes: ZTUNNEL.bytes },
    },
    sidecar: at(ZTUNNEL.cpuMs, ZTUNNEL.rssMb, ZTUNNEL.onCpu),
    waypoint: {
      process: 'proc:waypoint',
      proxy: 'envoy',
      share: {
        processes: ['proc:waypoint'],
        method: 'bytes',
        share: WAYPOINT.bytes,
        byMethod: { onCpu: null, bytes: WAYPOINT.bytes },
      },
      cost: at(WAYPOINT.cpuMs, WAYPOINT.rssMb, WAYPOINT.bytes),
      inbound: null,
    },
  },
  {
    ...base,
    pod: PODS[1]!.id,
    namespace: 'shop',
    name: WAYPOINT_POD,
    mode: 'waypoint',
    proxy: 'envoy',
    sidecar: null,
  },
  {
    ...base,
    pod: PODS[2]!.id,
    namespace: 'istio-system',
    name: 'ztunnel-a',
    mode: 'node-proxy',
    proxy: 'ztunnel',
    sidecar: null,
  },
];

/** The node proxy's inbound hops through the pod: 100 exchanges of 2 x 150 us. */
const HOPS: HopRecord[] = [
  {
    processKey: 'proc:ztunnel',
    direction: 'inbound',
    socketPod: PODS[0]!.id,
    metrics: {
      sums: { requests: 100, unpaired: 0 },
      maxes: { method: 2 },
      hists: {
        request_hop: fromValues(Array.from({ length: 100 }, () => 150_000)),
        response_hop: fromValues(Array.from({ length: 100 }, () => 150_000)),
        added: fromValues(Array.from({ length: 100 }, () => 300_000)),
      },
    },
  },
];

const VIEW: RangeView = {
  topology: {
    fromMs: 1_000_000,
    toMs: 1_000_000 + SECONDS * 1000,
    pods: PODS,
    processes: PROCESSES,
    externals: [],
    edges: [],
  },
  costs: COSTS,
  edgeEnds: new Map(),
  resources: new Map(),
  hops: HOPS,
  ends: [
    {
      id: 1,
      processKey: 'proc:ztunnel',
      side: 'server',
      localAddress: '10.3.0.1',
      remoteAddress: '10.3.0.9',
      port: 15008,
      socketPod: PODS[0]!.id,
      metrics: { sums: {}, maxes: {}, hists: { exchange_latency: emptyHistogram() } },
    },
  ],
};

function results() {
  return sessionResults({
    view: VIEW,
    target: compileTarget({ all: false, namespaces: ['shop'], podSelector: '', pods: [] }),
  });
}

test('an ambient+waypoint pod records its node proxy share by each method and its waypoint part', () => {
  const r = results();
  assert.deepEqual(
    r.pods.map((p) => [p.pod!.name, p.meshMode]),
    [
      ['reviews-0', 'ambient+waypoint'],
      [WAYPOINT_POD, 'waypoint'],
    ],
  );
  const reviews = r.pods[0]!;
  assert.deepEqual(reviews.modeSigns, SIGNS);
  assert.equal(reviews.proxy, 'ztunnel');
  // The node proxy: 40% by on-cpu (the method behind the cost), 50% by bytes.
  assert.deepEqual([reviews.proxyShare, reviews.proxyShareMethod], [0.4, 'on-cpu']);
  assert.deepEqual(reviews.proxyShares, [
    { method: 'on-cpu', share: 0.4 },
    { method: 'bytes', share: 0.5 },
  ]);
  // Of which node proxy: its process, as the topology names it; its figures measured.
  assert.deepEqual(reviews.proxyProcesses, ['proc:ztunnel']);
  assert.equal(reviews.proxyUnmeasured, '');
  // 400 ms of its 1,000 over 2,000 requests and 10 s; 8 of its 20 MB.
  assert.equal(reviews.sidecarCpuMsPerThousandRequests, 200);
  assert.equal(reviews.sidecarCpuMcores, 40);
  assert.equal(reviews.sidecarMemMb, 8);
  // The waypoint: 25% by bytes of 600 ms and 50 MB.
  assert.deepEqual(reviews.waypoints, [
    {
      proxy: 'envoy',
      pod: `shop/${WAYPOINT_POD}`,
      share: 0.25,
      shareMethod: 'bytes',
      shares: [{ method: 'bytes', share: 0.25 }],
      measured: true,
      cpuMsPerThousandRequests: 75,
      memMb: 12.5,
      cpuMcores: 15,
    },
  ]);
  // The hops through the pod's namespace are the node proxy's.
  assert.deepEqual(reviews.inboundAdded!.counts, [100]);
  // SMPS's sidecars: none (a node proxy's share is no sidecar).
  assert.deepEqual(r.sidecars, []);
  assert.deepEqual(
    r.carriers.map((c) => [c.kind, c.pod, c.process.comm]),
    [
      ['node-proxy', 'shop/reviews-0', 'ztunnel'],
      ['waypoint', 'shop/reviews-0', 'envoy'],
    ],
  );
  assert.deepEqual(meshDataplane(r.pods, r.carriers), {
    modes: [
      { mode: 'ambient+waypoint', pods: 1 },
      { mode: 'waypoint', pods: 1 },
    ],
    proxies: [
      { kind: 'node-proxy', proxy: 'ztunnel', processes: 1, pods: 1, cpuMcores: 40, memMb: 8 },
      { kind: 'waypoint', proxy: 'envoy', processes: 1, pods: 1, cpuMcores: 15, memMb: 12.5 },
    ],
  });
  assert.equal(
    detectMesh(
      [],
      r.carriers.map((c) => c.process),
    ).mesh,
    'istio',
    'ztunnel and the istio-proxy container are Istio',
  );
});

function exported(id: string, pods: PodResult[]): SessionExport {
  const r = results();
  return canonicalSession({
    formatVersion: 1,
    smpVersion: '0.0.1',
    id,
    name: id,
    labels: {},
    startUnixMs: VIEW.topology.fromMs,
    endUnixMs: VIEW.topology.toMs,
    actualQps: 0,
    sidecars: r.sidecars,
    tollgate: {
      pods,
      edges: [],
      latencySource: '',
      dataplane: meshDataplane(r.pods, r.carriers),
    },
  });
}

test('export -> import keeps every mesh field, in JSON and in protobuf', () => {
  const e = exported('ambient', results().pods);
  for (const format of ['json', 'pb'] as const) {
    const back = decodeSessionFile(encodeSessionFile(e, format), format);
    assert.deepEqual(back, e, format);
    assert.deepEqual(back.tollgate!.pods[0]!.modeSigns, SIGNS);
  }
});

test("compare with the pod's sidecar days: the node proxy's share plus the waypoint's part, each method said", () => {
  const ambient = results().pods[0]!;
  const sidecar: PodResult = {
    ...ambient,
    proxy: 'envoy',
    meshMode: 'sidecar',
    modeSigns: ['sidecar envoy in the pod'],
    proxyShare: 0,
    proxyShareMethod: '',
    proxyShares: [],
    waypoints: [],
    sidecarCpuMsPerThousandRequests: 300,
    sidecarCpuMcores: 60,
    sidecarMemMb: 50,
  };
  const c = compareSessions(exported('sidecar', [sidecar]), exported('ambient', [ambient]));
  const item = c.items.find((i) => i.key === 'shop/reviews-0')!;
  assert.deepEqual(item.meshModes, { a: 'sidecar', b: 'ambient+waypoint' });
  const cpu = item.metrics.find((m) => m.metric === 'proxy CPU')!;
  // 200 ms/1k of the node proxy + 75 of the waypoint; bound: two 10 ms ticks per process
  // at its share, over 2,000 requests: 10 (envoy) + 4 (ztunnel at 40%) + 2.5 (waypoint).
  assert.deepEqual([cpu.a, cpu.b, cpu.delta, cpu.errorBound], [300, 275, -25, 16.5]);
  assert.equal(cpu.significant, true);
  assert.equal(
    cpu.note,
    'A: sidecar envoy; B: node proxy ztunnel at 40% by on-cpu + waypoint envoy at 25% by bytes',
  );
  const memory = item.metrics.find((m) => m.metric === 'proxy memory')!;
  assert.deepEqual([memory.a, memory.b], [50, 20.5]);
});
