// The container and pod a process belongs to, from its /proc/<pid>/cgroup. Covers the
// layouts kubelet makes with the systemd and the cgroupfs drivers, on cgroup v1 and v2,
// for containerd, CRI-O and docker. Pure.

export interface CgroupIdentity {
  /** 64 hex digits, or '' when the process is in no container. */
  containerId: string;
  /** The pod's UID as the API spells it (dashes), or ''. */
  podUid: string;
  /** The unified (v2) path, for the cgroup id; '' on a v1-only host. */
  unifiedPath: string;
}

// cri-containerd-<id>.scope, crio-<id>.scope, docker-<id>.scope (systemd driver), or a
// bare <id> path element (cgroupfs driver).
const CONTAINER = /(?:^|\/)(?:(?:cri-containerd|crio|docker)-)?([0-9a-f]{64})(?:\.scope)?(?:\/|$)/;
// kubepods-burstable-pod<uid with underscores>.slice (systemd) or pod<uid> (cgroupfs).
const POD =
  /(?:^|[/-])pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?(?:\/|$)/;

export function parseCgroup(text: string): CgroupIdentity {
  let containerId = '';
  let podUid = '';
  let unifiedPath = '';
  for (const line of text.split('\n')) {
    // hierarchy-id:controllers:path; the path may itself contain ':'.
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const path = line.slice(second + 1);
    if (line.slice(0, second) === '0:') unifiedPath = path;
    if (!containerId) containerId = CONTAINER.exec(path)?.[1] ?? '';
    if (!podUid) podUid = (POD.exec(path)?.[1] ?? '').replace(/_/g, '-');
  }
  return { containerId, podUid, unifiedPath };
}
