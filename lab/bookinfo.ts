// The demo's mesh: a three-service call chain (frontend -> catalog -> ratings, catalog
// with two replicas) meshed with haproxy sidecars or enrolled in the lab's ambient mesh,
// and an identical chain without either, so one run compares mesh on and mesh off under
// the same load, the two taking turns; for --mode compare, the three side by side. Pure.
import type { PodSpec } from './lab.js';

export const LOADGEN_POD = 'loadgen';

/** How a chain is built: with a sidecar in each pod, enrolled in ambient mode, or neither. */
export type ChainMesh = 'sidecar' | 'ambient' | 'plain';

/** The prefix of a chain's pod and service names. */
export type ChainPrefix = '' | 'plain-' | 'sidecar-' | 'ambient-';

/**
 * The chains of one demo lab: how each is built and what its pods' names begin with.
 * `tls`: a sidecar chain whose sidecars speak mutual TLS to each other (the entry's takes
 * plaintext from the load generator outside the mesh), as the ambient mesh always does.
 */
export type ChainLayout = readonly { mesh: ChainMesh; prefix: ChainPrefix; tls?: boolean }[];

/** The pod a chain's requests enter by. */
export const chainEntry = (prefix: ChainPrefix): string => `${prefix}frontend`;

function chain(prefix: ChainPrefix, mesh: ChainMesh, tls: boolean): PodSpec[] {
  const svc = (name: string) => `${prefix}${name}`;
  const meshed = mesh !== 'plain';
  const how: Partial<PodSpec> =
    mesh === 'ambient'
      ? { mesh: 'ambient' }
      : mesh === 'sidecar' && tls
        ? { sidecarLink: 'tls' }
        : {};
  return [
    {
      name: svc('frontend'),
      service: svc('frontend'),
      meshed,
      ...how,
      ...(how.sidecarLink ? { sidecarPlaintextInbound: true } : {}),
      serviceTimeMs: 1,
      calls: [svc('catalog')],
    },
    {
      name: svc('catalog-1'),
      service: svc('catalog'),
      meshed,
      ...how,
      serviceTimeMs: 1,
      calls: [svc('ratings')],
    },
    {
      name: svc('catalog-2'),
      service: svc('catalog'),
      meshed,
      ...how,
      serviceTimeMs: 1,
      calls: [svc('ratings')],
    },
    { name: svc('ratings'), service: svc('ratings'), meshed, ...how, serviceTimeMs: 1 },
  ];
}

/**
 * The demo's chains: the meshed one (unprefixed names: frontend, catalog-1...) and the
 * plain one beside it; for compare, the plain, sidecar and ambient ones, each prefixed.
 */
export function demoChains(mode: 'sidecar' | 'ambient' | 'compare'): ChainLayout {
  if (mode === 'compare')
    return [
      { mesh: 'plain', prefix: 'plain-' },
      { mesh: 'sidecar', prefix: 'sidecar-', tls: true },
      { mesh: 'ambient', prefix: 'ambient-' },
    ];
  return [
    { mesh: mode, prefix: '' },
    { mesh: 'plain', prefix: 'plain-' },
  ];
}

/** The lab's pods for these chains: the load generator's pod, then each chain's four. */
export function bookinfoPods(chains: ChainLayout = demoChains('sidecar')): PodSpec[] {
  return [
    { name: LOADGEN_POD, service: LOADGEN_POD, meshed: false, app: false },
    ...chains.flatMap((c) => chain(c.prefix, c.mesh, c.tls ?? false)),
  ];
}

/** Where one request of a chain crosses its mesh's proxy, in order. */
export type MeshPath = readonly {
  replicas: readonly string[];
  direction: 'inbound' | 'outbound';
}[];

/**
 * The proxy crossings of one request of a meshed chain, in order: in and out of frontend
 * and of one catalog replica, into ratings. Replicas of one crossing share its requests.
 * A sidecar chain crosses each pod's sidecar; an ambient chain the node proxy, through
 * each pod's namespace (out by the caller's 15001, in by the callee's 15008, or its 15006
 * from the load generator outside the mesh): the same five crossings.
 */
export function meshPath(prefix: ChainPrefix): MeshPath {
  const pod = (name: string) => `${prefix}${name}`;
  return [
    { replicas: [pod('frontend')], direction: 'inbound' },
    { replicas: [pod('frontend')], direction: 'outbound' },
    { replicas: [pod('catalog-1'), pod('catalog-2')], direction: 'inbound' },
    { replicas: [pod('catalog-1'), pod('catalog-2')], direction: 'outbound' },
    { replicas: [pod('ratings')], direction: 'inbound' },
  ];
}
