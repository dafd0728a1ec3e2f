// Synthesised batches of a known two-pod mesh, as the agent would send them:
//   pod-a: app a --REDIRECT--> sidecar sa  ==>  pod-b: sidecar sb --> app b
// plus a third pod whose loopback tuples collide with pod-b's, to prove that loopback
// joins stay inside one network namespace. Every number is chosen, so tests know the
// exact topology, counters and latency distributions the collector must return.
import type {
  Batch,
  EdgeReport,
  Endpoint,
  HopReport,
  Init,
  ProcessIdentity,
} from '../../proto/gen/tollgate/v1.js';
import { fromValues } from '../../proto/histogram.js';

export const NODE = 'node-1';
export const A_IP = '10.1.0.1';
export const B_IP = '10.1.0.2';

function proc(
  pid: number,
  comm: string,
  pod: string,
  netns: number,
  role: 'ROLE_APP' | 'ROLE_SIDECAR',
): Init<ProcessIdentity> {
  return {
    ref: { pid, startTimeTicks: 1000 + pid },
    comm,
    exe: `/usr/bin/${comm}`,
    cmdline: [comm, '--serve'],
    netnsInode: netns,
    containerName: role === 'ROLE_SIDECAR' ? 'istio-proxy' : comm,
    pod: { namespace: 'shop', name: pod, node: NODE, source: 'POD_SOURCE_NETNS' },
    role,
  };
}

export const PROCESSES = {
  a: proc(101, 'frontend', 'pod-a', 4001, 'ROLE_APP'),
  sa: proc(102, 'haproxy', 'pod-a', 4001, 'ROLE_SIDECAR'),
  sb: proc(201, 'haproxy', 'pod-b', 4002, 'ROLE_SIDECAR'),
  b: proc(202, 'catalog', 'pod-b', 4002, 'ROLE_APP'),
  c: proc(301, 'decoy', 'pod-c', 4003, 'ROLE_APP'),
};

/** Latencies (ns) of interval i: deterministic, spread over a decade. */
export function latencies(i: number, base: number, n: number): number[] {
  return Array.from({ length: n }, (_, k) =>
    Math.round(base * (1 + ((k * 7919 + i * 104729) % 1000) / 100)),
  );
}

/**
 * Per interval: `exchanges` through each sidecar paired, and pod-b's `unpaired` besides;
 * of pod-b's request hops, `handoffs` ran on to its app, and of its response hops
 * `replyHandoffs` to the client's; its neighbours waited
 * `neighbourWaitNs` behind it (0.05 ms for each of its 52 requests).
 */
export const PER_INTERVAL = {
  exchanges: 50,
  bytesOut: 6_000,
  bytesIn: 40_000,
  unpaired: 2,
  handoffs: 40,
  replyHandoffs: 30,
  neighbourWaitNs: 2_600_000,
};

/**
 * A sidecar's hops in one direction as an agent that joins exchanges sends them: the k-th
 * request hop and the k-th response hop belong to one exchange, whose added latency is
 * their sum; `unpaired` more exchanges completed without both hops paired.
 */
function joinedHops(
  p: Init<ProcessIdentity>,
  direction: 'DIRECTION_INBOUND' | 'DIRECTION_OUTBOUND',
  hops: {
    request: number[];
    response: number[];
    unpaired: number;
    handoffs?: number;
    replyHandoffs?: number;
    neighbourWaitNs?: number;
  },
): Init<HopReport> {
  return {
    process: p.ref,
    direction,
    requestHop: fromValues(hops.request),
    responseHop: fromValues(hops.response),
    added: fromValues(hops.request.map((ns, k) => ns + hops.response[k]!)),
    requests: hops.request.length + hops.unpaired,
    unpaired: hops.unpaired,
    handoffs: hops.handoffs ?? 0,
    replyHandoffs: hops.replyHandoffs ?? 0,
    neighbourWaitNs: hops.neighbourWaitNs ?? 0,
    method: 'HOP_METHOD_ARRIVAL_TO_FORWARD',
    handoffEnds: 'HANDOFF_ENDS_WAKE_UPS',
  };
}

/** The batch content of interval i (1-based), all five processes on one node. */
export function meshBatch(i: number, startMs: number): Init<Batch> {
  const ref = (p: Init<ProcessIdentity>) => p.ref;
  const ex = PER_INTERVAL.exchanges;
  const counters = (side: 'client' | 'server') => ({
    connects: side === 'client' ? 2 : 0,
    accepts: side === 'server' ? 2 : 0,
    closes: 2,
    bytesSent: side === 'client' ? PER_INTERVAL.bytesOut : PER_INTERVAL.bytesIn,
    bytesReceived: side === 'client' ? PER_INTERVAL.bytesIn : PER_INTERVAL.bytesOut,
    sendOps: ex,
    recvOps: ex,
    exchanges: ex,
  });
  const port = 40_000 + i * 10;
  const exchange = (base: number | undefined) =>
    base === undefined ? undefined : fromValues(latencies(i, base, ex));
  // A client end dialing server:servicePort from client:clientPort.
  const clientEnd = (
    p: Init<ProcessIdentity>,
    client: Endpoint,
    server: Endpoint,
    latencyBase: number,
  ): Init<EdgeReport> => ({
    process: ref(p),
    side: 'CONNECTION_SIDE_CLIENT',
    local: { address: client.address },
    remote: server,
    ...counters('client'),
    exchangeLatency: exchange(latencyBase),
    connections: [{ client, server }],
  });
  // A server end accepting on local from client (as REDIRECT left the addresses).
  const serverEnd = (
    p: Init<ProcessIdentity>,
    local: Endpoint,
    client: Endpoint,
    latencyBase?: number,
  ): Init<EdgeReport> => ({
    process: ref(p),
    side: 'CONNECTION_SIDE_SERVER',
    local,
    remote: { address: client.address },
    ...counters('server'),
    exchangeLatency: exchange(latencyBase),
    connections: [{ client, server: local }],
  });
  const loopback = (port: number): Endpoint => ({ address: '127.0.0.1', port });
  const bService = { address: B_IP, port: 9080 };
  return {
    node: NODE,
    intervalStartUnixMs: startMs,
    intervalEndUnixMs: startMs + 1000,
    processes: Object.values(PROCESSES),
    edges: [
      // a dials b's address; iptables hands the connection to sa on 15001.
      {
        ...clientEnd(PROCESSES.a, { address: A_IP, port }, bService, 3_000_000),
        connectLatency: fromValues([50_000, 60_000]),
      },
      serverEnd(PROCESSES.sa, loopback(15001), { address: A_IP, port }, 2_900_000),
      // sa forwards to b's address; b's iptables hands it to sb on 15006.
      clientEnd(PROCESSES.sa, { address: A_IP, port: port + 1 }, bService, 2_500_000),
      serverEnd(
        PROCESSES.sb,
        { address: B_IP, port: 15006 },
        { address: A_IP, port: port + 1 },
        2_400_000,
      ),
      // sb forwards to b over loopback.
      clientEnd(PROCESSES.sb, loopback(port + 2), loopback(9080), 2_000_000),
      serverEnd(PROCESSES.b, loopback(9080), loopback(port + 2), 1_900_000),
      // The decoy: the same loopback client tuple, in another pod's namespace.
      serverEnd(PROCESSES.c, loopback(9090), loopback(port + 2)),
    ],
    hops: [
      joinedHops(PROCESSES.sa, 'DIRECTION_OUTBOUND', {
        request: latencies(i, 200_000, ex),
        response: latencies(i + 1, 100_000, ex),
        unpaired: 0,
      }),
      joinedHops(PROCESSES.sb, 'DIRECTION_INBOUND', {
        request: latencies(i, 250_000, ex),
        response: latencies(i + 2, 150_000, ex),
        unpaired: PER_INTERVAL.unpaired,
        handoffs: PER_INTERVAL.handoffs,
        replyHandoffs: PER_INTERVAL.replyHandoffs,
        neighbourWaitNs: PER_INTERVAL.neighbourWaitNs,
      }),
    ],
    resources: Object.values(PROCESSES).map((p, k) => ({
      process: p.ref,
      // Cumulative: 10 ms of CPU per interval per process (k+1 times that).
      cpuUserNs: i * 10_000_000 * (k + 1),
      cpuSystemNs: 0,
      rssBytes: (k + 1) * 10 * 2 ** 20,
      source: 'RESOURCE_SOURCE_PROC',
    })),
  };
}
