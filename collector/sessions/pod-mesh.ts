// A pod's mesh as a session result records it (PodResult): the modes and share methods a
// file may hold, the mode of a pod in a file from before modes, and the proxies that
// carry the pod's mesh traffic with the part of each one's cost put to the pod. Pure; the
// comparison, the data plane summary and the import checks read pods through it, so the
// rules stand in one place.
import type { MeshMode, ShareMethod } from '../../proto/api.js';
import type { MethodShare, PodResult } from '../../proto/gen/tollgate/v1.js';

// Records, so that the compiler says when the API's unions gain a member this list lacks.
const MODES: Record<MeshMode, true> = {
  sidecar: true,
  ambient: true,
  'ambient+waypoint': true,
  'node-proxy': true,
  waypoint: true,
  none: true,
};
const METHODS: Record<ShareMethod, true> = { 'on-cpu': true, bytes: true };

export const MESH_MODES = Object.keys(MODES) as readonly MeshMode[];
export const SHARE_METHODS = Object.keys(METHODS) as readonly ShareMethod[];

/** What carries a pod's mesh traffic: its own sidecar, or a shared node proxy or waypoint. */
export type ProxyKind = 'sidecar' | 'node-proxy' | 'waypoint';
export const PROXY_KINDS: readonly ProxyKind[] = ['sidecar', 'node-proxy', 'waypoint'];

/**
 * A pod's mode as its result says it; files from before the field: a sidecar where it
 * names a proxy, else none. A value this collector does not know reads as missing.
 */
export function meshModeOf(p: PodResult | undefined): MeshMode | null {
  if (!p) return null;
  if (!p.meshMode) return p.proxy ? 'sidecar' : 'none';
  return MESH_MODES.find((m) => m === p.meshMode) ?? null;
}

/** A proxy that carries a pod's mesh traffic, and the part of its cost put to the pod. */
export interface PodProxy {
  kind: ProxyKind;
  /** Its executable name. */
  proxy: string;
  /** The pod's share of a shared proxy and the method behind it; null for a sidecar (all of it). */
  share: { value: number; method: string } | null;
  /** Whether its CPU and memory were read in the window. */
  measured: boolean;
  cpuMsPerThousandRequests: number;
  memMb: number;
  cpuMcores: number;
}

/**
 * The proxies carrying a pod's mesh traffic, as its result records them: its sidecar, or
 * the node proxy at the pod's share and any waypoint at its part; none for other modes.
 * A node proxy's share in a file from before the method was recorded is by bytes, the
 * only method then.
 */
export function podProxies(p: PodResult): PodProxy[] {
  const mode = meshModeOf(p);
  const own = {
    proxy: p.proxy,
    // Files from before the field say nothing of it: their figures read as measured.
    measured: p.proxyUnmeasured === '',
    cpuMsPerThousandRequests: p.sidecarCpuMsPerThousandRequests,
    memMb: p.sidecarMemMb,
    cpuMcores: p.sidecarCpuMcores,
  };
  if (mode === 'sidecar') return [{ kind: 'sidecar', share: null, ...own }];
  if (mode !== 'ambient' && mode !== 'ambient+waypoint') return [];
  return [
    {
      kind: 'node-proxy',
      share: { value: p.proxyShare, method: p.proxyShareMethod || 'bytes' },
      ...own,
    },
    ...p.waypoints.map(
      (w): PodProxy => ({
        kind: 'waypoint',
        proxy: w.proxy,
        share: { value: w.share, method: w.shareMethod },
        measured: w.measured,
        cpuMsPerThousandRequests: w.cpuMsPerThousandRequests,
        memMb: w.memMb,
        cpuMcores: w.cpuMcores,
      }),
    ),
  ];
}

/** "sidecar envoy", "node proxy ztunnel at 75% by bytes", "waypoint haproxy at 40% by on-cpu". */
export function describeProxy(x: PodProxy): string {
  const name = x.kind === 'node-proxy' ? 'node proxy' : x.kind;
  if (!x.share) return `${name} ${x.proxy}`;
  const percent = Number((x.share.value * 100).toPrecision(3));
  return `${name} ${x.proxy} at ${percent}% by ${x.share.method || 'an unknown method'}`;
}

/** The shares of a shared proxy by each method, as a file lists them (measured ones only). */
export function methodShares(byMethod: {
  onCpu: number | null;
  bytes: number | null;
}): MethodShare[] {
  const out: MethodShare[] = [];
  if (byMethod.onCpu !== null) out.push({ method: 'on-cpu', share: byMethod.onCpu });
  if (byMethod.bytes !== null) out.push({ method: 'bytes', share: byMethod.bytes });
  return out;
}
