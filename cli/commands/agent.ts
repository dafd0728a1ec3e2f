import { hostname } from 'node:os';
import { Agent, type AgentStatus } from '../../daemonset/agent.js';
import { buildAgentHttp } from '../../daemonset/agent-http.js';
import { unifiedCgroupRoot } from '../../daemonset/identity/proc-identity.js';
import { DEFAULT_ROLE_RULES } from '../../daemonset/identity/roles.js';
import type { KubernetesView } from '../../daemonset/kubernetes/cluster.js';
import { shipDelayMs } from '../../daemonset/shipping/ship-delay.js';
import { MAP_NAMES, type MapName, type MapSizes } from '../../probes/probe-source.js';
import { type Command, numberOption, parseHostPort, stringOption, UsageError } from '../command.js';
import { readTlsFiles, readToken } from '../credentials.js';
import { untilSignal } from '../signals.js';

/** A map's entries at most: a bound on the memory a typo can lock (a socket state is
 *  184 bytes; 2^24 of them, 2.9 GiB). */
export const MAX_MAP_ENTRIES = 2 ** 24;

export const agent: Command = {
  name: 'agent',
  usage: `Usage: tollgate agent --collector HOST:PORT [options]

Loads the kernel probes, enriches their records with process, container and pod
identity, and streams them to the collector. Needs root (or CAP_BPF and friends).

Options:
  --collector HOST:PORT   the collector's gRPC address (required); several, comma-
                          separated, for replicas sharing one PostgreSQL store: the
                          agent ships to one and moves to the next when it goes
  --token-file FILE       bearer token for the collector
  --tls-ca FILE           connect over TLS, trusting this CA for the collector
  --tls-server-name NAME  the name the collector's certificate must carry, when the
                          --collector address is not it (an IP address, a NodePort)
  --tls-cert FILE         the agent's certificate, for mTLS ...
  --tls-key FILE          ... and its key
  --interval S            probe drain interval in seconds (default 1)
  --clients-per-listener N
                          a listener's clients that keep an edge of their own each
                          interval (default 128; 0: none); the others are summed as
                          "other clients", their counts exact in aggregate
  --no-http2-requests     do not follow HTTP/2 connections frame by frame for their
                          requests (spares some 280 ns of kernel time a gRPC call;
                          a batch of streams then counts as one request)
  --map-sizes NAME=N,...  the kernel maps' sizes in entries, for a node whose sockets,
                          edges or proxies outgrow them (what does not fit is counted
                          as lost, by cause, in /status and /metrics): sockets (default
                          65536), edges (16384), histograms (65536), tuples (8192),
                          handoffs (4096); each from 1 to ${MAX_MAP_ENTRIES}
  --node NAME             this node's name (default: $NODE_NAME, else the hostname)
  --kubeconfig FILE       Kubernetes credentials (default: the service account in a
                          pod; outside Kubernetes, network namespaces stand for pods)
  --proc-root DIR         the host's /proc (default /proc; in a pod, /host/proc)
  --cgroup-root DIR       the host's /sys/fs/cgroup (default /sys/fs/cgroup); its v2
                          hierarchy is found there or in unified/
  --http-listen HOST:PORT health (/healthz, /readyz) and Prometheus /metrics
                          (default 127.0.0.1:9464; 0 turns it off)
  --spool-batches N       batches kept for the collector at most (default 10000)
  --spool-mb N            ... and megabytes at most (default 64); the oldest go first
  --sidecar-containers L  comma-separated container names that are sidecars
                          (default ${DEFAULT_ROLE_RULES.containers.join(',')})
  --proxy-executables L   comma-separated executables that are proxies
                          (default ${DEFAULT_ROLE_RULES.executables.join(',')})
  --keep-cmdline-secrets  ship command lines with the values of --password=,
                          *_TOKEN= and the like, and URL passwords (by default they
                          are replaced with <redacted> before they leave the node)
  -h, --help              this text`,
  options: {
    collector: { type: 'string' },
    'token-file': { type: 'string' },
    'tls-ca': { type: 'string' },
    'tls-server-name': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    interval: { type: 'string' },
    'clients-per-listener': { type: 'string' },
    'no-http2-requests': { type: 'boolean' },
    'map-sizes': { type: 'string' },
    node: { type: 'string' },
    kubeconfig: { type: 'string' },
    'http-listen': { type: 'string' },
    'proc-root': { type: 'string' },
    'cgroup-root': { type: 'string' },
    'spool-batches': { type: 'string' },
    'spool-mb': { type: 'string' },
    'sidecar-containers': { type: 'string' },
    'proxy-executables': { type: 'string' },
    'keep-cmdline-secrets': { type: 'boolean' },
  },
  async run(args) {
    const collector = stringOption(args, 'collector');
    if (collector === undefined) throw new UsageError('--collector HOST:PORT is required');
    const collectors = collector
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean)
      .map((c) => {
        const { host, port } = parseHostPort(c, '--collector');
        return `${host.includes(':') ? `[${host}]` : host}:${port}`;
      });
    if (collectors.length === 0) throw new UsageError('--collector HOST:PORT is required');
    const interval = numberOption(args, 'interval', 1);
    const node = stringOption(args, 'node') ?? process.env.NODE_NAME;
    const listen = stringOption(args, 'http-listen') ?? '127.0.0.1:9464';
    const http = listen === '0' ? undefined : parseHostPort(listen, '--http-listen', true);
    const list = (name: string, fallback: readonly string[]) =>
      stringOption(args, name)
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean) ?? fallback;

    const cgroupRoot = stringOption(args, 'cgroup-root');
    const kubeConfigFile = stringOption(args, 'kubeconfig');
    let kubernetes: KubernetesView | undefined;
    // The Kubernetes client costs about 60 MB of resident memory once loaded: only in a cluster.
    if (kubeConfigFile !== undefined || process.env.KUBERNETES_SERVICE_HOST) {
      const { KubernetesView, loadKubeConfig } = await import(
        '../../daemonset/kubernetes/cluster.js'
      );
      const kubeConfig = loadKubeConfig(kubeConfigFile)!;
      if (!node) throw new UsageError('in Kubernetes the agent needs --node or $NODE_NAME');
      try {
        kubernetes = await KubernetesView.start({ kubeConfig, node });
      } catch (err) {
        // Fail loudly: a DaemonSet pod in CrashLoopBackOff with this message is easier to
        // fix than an agent that silently names every pod by its network namespace.
        throw new Error(
          `cannot list pods and services from the Kubernetes API (${(err as Error).message}); check the agent's ClusterRole`,
        );
      }
    }
    // The node's own moment in each interval to send its batch (its intervals end together
    // with every other node's).
    const delay = shipDelayMs(node ?? hostname(), interval * 1000);
    const running = await Agent.start({
      collector: collectors.join(','),
      token: readToken(stringOption(args, 'token-file')),
      tls: agentTls(args),
      intervalMs: interval * 1000,
      shipDelayMs: delay,
      clientsPerListener: clientsPerListener(args),
      http2Requests: args.values['no-http2-requests'] !== true,
      mapSizes: mapSizes(stringOption(args, 'map-sizes')),
      node,
      procRoot: stringOption(args, 'proc-root'),
      cgroupRoot: cgroupRoot === undefined ? undefined : unifiedCgroupRoot(cgroupRoot),
      kubernetes,
      roles: {
        containers: list('sidecar-containers', DEFAULT_ROLE_RULES.containers),
        executables: list('proxy-executables', DEFAULT_ROLE_RULES.executables),
      },
      keepCmdlineSecrets: args.values['keep-cmdline-secrets'] === true,
      spool: {
        maxBatches: numberOption(args, 'spool-batches', 10_000),
        maxBytes: numberOption(args, 'spool-mb', 64) * 2 ** 20,
      },
    });
    const app = http ? await buildAgentHttp(running) : undefined;
    const url = app ? await app.listen({ host: http!.host, port: http!.port }) : undefined;
    console.log(
      `tollgate agent: node ${running.node}, shipping to ${collectors.join(', ')}, each interval's batch ${delay} ms after its end`,
    );
    console.log(
      `tollgate agent: pods from ${kubernetes ? 'the Kubernetes API' : 'network namespaces (no Kubernetes)'}`,
    );
    if (url) console.log(`tollgate agent: health and metrics on ${url}`);
    if (running.fallbackReason)
      console.log(
        `tollgate agent: kernel probes on the bpftrace fallback: ${running.fallbackReason}`,
      );
    await untilSignal();
    await app?.close();
    await running.stop();
    kubernetes?.stop();
    console.log(exitSummary(running.status()));
    return 0;
  },
};

/** What became of every batch, said at exit: whatever was not acknowledged is lost with the process. */
export function exitSummary(status: AgentStatus): string {
  const s = status.shipper;
  return (
    `tollgate agent: stopped after ${status.batches} batches: ${s.stored} stored, ` +
    `${s.duplicates} already stored, ${s.rejected} rejected, ` +
    `${s.spoolBatches} not acknowledged (lost at exit), ${s.spoolDropped} dropped from a full spool`
  );
}

function clientsPerListener(args: Parameters<Command['run']>[0]): number | undefined {
  const raw = stringOption(args, 'clients-per-listener');
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 100_000_000)
    throw new UsageError(`--clients-per-listener must be a whole number from 0, got '${raw}'`);
  return value;
}

/** `sockets=N,handoffs=N`: each name once, each size a whole number in range. */
export function mapSizes(raw: string | undefined): MapSizes | undefined {
  if (raw === undefined) return undefined;
  const sizes: MapSizes = {};
  for (const item of raw.split(',').map((s) => s.trim())) {
    const [name, value, extra] = item.split('=');
    if (!MAP_NAMES.includes(name as MapName) || value === undefined || extra !== undefined)
      throw new UsageError(
        `--map-sizes takes NAME=N items, NAME one of ${MAP_NAMES.join(', ')}; got '${item}'`,
      );
    if ((name as MapName) in sizes) throw new UsageError(`--map-sizes names ${name} twice`);
    const entries = Number(value);
    if (!/^\d+$/.test(value) || entries < 1 || entries > MAX_MAP_ENTRIES)
      throw new UsageError(
        `--map-sizes: ${name} must be a whole number from 1 to ${MAX_MAP_ENTRIES}, got '${value}'`,
      );
    sizes[name as MapName] = entries;
  }
  return sizes;
}

function agentTls(args: Parameters<Command['run']>[0]) {
  const files = readTlsFiles(args, 'tls-ca');
  const serverName = stringOption(args, 'tls-server-name');
  if (serverName === undefined) return files;
  if (files?.ca === undefined) throw new UsageError('--tls-server-name needs --tls-ca');
  return { ...files, serverName };
}
