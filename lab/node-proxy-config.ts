// What the ambient lab's node proxy is made of, as data: its haproxy configuration and the
// iptables rules in each enrolled pod's namespace, in the shape of Istio's ambient mode
// (ztunnel on the node, its CNI agent's rules in the pod), and the configuration of the
// waypoint, an L7 proxy pod between node proxies. Pure; lab/node-proxy.ts and
// lab/waypoint.ts run them.
//
// The shape: the node proxy lives in a pod of its own, but opens its listening sockets
// inside every enrolled pod's network namespace: 15001 for the pod's outbound traffic and
// 15006 for plaintext inbound (both reached by REDIRECT), and 15008, the tunnel's far end
// (ztunnel's HBONE port). Between node proxies, traffic is tunnelled over mutual TLS on
// 15008 (ztunnel speaks HTTP/2 CONNECT inside that TLS; the lab's tunnel is TLS around each
// TCP connection, which is what a profiler sees of it: TLS to port 15008). One node proxy
// serves all enrolled pods, so traffic between two pods of one node still leaves through
// the source pod's 15001 and arrives through the destination pod's 15008.
import { type HaproxyStatRow, parseHaproxyStat, type SidecarPorts } from './sidecar-config.js';

export interface NodeProxyPorts extends SidecarPorts {
  /** The tunnel's far end, inside the destination pod (ztunnel's HBONE port: 15008). */
  tunnel: number;
}

export const NODE_PROXY_PORTS: NodeProxyPorts = { outbound: 15001, inbound: 15006, tunnel: 15008 };

/** A pod the node proxy serves. */
export interface EnrolledPod {
  /** Lowercase letters, digits and dashes: part of the proxies' names. */
  name: string;
  /** Its network namespace, an `ip netns` name. */
  netns: string;
  address: string;
  /** The app's port: what inbound traffic is for, at 127.0.0.1 in the pod. */
  appPort: number;
  /** Mesh traffic to this pod goes through the waypoint (NodeProxyConfigInput.waypoint). */
  viaWaypoint?: boolean;
}

export interface NodeProxyConfigInput {
  /** The pods it serves: its node's. It holds their listeners. */
  pods: readonly EnrolledPod[];
  /**
   * Every enrolled pod of the mesh, on any node (default: `pods`): outbound traffic to one
   * goes into a tunnel to its 15008, whose listener is its own node's proxy's, as ztunnel
   * learns every workload of the mesh and dials the destination pod's address.
   */
  routed?: readonly EnrolledPod[];
  statsSocket: string;
  /** The group the node proxy runs with, which the in-pod rules exempt (see ambientOutboundRule). */
  gid: number;
  threads: number;
  /** PEM with the mesh's certificate and key, which both ends of a tunnel present. */
  identity: string;
  /** PEM of the certificate every identity is checked against. */
  ca: string;
  /** The waypoint's address, when pods have one (EnrolledPod.viaWaypoint). */
  waypoint?: string;
}

/** The names of a pod's listeners and backends in the node proxy, as its counters show them. */
export function nodeProxyNames(pod: string): {
  outbound: string;
  inbound: string;
  tunnel: string;
  tunnelOut: string;
  toWaypoint: string;
  passthrough: string;
  app: string;
} {
  return {
    outbound: `outbound-${pod}`,
    inbound: `inbound-${pod}`,
    tunnel: `tunnel-${pod}`,
    tunnelOut: `tunnel-from-${pod}`,
    toWaypoint: `waypoint-from-${pod}`,
    passthrough: `passthrough-from-${pod}`,
    app: `app-${pod}`,
  };
}

export function nodeProxyConfig(input: NodeProxyConfigInput): string {
  if (input.pods.length === 0) throw new RangeError('a node proxy serves at least one pod');
  const ports = NODE_PROXY_PORTS;
  const tls = `ssl crt ${input.identity} ca-file ${input.ca} verify required`;
  const routed = input.routed ?? input.pods;
  const direct = routed.filter((p) => !p.viaWaypoint).map((p) => p.address);
  const waypointed = routed.filter((p) => p.viaWaypoint).map((p) => p.address);
  if (waypointed.length > 0 && !input.waypoint)
    throw new RangeError('pods go through a waypoint, but there is none');
  const pod = (p: EnrolledPod) => {
    const n = nodeProxyNames(p.name);
    const ns = `namespace ${p.netns}`;
    const toWaypoint = `
# To a pod behind the waypoint: into a tunnel to the waypoint instead, which learns the
# original destination from the PROXY header sent ahead of the TLS (ztunnel puts it in
# the HBONE CONNECT request), and tunnels on to that pod's 15008.
backend ${n.toWaypoint}
  server waypoint ${input.waypoint}:${ports.tunnel} ${ns} ${tls} send-proxy-v2
`;
    const routes = [
      waypointed.length > 0 && `  use_backend ${n.toWaypoint} if { dst ${waypointed.join(' ')} }`,
      direct.length > 0 && `  use_backend ${n.tunnelOut} if { dst ${direct.join(' ')} }`,
      `  default_backend ${n.passthrough}`,
    ];
    return `
# ---- pod ${p.name}: namespace ${p.netns}, address ${p.address}, app port ${p.appPort}

# Its app's outbound traffic, REDIRECTed here. To an enrolled pod: into the tunnel. Else
# as it was sent (ztunnel likewise sends plaintext to workloads outside the mesh). dst is
# the original destination, read with SO_ORIGINAL_DST.
frontend ${n.outbound}
  bind 0.0.0.0:${ports.outbound} ${ns}
${routes.filter((r) => r !== false).join('\n')}

# A server address of 0.0.0.0 with a port connects to the original destination's address
# at that port (haproxy takes the address from SO_ORIGINAL_DST and the port as written,
# which the lab's test checks end to end), so one server line reaches every enrolled pod's
# 15008. It connects from this pod's namespace, so the tunnel's source address is the
# pod's own, as with ztunnel.
backend ${n.tunnelOut}
  server tunnel 0.0.0.0:${ports.tunnel} ${ns} ${tls}
${waypointed.length > 0 ? toWaypoint : ''}
backend ${n.passthrough}
  server original-destination 0.0.0.0:0 ${ns}

# The tunnel's far end: mutual TLS from other pods' node proxy (this one, for a pod of
# the same node, or another node's).
frontend ${n.tunnel}
  bind 0.0.0.0:${ports.tunnel} ${ns} ${tls}
  default_backend ${n.app}

# Plaintext inbound from sources outside the mesh, REDIRECTed here.
frontend ${n.inbound}
  bind 0.0.0.0:${ports.inbound} ${ns}
  default_backend ${n.app}

backend ${n.app}
  server app 127.0.0.1:${p.appPort} ${ns}
`;
  };
  return `# Generated by Tollgate's lab: a node proxy in the manner of Istio's ztunnel.
# It runs as root with the haproxy group: opening a socket in a pod's namespace needs
# setns(), which needs CAP_SYS_ADMIN (ztunnel has it too), and a worker that switched to
# the haproxy user would have lost it. The in-pod rules exempt the group instead.
global
  gid ${input.gid}
  nbthread ${input.threads}
  stats socket ${input.statsSocket} mode 600 level admin
  log stderr format raw local0 info info

# Connections that ended in an error only (dontlog-normal), into the lab's log of it: which
# worker took one (its pid), and why it ended (haproxy's TCP log line: termination flags,
# timers), for a request a test lost. Info level alone (the log line's last two words): the
# proxies' start and stop notices already reach the log once, on stderr. A connection
# haproxy never accepted leaves no line.
defaults
  mode tcp
  log global
  log-format "%pid %ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq"
  option dontlog-normal
  timeout connect 5s
  timeout client 60s
  timeout server 60s
${input.pods.map(pod).join('')}`;
}

export interface WaypointConfigInput {
  statsSocket: string;
  uid: number;
  gid: number;
  threads: number;
  identity: string;
  ca: string;
}

/**
 * A waypoint, as Istio deploys one (an Envoy Deployment) for the workloads that use it: a
 * pod of its own whose 15008 takes tunnels from source node proxies, handles each request
 * at L7 (HTTP), and tunnels it on to the destination pod's 15008. Unlike the node proxy it
 * is an ordinary process of its pod: its sockets are in its own namespace.
 */
export function waypointConfig(input: WaypointConfigInput): string {
  const tls = `ssl crt ${input.identity} ca-file ${input.ca} verify required`;
  return `# Generated by Tollgate's lab: a waypoint in the manner of Istio's ambient mode.
global
  uid ${input.uid}
  gid ${input.gid}
  nbthread ${input.threads}
  stats socket ${input.statsSocket} mode 600 level admin

defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s

# From source node proxies: the PROXY header (the original source and destination), then
# TLS, then HTTP.
frontend waypoint
  bind 0.0.0.0:${NODE_PROXY_PORTS.tunnel} accept-proxy ${tls}
  option forwardfor
  default_backend destinations

# On to the original destination's 15008 (0.0.0.0: the address the PROXY header gave).
# One upstream connection per downstream one: a connection is never shared between
# destinations, and the counts of both sides line up.
backend destinations
  http-reuse never
  server destination 0.0.0.0:${NODE_PROXY_PORTS.tunnel} ${tls}
`;
}

/**
 * The in-pod rules (iptables arguments, nat table) that send a pod's traffic to the node
 * proxy, as Istio's CNI agent installs them in an ambient pod's namespace.
 */
export function ambientRules(appPort: number, proxyGid: number): string[][] {
  return [
    ['-t', 'nat', '-A', ...ambientInboundRule(appPort)],
    ['-t', 'nat', '-A', ...ambientOutboundRule(proxyGid)],
  ];
}

/**
 * Inbound TCP to the app port goes to 15006 (chain and match, without the table and the
 * -A/-D/-C verb, so it can be switched off and on). Traffic for 15008 is not redirected:
 * the tunnel's listener is the destination itself.
 *
 * Only SYNs, i.e. only new connections, which is all the nat table sees of connections the
 * kernel tracked from their start. A pod enrolled while the lab runs had no rule before,
 * so its namespace was not tracking connections: the first rule starts the tracking, which
 * then meets the open connections' next packets as new ones (it picks connections up
 * mid-stream), and would redirect them to a port with no such connection, which resets
 * them. With --syn they keep their path, as they do in a mesh.
 */
export function ambientInboundRule(appPort: number): string[] {
  return `PREROUTING -p tcp --syn --dport ${appPort} -j REDIRECT --to-ports ${NODE_PROXY_PORTS.inbound}`.split(
    ' ',
  );
}

/**
 * The pod's outbound TCP goes to 15001, except loopback and the node proxy's own
 * connections, which would otherwise loop. ztunnel marks its sockets and Istio's rules
 * skip the mark; haproxy 2.6 cannot mark the connections it opens to servers, so the
 * rule skips the group the node proxy runs with (the owner of every socket it opens in
 * the pod's namespace). Only SYNs, as ambientInboundRule says why.
 */
export function ambientOutboundRule(proxyGid: number): string[] {
  return `OUTPUT -p tcp --syn ! -d 127.0.0.0/8 -m owner ! --gid-owner ${proxyGid} -j REDIRECT --to-ports ${NODE_PROXY_PORTS.outbound}`.split(
    ' ',
  );
}

export interface NodeProxyStatRow extends HaproxyStatRow {
  /** Full TLS handshakes, new sessions (`ssl_sess`; 0 on plain listeners and servers). */
  tlsSessions: number;
  /** TLS handshakes that resumed an earlier session (`ssl_reused_sess`). */
  tlsResumedSessions: number;
  /** TLS handshakes that failed, e.g. a client speaking plaintext to 15008. */
  tlsFailedHandshakes: number;
}

/** Parses `show stat` CSV with the SSL columns haproxy adds when it has TLS listeners. */
export function parseNodeProxyStat(csv: string): NodeProxyStatRow[] {
  const base = parseHaproxyStat(csv);
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]?.replace(/^# /, '').split(',') ?? [];
  const sessions = header.indexOf('ssl_sess');
  const resumed = header.indexOf('ssl_reused_sess');
  const failed = header.indexOf('ssl_failed_handshake');
  if (sessions < 0 || resumed < 0 || failed < 0)
    throw new Error('haproxy stat output lacks the SSL columns');
  return base.map((row, i) => {
    const f = lines[i + 1]?.split(',') ?? [];
    return {
      ...row,
      tlsSessions: Number(f[sessions] || 0),
      tlsResumedSessions: Number(f[resumed] || 0),
      tlsFailedHandshakes: Number(f[failed] || 0),
    };
  });
}
