// Small topologies in the collector's API shape, for the viewer's model tests, and a big
// synthetic one (pods of app + sidecar calling each other) for layout and the UI bench.
import type { PodCost, Topology, TopologyEdge, TopologyProcess } from '../../proto/api.js';

const stats = (count: number, p50: number | null) => ({
  count,
  p50Ms: p50,
  p90Ms: p50,
  p99Ms: p50,
  meanMs: p50,
});

export function processOf(
  id: string,
  pod: string | null,
  role: 'app' | 'sidecar',
  comm: string,
): TopologyProcess {
  return {
    id,
    pod,
    node: 'n1',
    pid: 1,
    comm,
    exe: `/bin/${comm}`,
    cmdline: [comm],
    container: comm,
    role,
  };
}

export function edgeOf(
  source: string,
  target: string,
  port: number,
  requestsPerS: number,
  latencyMs: number | null,
): TopologyEdge {
  return {
    id: `${source}>${target}:${port}`,
    source,
    target,
    port,
    joined: 'tuple',
    requestsPerS,
    bytesPerS: requestsPerS * 100,
    latencyMs,
    multiplexed: false,
    client: null,
    server: null,
  };
}

export function costOf(pod: string, inboundMs: number | null, outboundMs: number | null): PodCost {
  const direction = (ms: number | null) =>
    ms === null
      ? null
      : {
          requests: 100,
          unpaired: 4,
          exchanges: 96,
          coverage: 0.96,
          method: 'arrival-to-forward, joint' as const,
          unmatchedForwards: 0,
          arrivalUnknown: 0,
          handoffs: 0,
          handoffTiming: null,
          handoffsByEnds: { wakeUps: 0, reads: 0, notSaid: 0 },
          replyHandoffs: 0,
          neighbourWaitMsPerRequest: ms / 10,
          addedLatency: stats(96, ms),
          requestHop: stats(100, ms / 2),
          responseHop: stats(100, ms / 2),
          overheadShare: 0.1,
          downstreamLatency: stats(100, ms * 10),
        };
  const [namespace, name] = pod.slice(4).split('/') as [string, string];
  return {
    pod,
    namespace,
    name,
    mode: 'sidecar',
    proxy: 'envoy',
    modeSigns: ['sidecar envoy in the pod'],
    proxyShare: null,
    waypoint: null,
    requests: 100,
    requestsPerS: 10,
    inbound: direction(inboundMs),
    outbound: direction(outboundMs),
    sidecar: null,
    sidecarUnmeasured: null,
    app: null,
  };
}

/**
 * web (ns shop) -> api (ns shop) -> db (ns data), each pod an app and a sidecar, the
 * app's calls leaving through its sidecar; plus a peer outside.
 */
export function shopTopology(): Topology & { costs: PodCost[] } {
  const pods = [
    ['shop', 'web'],
    ['shop', 'api'],
    ['data', 'db'],
  ] as const;
  const processes: TopologyProcess[] = [];
  for (const [ns, name] of pods) {
    processes.push(processOf(`p:${name}`, `pod:${ns}/${name}`, 'app', name));
    processes.push(processOf(`s:${name}`, `pod:${ns}/${name}`, 'sidecar', 'envoy'));
  }
  return {
    fromMs: 0,
    toMs: 60_000,
    pods: pods.map(([namespace, name]) => ({
      id: `pod:${namespace}/${name}`,
      namespace,
      name,
      node: 'n1',
      source: 'POD_SOURCE_KUBERNETES',
      labels: {},
      processes: [`p:${name}`, `s:${name}`],
    })),
    processes,
    externals: [{ id: 'ext:8.8.8.8:53', address: '8.8.8.8', port: 53, name: null, kind: null }],
    edges: [
      edgeOf('p:web', 's:web', 15001, 10, 5),
      edgeOf('s:web', 's:api', 15006, 10, 4),
      edgeOf('s:api', 'p:api', 8080, 10, 3),
      edgeOf('p:api', 's:api', 15001, 5, 2),
      edgeOf('s:api', 's:db', 15006, 5, 1.5),
      edgeOf('s:db', 'p:db', 5432, 5, 1),
      edgeOf('p:db', 'ext:8.8.8.8:53', 53, 1, null),
    ],
    costs: [
      costOf('pod:shop/web', null, 0.8),
      costOf('pod:shop/api', 0.5, 0.6),
      costOf('pod:data/db', 0.4, null),
    ],
  };
}

/**
 * `pods` pods of an app and a sidecar each, in `namespaces` namespaces; every pod calls
 * the next few, so there are about 3 edges per process. Deterministic.
 */
export function syntheticTopology(
  pods: number,
  edgesPerProcess = 3,
  namespaces = 10,
): Topology & { costs: PodCost[] } {
  const t: Topology & { costs: PodCost[] } = {
    fromMs: 0,
    toMs: 60_000,
    pods: [],
    processes: [],
    externals: [],
    edges: [],
    costs: [],
  };
  for (let i = 0; i < pods; i++) {
    const ns = `ns-${i % namespaces}`;
    const id = `pod:${ns}/svc-${i}`;
    t.pods.push({
      id,
      namespace: ns,
      name: `svc-${i}`,
      node: `n${i % 8}`,
      source: 'POD_SOURCE_KUBERNETES',
      labels: { app: `svc-${i}` },
      processes: [`a${i}`, `s${i}`],
    });
    t.processes.push(
      processOf(`a${i}`, id, 'app', `svc-${i}`),
      processOf(`s${i}`, id, 'sidecar', 'envoy'),
    );
    t.costs.push(costOf(id, 0.3 + (i % 7) / 10, 0.2 + (i % 5) / 10));
  }
  const perPod = edgesPerProcess * 2;
  for (let i = 0; i < pods; i++) {
    t.edges.push(edgeOf(`a${i}`, `s${i}`, 15001, 10 + (i % 13), 1 + (i % 9)));
    for (let k = 1; k < perPod; k++) {
      const j = (i + k * 7 + ((i * k) % 11)) % pods;
      if (j === i) continue;
      t.edges.push(edgeOf(`s${i}`, `s${j}`, 15006 + k, 1 + ((i + k) % 17), 0.5 + ((i * k) % 40)));
    }
  }
  return t;
}

/** A share of the shared proxy `processes`: `used` is the method behind the cost. */
export function shareOf(
  onCpu: number | null,
  bytes: number | null,
  used: 'on-cpu' | 'bytes',
  processes: string[] = [],
) {
  return {
    processes,
    method: used,
    share: used === 'on-cpu' ? onCpu : bytes,
    byMethod: { onCpu, bytes },
  };
}

/**
 * An ambient mesh on node n1: pod shop/front calls `backends` pods shop/svc-0.. through
 * the node proxy (pod mesh/ztunnel, one process `z`), which delivers to each: svc-i at
 * i + 1 req/s. The first `viaWaypoint` backends take their inbound traffic through a
 * waypoint (pod mesh/waypoint, process `w`) between node proxies. Shares of the node
 * proxy: front half of it on-cpu (0.4 by bytes), svc-i (i + 1) / (2 S) on-cpu, S the
 * sum of the backends' rates, and by bytes 0.6 of that.
 */
export function ambientTopology(
  backends: number,
  viaWaypoint = 0,
): Topology & { costs: PodCost[] } {
  const pod = (ns: string, name: string, processes: string[]) => ({
    id: `pod:${ns}/${name}`,
    namespace: ns,
    name,
    node: 'n1',
    source: 'POD_SOURCE_KUBERNETES' as const,
    labels: {},
    processes,
  });
  const names = Array.from({ length: backends }, (_, i) => `svc-${i}`);
  const sum = (backends * (backends + 1)) / 2;
  const waypointRate = (viaWaypoint * (viaWaypoint + 1)) / 2;
  const t: Topology & { costs: PodCost[] } = {
    fromMs: 0,
    toMs: 60_000,
    pods: [
      pod('shop', 'front', ['p:front']),
      ...names.map((n) => pod('shop', n, [`p:${n}`])),
      pod('mesh', 'ztunnel', ['z']),
      ...(viaWaypoint > 0 ? [pod('mesh', 'waypoint', ['w'])] : []),
    ],
    processes: [
      processOf('p:front', 'pod:shop/front', 'app', 'front'),
      ...names.map((n) => processOf(`p:${n}`, `pod:shop/${n}`, 'app', n)),
      processOf('z', 'pod:mesh/ztunnel', 'sidecar', 'ztunnel'),
      ...(viaWaypoint > 0 ? [processOf('w', 'pod:mesh/waypoint', 'sidecar', 'haproxy')] : []),
    ],
    externals: [],
    edges: [
      edgeOf('p:front', 'z', 9080, sum, 2),
      ...names.map((n, i) => edgeOf('z', `p:${n}`, 9080, i + 1, 1)),
      ...(viaWaypoint > 0
        ? [edgeOf('z', 'w', 15008, waypointRate, 1.5), edgeOf('w', 'z', 15008, waypointRate, 1.2)]
        : []),
    ],
    costs: [],
  };
  const ambient = (id: string, share: ReturnType<typeof shareOf>): PodCost => ({
    ...costOf(id, 0.1, 0.05),
    mode: 'ambient',
    proxy: 'ztunnel',
    modeSigns: ["node proxy ztunnel holds sockets in the pod's namespace"],
    proxyShare: share,
  });
  t.costs.push(ambient('pod:shop/front', shareOf(0.5, 0.4, 'on-cpu', ['z'])));
  names.forEach((n, i) => {
    const onCpu = (i + 1) / (2 * sum);
    const c = ambient(`pod:shop/${n}`, shareOf(onCpu, 0.6 * onCpu, 'on-cpu', ['z']));
    if (i < viaWaypoint)
      t.costs.push({
        ...c,
        mode: 'ambient+waypoint',
        waypoint: {
          process: 'w',
          proxy: 'haproxy',
          share: shareOf(null, (i + 1) / waypointRate, 'bytes', ['w']),
          cost: { cpuMsPer1kRequests: 3, millicores: 4, rssMb: 5, rssMbMax: 6 },
          inbound: null,
        },
      });
    else t.costs.push(c);
  });
  const proxyPod = (id: string, mode: 'node-proxy' | 'waypoint', proxy: string): PodCost => ({
    ...costOf(id, null, null),
    mode,
    proxy,
    modeSigns: [],
  });
  t.costs.push(proxyPod('pod:mesh/ztunnel', 'node-proxy', 'ztunnel'));
  if (viaWaypoint > 0) t.costs.push(proxyPod('pod:mesh/waypoint', 'waypoint', 'haproxy'));
  return t;
}
