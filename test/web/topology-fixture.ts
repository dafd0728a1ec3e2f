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
