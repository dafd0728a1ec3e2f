// A proxy is a sidecar only beside something: an nginx or envoy alone in its pod is the
// pod's app (an ingress, a gateway). The pod's running containers (native sidecars
// included) decide, for a real process in a kubelet-shaped cgroup; without Kubernetes the
// executable does.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { linkSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { unifiedCgroupRoot } from '../../daemonset/identity/proc-identity.js';
import { IdentityResolver } from '../../daemonset/identity/resolver.js';
import { roleOf } from '../../daemonset/identity/roles.js';
import { indexPod } from '../../daemonset/kubernetes/pod-directory.js';
import { cgroup } from './kube-cgroup.js';

test('roles: a proxy with nothing beside it is the app; a mesh container name is a sidecar anyway', () => {
  const envoy = { containerName: 'gateway', exe: '/usr/local/bin/envoy', comm: 'envoy' };
  assert.equal(roleOf({ ...envoy, companions: false }), 'ROLE_APP');
  assert.equal(roleOf({ ...envoy, companions: true }), 'ROLE_SIDECAR');
  assert.equal(roleOf({ ...envoy, companions: undefined }), 'ROLE_SIDECAR', 'unknown: by name');
  assert.equal(
    roleOf({ containerName: 'istio-proxy', exe: '/x', comm: 'x', companions: false }),
    'ROLE_SIDECAR',
  );
  assert.equal(
    roleOf({ containerName: 'app', exe: '/usr/bin/python3', comm: 'python3', companions: true }),
    'ROLE_APP',
  );
  // A node proxy is alone in its pod by design, and a proxy all the same.
  const ztunnel = { containerName: 'node-proxy', exe: '/usr/local/bin/ztunnel', comm: 'ztunnel' };
  assert.equal(roleOf({ ...ztunnel, companions: false }), 'ROLE_SIDECAR');
  assert.equal(roleOf({ ...ztunnel, companions: undefined }), 'ROLE_SIDECAR');
});

test('kubernetes: running containers count regular ones and native sidecars, not init steps', () => {
  const pod = (spec: V1Pod['spec']): V1Pod => ({
    metadata: { uid: 'u1', name: 'p', namespace: 'ns' },
    spec,
  });
  const c = (name: string) => ({ name });
  assert.equal(indexPod(pod({ containers: [c('nginx')] }), 'n')?.runningContainers, 1);
  assert.equal(
    indexPod(
      pod({
        containers: [c('app')],
        initContainers: [{ name: 'istio-proxy', restartPolicy: 'Always' }],
      }),
      'n',
    )?.runningContainers,
    2,
  );
  assert.equal(
    indexPod(pod({ containers: [c('nginx')], initContainers: [c('migrate')] }), 'n')
      ?.runningContainers,
    1,
  );
});

test('the resolver: an nginx alone in its Kubernetes pod is the app, beside another container a sidecar', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-roles-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const nginx = join(dir, 'nginx');
  linkSync(process.execPath, nginx);
  const uid = '7f1c2b8e-0000-4000-8000-00000000e01e';
  const containerId = 'e'.repeat(64);
  const child = spawn(nginx, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  // Registered first, so it runs first: the process ends before its cgroup is removed.
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  });
  // A cgroup v2 path as kubelet's systemd driver makes it, with containerd's scope.
  const group = cgroup(
    t,
    unifiedCgroupRoot(),
    `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-${containerId}.scope`,
  );
  writeFileSync(join(group, 'cgroup.procs'), String(child.pid));
  const roleWith = (runningContainers: number) =>
    new IdentityResolver({
      node: 'n',
      pods: {
        byUid: (u) =>
          u === uid
            ? {
                pod: { namespace: 'edge', name: 'ingress', uid, source: 'POD_SOURCE_KUBERNETES' },
                containerName: (id) => (id === containerId ? 'controller' : ''),
                runningContainers,
              }
            : undefined,
      },
    }).resolve(child.pid!)?.role;
  assert.equal(roleWith(1), 'ROLE_APP', 'alone in its pod: an ingress controller');
  assert.equal(roleWith(2), 'ROLE_SIDECAR', 'beside the app container');
  // Without Kubernetes the executable decides.
  assert.equal(new IdentityResolver({ node: 'n' }).resolve(child.pid!)?.role, 'ROLE_SIDECAR');
});
