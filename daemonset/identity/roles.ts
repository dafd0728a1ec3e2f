// Sidecar or app: a process is a sidecar when its container's name or its executable is
// a known proxy. The lists are the defaults; the agent takes others from its options.
import { basename } from 'node:path';

export const SIDECAR_CONTAINERS = [
  'istio-proxy',
  'linkerd-proxy',
  'consul-dataplane',
  'envoy-sidecar',
  'kuma-sidecar',
  'cilium-envoy',
] as const;

export const PROXY_EXECUTABLES = [
  'envoy',
  'linkerd2-proxy',
  'haproxy',
  'nginx',
  'pilot-agent',
] as const;

export interface RoleRules {
  containers: readonly string[];
  executables: readonly string[];
}

export const DEFAULT_ROLE_RULES: RoleRules = {
  containers: SIDECAR_CONTAINERS,
  executables: PROXY_EXECUTABLES,
};

export function roleOf(
  p: { containerName: string; exe: string; comm: string },
  rules: RoleRules = DEFAULT_ROLE_RULES,
): 'ROLE_SIDECAR' | 'ROLE_APP' {
  if (p.containerName && rules.containers.includes(p.containerName)) return 'ROLE_SIDECAR';
  // A deleted executable reads as "/path (deleted)"; comm is the fallback when exe is unreadable.
  const exe = basename(p.exe.replace(/ \(deleted\)$/, '')) || p.comm;
  return rules.executables.includes(exe) ? 'ROLE_SIDECAR' : 'ROLE_APP';
}
