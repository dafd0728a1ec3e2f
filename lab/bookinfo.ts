// The demo's mesh: a three-service call chain (frontend -> catalog -> ratings, catalog
// with two replicas) with haproxy sidecars, and an identical chain without sidecars, so
// one run compares mesh on and mesh off under the same load at the same time. Pure.
import type { PodSpec } from './lab.js';

export const LOADGEN_POD = 'loadgen';
export const MESHED_ENTRY = 'frontend';
export const PLAIN_ENTRY = 'plain-frontend';

function chain(prefix: string, meshed: boolean): PodSpec[] {
  const svc = (name: string) => `${prefix}${name}`;
  return [
    {
      name: svc('frontend'),
      service: svc('frontend'),
      meshed,
      serviceTimeMs: 1,
      calls: [svc('catalog')],
    },
    {
      name: svc('catalog-1'),
      service: svc('catalog'),
      meshed,
      serviceTimeMs: 1,
      calls: [svc('ratings')],
    },
    {
      name: svc('catalog-2'),
      service: svc('catalog'),
      meshed,
      serviceTimeMs: 1,
      calls: [svc('ratings')],
    },
    { name: svc('ratings'), service: svc('ratings'), meshed, serviceTimeMs: 1 },
  ];
}

export function bookinfoPods(): PodSpec[] {
  return [
    { name: LOADGEN_POD, service: LOADGEN_POD, meshed: false, app: false },
    ...chain('', true),
    ...chain('plain-', false),
  ];
}

/**
 * The sidecar crossings of one request of the meshed chain, in order: in and out of
 * frontend and of one catalog replica, into ratings. Replicas of one crossing share its
 * requests.
 */
export const MESHED_PATH: readonly {
  replicas: readonly string[];
  direction: 'inbound' | 'outbound';
}[] = [
  { replicas: ['frontend'], direction: 'inbound' },
  { replicas: ['frontend'], direction: 'outbound' },
  { replicas: ['catalog-1', 'catalog-2'], direction: 'inbound' },
  { replicas: ['catalog-1', 'catalog-2'], direction: 'outbound' },
  { replicas: ['ratings'], direction: 'inbound' },
];

/** Sidecars a request of the meshed chain passes. */
export const MESHED_SIDECAR_HOPS = MESHED_PATH.length;
