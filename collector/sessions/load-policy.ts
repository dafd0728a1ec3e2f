// Where and how much load a session may order. Every agent runs a session's load, so a
// load order is a cluster-wide load generator: unchecked, whoever holds the admin token
// could aim every node at any address on the internet, or at the cloud's metadata
// service. So a load's URLs must name a target inside the cluster (a Service name, or an
// address in the ranges pods and Services live in), or one the operator allows; and all
// running loads share one rate budget. Names are checked as names, not resolved: an
// ExternalName Service can still point outside, so whoever may create Services there
// can widen the default (narrow --load-targets to addresses where that matters).
// Pure: the session manager asks, the CLI configures.
import { BlockList, isIP } from 'node:net';

export interface LoadPolicy {
  /**
   * Allowed targets, replacing the default: addresses and CIDR ranges (`10.0.0.0/8`,
   * `fd00::/8`), host names, and `*.suffix` for every name under a domain.
   */
  targets?: readonly string[];
  /** Requests per second of all running sessions' loads together. */
  budgetRps?: number;
}

/**
 * Inside a cluster: Service names, and the private ranges pod and Service addresses are
 * drawn from (RFC 1918, the shared range some CNIs use, IPv6 unique local). Not loopback
 * (an agent on the host network would load the node's own daemons) and not link-local
 * (the cloud metadata service).
 */
export const DEFAULT_LOAD_TARGETS: readonly string[] = [
  '*.svc',
  '*.svc.cluster.local',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  'fc00::/7',
];

export const DEFAULT_LOAD_BUDGET_RPS = 20_000;

export class LoadPolicyError extends Error {}

/** The allowed targets, compiled; a malformed entry is an error that names it. */
export class LoadTargets {
  private readonly ranges = new BlockList();
  private readonly names = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(readonly entries: readonly string[] = DEFAULT_LOAD_TARGETS) {
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase();
      const [base, bits, extra] = entry.split('/');
      const family = isIP(base ?? '');
      if (family !== 0) {
        const type = family === 4 ? 'ipv4' : 'ipv6';
        const prefix = bits === undefined ? (family === 4 ? 32 : 128) : Number(bits);
        if (
          extra !== undefined ||
          !Number.isInteger(prefix) ||
          prefix < 0 ||
          prefix > (family === 4 ? 32 : 128)
        )
          throw new LoadPolicyError(`load target '${raw}' is not an address or CIDR range`);
        this.ranges.addSubnet(base as string, prefix, type);
      } else if (/^\*\.[a-z0-9.-]+$/.test(entry) && !entry.endsWith('.')) {
        this.suffixes.push(entry.slice(1));
      } else if (/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(entry) && !entry.includes('/')) {
        this.names.add(entry);
      } else {
        throw new LoadPolicyError(
          `load target '${raw}' is not an address, a CIDR range, a host name or *.domain`,
        );
      }
    }
  }

  /** Why a load URL may not be used, or undefined when it may. */
  refusal(url: string): string | undefined {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return `load url '${String(url).slice(0, 80)}' is not an http:// URL`;
    }
    if (parsed.protocol !== 'http:')
      return `load url '${String(url).slice(0, 80)}' is not an http:// URL`;
    // The URL parser has already turned 0x7f000001 and friends into dotted addresses.
    const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    const family = isIP(host);
    const allowed =
      family !== 0
        ? this.ranges.check(host, family === 4 ? 'ipv4' : 'ipv6')
        : this.names.has(host) || this.suffixes.some((s) => host.endsWith(s));
    return allowed
      ? undefined
      : `load target ${host.slice(0, 253)} is outside the cluster and not allowed (the collector's --load-targets lists what is)`;
  }
}
