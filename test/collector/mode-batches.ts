// Synthesised batches of one small shop before and after a migration from sidecars to
// ambient mode, as the agent would send them, every number chosen so the session tests
// can work out each pod's figures by hand.
//
// Two pods in namespace "shop", and two flows per 1 s interval:
//   flow 1: cart (cart-0) calls stock (stock-0) on 8080, 40 requests;
//   flow 2: a client outside (10.9.0.9) calls cart on 8080, 40 requests.
// - sidecar mode: each pod has an envoy sidecar (container istio-proxy) that carries its
//   traffic; its hops are in its own namespace.
// - ambient mode: no sidecars; one node proxy, ztunnel, lives in its own pod in
//   istio-system and holds sockets in both pods' namespaces (each end and hop names the
//   pod it serves). Its ends through cart-0 carry both flows, through stock-0 only flow 1.
//
// Hand-worked figures over a session of INTERVALS intervals (cumulative CPU: the first
// sample only sets the baseline, so CPU counts INTERVALS - 1 intervals):
// - requests: cart 80 per interval (40 made, 40 served), stock 40.
// - ztunnel's bytes (sent + received) per interval: flow 1 crosses 2 of its ends in each
//   pod, flow 2 2 ends in cart-0; each end of flow 1 carries 10,000 bytes, of flow 2
//   20,000: cart-0 60,000 of 80,000 = 0.75, stock-0 0.25 (the share by bytes).
// - ztunnel's CPU 30 ms per interval, RSS 12 MiB; envoy's 50 ms, 60 MiB; apps' 10 ms, 20 MiB.
import type {
  Batch,
  EdgeReport,
  Endpoint,
  HopReport,
  Init,
  PodRef,
  ProcessIdentity,
} from '../../proto/gen/tollgate/v1.js';
import { fromValues } from '../../proto/histogram.js';

export const NODE = 'node-1';
export const INTERVALS = 5;
export const CART_IP = '10.2.0.1';
export const STOCK_IP = '10.2.0.2';
export const OUTSIDE_IP = '10.9.0.9';
export const PER_INTERVAL = {
  /** Requests of each flow. */
  requests: 40,
  /** Bytes (sent + received) on each of the node proxy's ends of flow 1 and of flow 2. */
  flow1EndBytes: 10_000,
  flow2EndBytes: 20_000,
  cpuMs: { app: 10, envoy: 50, ztunnel: 30 },
  rssMiB: { app: 20, envoy: 60, ztunnel: 12 },
};
/** Each hop of one exchange (request hop = response hop), in ns, per proxy and direction. */
export const HOP_NS = {
  sidecar: { cartOutbound: 500_000, cartInbound: 400_000, stockInbound: 450_000 },
  ambient: { cartOutbound: 150_000, cartInbound: 100_000, stockInbound: 125_000 },
};

type Mode = 'sidecar' | 'ambient';

export function podRef(namespace: string, name: string): Init<PodRef> {
  return { namespace, name, node: NODE, source: 'POD_SOURCE_NETNS' };
}

export function proc(
  pid: number,
  comm: string,
  pod: Init<PodRef>,
  netns: number,
  role: 'ROLE_APP' | 'ROLE_SIDECAR',
  cmdline: string[] = [comm],
): Init<ProcessIdentity> {
  return {
    ref: { pid, startTimeTicks: 1000 + pid },
    comm,
    exe: `/usr/local/bin/${comm}`,
    cmdline,
    netnsInode: netns,
    containerName: role === 'ROLE_SIDECAR' ? 'istio-proxy' : comm,
    pod,
    role,
  };
}

export const PODS = {
  cart: podRef('shop', 'cart-0'),
  stock: podRef('shop', 'stock-0'),
  ztunnel: podRef('istio-system', 'ztunnel-x7k2p'),
};

// The apps restart when their sidecars go (new pids), as a migration does.
export const PROCESSES = {
  cart: proc(401, 'cart', PODS.cart, 4101, 'ROLE_APP'),
  stock: proc(501, 'stock', PODS.stock, 4102, 'ROLE_APP'),
  ambientCart: proc(411, 'cart', PODS.cart, 4101, 'ROLE_APP'),
  ambientStock: proc(511, 'stock', PODS.stock, 4102, 'ROLE_APP'),
  cartEnvoy: proc(402, 'envoy', PODS.cart, 4101, 'ROLE_SIDECAR', ['envoy', '--concurrency', '2']),
  stockEnvoy: proc(502, 'envoy', PODS.stock, 4102, 'ROLE_SIDECAR', ['envoy', '--concurrency', '2']),
  ztunnel: proc(601, 'ztunnel', PODS.ztunnel, 4103, 'ROLE_SIDECAR'),
};

/** One proxy hop report: `n` exchanges, each hop `hopNs`, joined in the kernel. */
function hops(
  p: Init<ProcessIdentity>,
  direction: 'DIRECTION_INBOUND' | 'DIRECTION_OUTBOUND',
  hopNs: number,
  socketPod?: Init<PodRef>,
): Init<HopReport> {
  const n = PER_INTERVAL.requests;
  const each = Array.from({ length: n }, () => hopNs);
  return {
    process: p.ref,
    direction,
    requestHop: fromValues(each),
    responseHop: fromValues(each),
    added: fromValues(each.map((ns) => 2 * ns)),
    requests: n,
    unpaired: 0,
    method: 'HOP_METHOD_ARRIVAL_TO_FORWARD',
    ...(socketPod ? { socketPod } : {}),
  };
}

/** An end carrying `bytes` (a tenth sent by the client, the rest its replies). */
export function end(
  p: Init<ProcessIdentity>,
  side: 'client' | 'server',
  client: Endpoint,
  server: Endpoint,
  bytes: number,
  socketPod?: Init<PodRef>,
): Init<EdgeReport> {
  const request = bytes / 10;
  const n = PER_INTERVAL.requests;
  return {
    process: p.ref,
    side: side === 'client' ? 'CONNECTION_SIDE_CLIENT' : 'CONNECTION_SIDE_SERVER',
    local: side === 'client' ? { address: client.address } : server,
    remote: side === 'client' ? server : { address: client.address },
    connects: side === 'client' ? 1 : 0,
    accepts: side === 'server' ? 1 : 0,
    bytesSent: side === 'client' ? request : bytes - request,
    bytesReceived: side === 'client' ? bytes - request : request,
    sendOps: n,
    recvOps: n,
    exchanges: n,
    exchangeLatency: fromValues(Array.from({ length: n }, () => 2_000_000)),
    connections: [{ client, server }],
    ...(socketPod ? { socketPod } : {}),
  };
}

/** The batch of interval i (0-based) in one mode. */
export function modeBatch(mode: Mode, i: number, startMs: number): Init<Batch> {
  const port = 30_000 + i * 10;
  const stockService = { address: STOCK_IP, port: 8080 };
  const cartService = { address: CART_IP, port: 8080 };
  const fromCart = { address: CART_IP, port };
  const fromOutside = { address: OUTSIDE_IP, port: port + 1 };
  const b1 = PER_INTERVAL.flow1EndBytes;
  const b2 = PER_INTERVAL.flow2EndBytes;
  const cart = mode === 'sidecar' ? PROCESSES.cart : PROCESSES.ambientCart;
  const stock = mode === 'sidecar' ? PROCESSES.stock : PROCESSES.ambientStock;
  const apps = [
    end(cart, 'client', fromCart, stockService, b1),
    end(cart, 'server', fromOutside, cartService, b2),
    end(stock, 'server', fromCart, stockService, b1),
  ];
  const proxies = mode === 'sidecar' ? [PROCESSES.cartEnvoy, PROCESSES.stockEnvoy] : [];
  const z = PROCESSES.ztunnel;
  const hop = HOP_NS[mode];
  const sample = (p: Init<ProcessIdentity>, cpuMs: number, rssMiB: number) => ({
    process: p.ref,
    cpuUserNs: (i + 1) * cpuMs * 1e6,
    cpuSystemNs: 0,
    rssBytes: rssMiB * 2 ** 20,
    source: 'RESOURCE_SOURCE_PROC' as const,
  });
  const { cpuMs, rssMiB } = PER_INTERVAL;
  return {
    node: NODE,
    intervalStartUnixMs: startMs,
    intervalEndUnixMs: startMs + 1000,
    processes: [cart, stock, ...(mode === 'sidecar' ? proxies : [PROCESSES.ztunnel])],
    edges:
      mode === 'sidecar'
        ? [
            ...apps,
            // cart's envoy: cart's call to stock out (15001), the outside call in (15006).
            end(PROCESSES.cartEnvoy, 'server', fromCart, { address: '127.0.0.1', port: 15001 }, b1),
            end(
              PROCESSES.cartEnvoy,
              'client',
              { address: CART_IP, port: port + 2 },
              stockService,
              b1,
            ),
            end(PROCESSES.cartEnvoy, 'server', fromOutside, { address: CART_IP, port: 15006 }, b2),
            end(
              PROCESSES.cartEnvoy,
              'client',
              { address: '127.0.0.1', port: port + 3 },
              { address: '127.0.0.1', port: 8080 },
              b2,
            ),
            // stock's envoy: the call in.
            end(
              PROCESSES.stockEnvoy,
              'server',
              { address: CART_IP, port: port + 2 },
              { address: STOCK_IP, port: 15006 },
              b1,
            ),
            end(
              PROCESSES.stockEnvoy,
              'client',
              { address: '127.0.0.1', port: port + 4 },
              { address: '127.0.0.1', port: 8080 },
              b1,
            ),
          ]
        : [
            ...apps,
            // ztunnel in cart-0: cart's call out (15001, then HBONE to stock's 15008) and
            // the outside call in (15008, then to cart's 8080).
            end(z, 'server', fromCart, { address: CART_IP, port: 15001 }, b1, PODS.cart),
            end(
              z,
              'client',
              { address: CART_IP, port: port + 2 },
              { address: STOCK_IP, port: 15008 },
              b1,
              PODS.cart,
            ),
            end(z, 'server', fromOutside, { address: CART_IP, port: 15008 }, b2, PODS.cart),
            end(z, 'client', { address: OUTSIDE_IP, port: port + 3 }, cartService, b2, PODS.cart),
            // ztunnel in stock-0: the call in.
            end(
              z,
              'server',
              { address: CART_IP, port: port + 2 },
              { address: STOCK_IP, port: 15008 },
              b1,
              PODS.stock,
            ),
            end(z, 'client', { address: CART_IP, port: port + 4 }, stockService, b1, PODS.stock),
          ],
    hops:
      mode === 'sidecar'
        ? [
            hops(PROCESSES.cartEnvoy, 'DIRECTION_OUTBOUND', hop.cartOutbound),
            hops(PROCESSES.cartEnvoy, 'DIRECTION_INBOUND', hop.cartInbound),
            hops(PROCESSES.stockEnvoy, 'DIRECTION_INBOUND', hop.stockInbound),
          ]
        : [
            hops(z, 'DIRECTION_OUTBOUND', hop.cartOutbound, PODS.cart),
            hops(z, 'DIRECTION_INBOUND', hop.cartInbound, PODS.cart),
            hops(z, 'DIRECTION_INBOUND', hop.stockInbound, PODS.stock),
          ],
    resources: [
      sample(cart, cpuMs.app, rssMiB.app),
      sample(stock, cpuMs.app, rssMiB.app),
      ...(mode === 'sidecar'
        ? proxies.map((p) => sample(p, cpuMs.envoy, rssMiB.envoy))
        : [sample(z, cpuMs.ztunnel, rssMiB.ztunnel)]),
    ],
  };
}
