// A proxy is a sidecar only beside something: an nginx or envoy alone in its pod is the
// pod's app (an ingress, a gateway). Without Kubernetes the pod is the network namespace:
// a real one made here, with a process named like a proxy alone in it, then an app beside
// it. With Kubernetes, the pod's running containers (native sidecars included) decide.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { linkSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { IdentityResolver } from '../../daemonset/identity/resolver.js';
import { roleOf } from '../../daemonset/identity/roles.js';
import { indexPod } from '../../daemonset/kubernetes/pod-directory.js';

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

function readExe(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '';
  }
}

test('without kubernetes: a proxy alone in its network namespace is the app until an app joins it', async (t) => {
  const name = `tg-roles-${process.pid}`;
  execFileSync('ip', ['netns', 'add', name]);
  t.after(() => execFileSync('ip', ['netns', 'delete', name]));
  const dir = mkdtempSync(join(tmpdir(), 'tg-roles-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A process whose executable is named like a proxy.
  const proxyExe = join(dir, 'haproxy');
  linkSync(process.execPath, proxyExe);
  const inNetns = (exe: string) => {
    const child = spawn('ip', ['netns', 'exec', name, exe, '-e', 'setInterval(() => {}, 1000)'], {
      stdio: 'ignore',
    });
    t.after(() => child.kill('SIGKILL'));
    return child;
  };
  // `ip netns exec` execs the command: the child's pid is the process's.
  const proxy = inNetns(proxyExe);
  // Resolved once `ip` has exec'd it (the resolver knows a pid by its start time, which
  // an exec keeps).
  for (let i = 0; readExe(proxy.pid!) !== proxyExe; i++) {
    assert.ok(i < 100, 'the proxy started');
    await new Promise((r) => setTimeout(r, 50));
  }
  const resolver = new IdentityResolver({ node: 'n', aloneRecheckMs: 200 });
  const role = async () => resolver.resolve(proxy.pid!)?.role;
  assert.equal(await role(), 'ROLE_APP', 'alone: the pod is the proxy');

  const app = inNetns(process.execPath);
  for (let i = 0; readExe(app.pid!) !== process.execPath; i++) {
    assert.ok(i < 100, 'the app started');
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await role(), 'ROLE_SIDECAR', 'beside an app: its sidecar');
});
