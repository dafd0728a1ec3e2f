// Sidecar or app. A process is a sidecar when its container has a mesh's sidecar name, or
// when its executable is a known proxy and another container runs in its pod. A proxy
// alone in its pod is the pod's app: an ingress controller, a gateway, an nginx serving
// files; its traffic is not a sidecar's cost. A node proxy is the exception: it is alone
// in its pod by design and proxies other pods' traffic; known by its executable (ztunnel)
// or, with Kubernetes, by its pod (one of ztunnel's DaemonSet, proto/mesh-signs.ts),
// whatever runs in it. Without Kubernetes (or before its pod is known) the executable
// alone decides. The lists are the defaults; the agent takes others from its options.
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
  'ztunnel',
] as const;

/**
 * Node proxies (ambient mode): alone in their pod by design, yet proxies of other pods'
 * traffic, so never taken for their pod's app. Their sockets in the pods they serve say
 * which pods those are (the collector puts their cost there).
 */
export const NODE_PROXY_EXECUTABLES = ['ztunnel'] as const;

export interface RoleRules {
  containers: readonly string[];
  executables: readonly string[];
}

export const DEFAULT_ROLE_RULES: RoleRules = {
  containers: SIDECAR_CONTAINERS,
  executables: PROXY_EXECUTABLES,
};

/** A process's executable's name, or its comm when the executable is unreadable. */
function executableName(p: { exe: string; comm: string }): string {
  // A deleted executable reads as "/path (deleted)".
  return basename(p.exe.replace(/ \(deleted\)$/, '')) || p.comm;
}

/** Whether a process's executable (or comm, when exe is unreadable) is a known proxy. */
export function isProxyExecutable(
  p: { exe: string; comm: string },
  rules: RoleRules = DEFAULT_ROLE_RULES,
): boolean {
  return rules.executables.includes(executableName(p));
}

function isNodeProxy(p: { exe: string; comm: string }): boolean {
  return (NODE_PROXY_EXECUTABLES as readonly string[]).includes(executableName(p));
}

export function roleOf(
  p: {
    containerName: string;
    exe: string;
    comm: string;
    /** Whether something else shares the pod; undefined when that is unknown. */
    companions?: boolean;
    /** The pod is a node proxy's (ztunnel's DaemonSet); undefined when unknown. */
    nodeProxyPod?: boolean;
  },
  rules: RoleRules = DEFAULT_ROLE_RULES,
): 'ROLE_SIDECAR' | 'ROLE_APP' {
  if (p.containerName && rules.containers.includes(p.containerName)) return 'ROLE_SIDECAR';
  if (p.nodeProxyPod) return 'ROLE_SIDECAR';
  if (p.companions === false)
    return isNodeProxy(p) && isProxyExecutable(p, rules) ? 'ROLE_SIDECAR' : 'ROLE_APP';
  return isProxyExecutable(p, rules) ? 'ROLE_SIDECAR' : 'ROLE_APP';
}
