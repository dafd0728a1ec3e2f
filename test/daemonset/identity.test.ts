// The container and pod a process belongs to, from /proc/<pid>/cgroup text as each
// runtime and cgroup driver writes it; and the sidecar/app role.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCgroup } from '../../daemonset/identity/cgroup.js';
import { DEFAULT_ROLE_RULES, roleOf } from '../../daemonset/identity/roles.js';

const ID = 'f3b2a1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2';
const UID = '8d6a2b4c-1e3f-4a5b-9c7d-0e1f2a3b4c5d';
const UID_ = UID.replace(/-/g, '_');

const cases: [string, string, { containerId: string; podUid: string; unifiedPath: string }][] = [
  [
    'containerd, systemd driver, cgroup v2',
    `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope\n`,
    {
      containerId: ID,
      podUid: UID,
      unifiedPath: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    },
  ],
  [
    'CRI-O, systemd driver, cgroup v2, guaranteed QoS (no QoS slice)',
    `0::/kubepods.slice/kubepods-pod${UID_}.slice/crio-${ID}.scope\n`,
    {
      containerId: ID,
      podUid: UID,
      unifiedPath: `/kubepods.slice/kubepods-pod${UID_}.slice/crio-${ID}.scope`,
    },
  ],
  [
    'docker (cri-dockerd), systemd driver, cgroup v1',
    [
      `12:memory:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/docker-${ID}.scope`,
      `11:cpu,cpuacct:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/docker-${ID}.scope`,
      '1:name=systemd:/system.slice/containerd.service',
    ].join('\n'),
    { containerId: ID, podUid: UID, unifiedPath: '' },
  ],
  [
    'containerd, cgroupfs driver, cgroup v1',
    [
      `5:pids:/kubepods/besteffort/pod${UID}/${ID}`,
      `4:memory:/kubepods/besteffort/pod${UID}/${ID}`,
    ].join('\n'),
    { containerId: ID, podUid: UID, unifiedPath: '' },
  ],
  [
    'containerd, cgroupfs driver, cgroup v2 (guaranteed)',
    `0::/kubepods/pod${UID}/${ID}\n`,
    { containerId: ID, podUid: UID, unifiedPath: `/kubepods/pod${UID}/${ID}` },
  ],
  [
    'hybrid host: v1 controllers at the root, the container in the unified hierarchy',
    ['3:cpuset:/', '1:name=systemd:/', `0::/kubepods/burstable/pod${UID}/${ID}`].join('\n'),
    { containerId: ID, podUid: UID, unifiedPath: `/kubepods/burstable/pod${UID}/${ID}` },
  ],
  [
    'a process outside any container',
    '0::/system.slice/sshd.service\n',
    { containerId: '', podUid: '', unifiedPath: '/system.slice/sshd.service' },
  ],
  [
    'a plain docker container (no pod)',
    `0::/system.slice/docker-${ID}.scope\n`,
    { containerId: ID, podUid: '', unifiedPath: `/system.slice/docker-${ID}.scope` },
  ],
  [
    "seen from another cgroup namespace (paths climb with '..'); a path with ':' in it",
    `0::/../../kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope:x\n`,
    {
      containerId: '',
      podUid: UID,
      unifiedPath: `/../../kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope:x`,
    },
  ],
  [
    'empty or garbage',
    'not a cgroup file\n\n::\n',
    { containerId: '', podUid: '', unifiedPath: '' },
  ],
];

for (const [what, text, expected] of cases)
  test(`cgroup: ${what}`, () => assert.deepEqual(parseCgroup(text), expected));

test('cgroup: a 63-digit id or a uid with a wrong group is no match', () => {
  const r = parseCgroup(`0::/kubepods/pod${UID.slice(1)}/${ID.slice(1)}\n`);
  assert.equal(r.containerId, '');
  assert.equal(r.podUid, '');
});

test('roles: by container name first, then executable, then comm', () => {
  const role = (containerName: string, exe: string, comm = '') =>
    roleOf({ containerName, exe, comm });
  assert.equal(role('istio-proxy', '/usr/local/bin/pilot-agent'), 'ROLE_SIDECAR');
  assert.equal(role('linkerd-proxy', '/usr/lib/linkerd/linkerd2-proxy'), 'ROLE_SIDECAR');
  assert.equal(role('app', '/usr/local/bin/envoy'), 'ROLE_SIDECAR', 'an envoy is a proxy anywhere');
  assert.equal(role('', '/usr/sbin/haproxy'), 'ROLE_SIDECAR');
  assert.equal(role('', '/usr/sbin/haproxy (deleted)'), 'ROLE_SIDECAR', 'upgraded in place');
  assert.equal(role('', '', 'nginx'), 'ROLE_SIDECAR', 'exe unreadable: comm');
  assert.equal(role('app', '/usr/bin/python3'), 'ROLE_APP');
  assert.equal(role('', '/opt/envoy-like'), 'ROLE_APP', 'names match whole');
  const custom = { containers: ['mesh-proxy'], executables: ['pingora'] };
  assert.equal(
    roleOf({ containerName: 'mesh-proxy', exe: '/x', comm: '' }, custom),
    'ROLE_SIDECAR',
  );
  assert.equal(
    roleOf({ containerName: '', exe: '/bin/pingora', comm: '' }, custom),
    'ROLE_SIDECAR',
  );
  assert.equal(roleOf({ containerName: 'istio-proxy', exe: '/x', comm: '' }, custom), 'ROLE_APP');
  assert.ok(DEFAULT_ROLE_RULES.containers.includes('istio-proxy'));
});
