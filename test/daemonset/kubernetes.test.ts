// The agent's Kubernetes watch against a local server that speaks the API's list and
// watch JSON: only this node's pods (the server filters on the field selector the agent
// sends), updates by watch events, recovery from dropped watches, API errors and 410
// Gone, periodic resync, and Services by cluster IP.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KubernetesView, loadKubeConfig } from '../../daemonset/kubernetes/cluster.js';
import { indexPod } from '../../daemonset/kubernetes/pod-directory.js';
import { makeTestCerts } from '../tls-certs.js';
import { FakeKubeApi, runningPod } from './kube-api-server.js';

const hex = (n: number) => n.toString(16).padStart(64, '0');
const uid = (n: number) => `00000000-0000-4000-8000-${n.toString().padStart(12, '0')}`;

function pod(n: number, node: string) {
  return runningPod({
    namespace: 'shop',
    name: `web-${n}`,
    uid: uid(n),
    node,
    ip: `10.1.0.${n}`,
    containers: [
      { name: 'app', id: hex(n * 2) },
      { name: 'istio-proxy', id: hex(n * 2 + 1) },
    ],
    labels: { app: 'web' },
  });
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const certs = makeTestCerts();
process.on('exit', () => certs.remove());

async function started(t: import('node:test').TestContext, options: { resyncMs?: number } = {}) {
  const api = await new FakeKubeApi('agent-token', certs).start();
  t.after(() => api.stop());
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-kube-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'config'), api.kubeconfig());
  const kubeConfig = loadKubeConfig(join(dir, 'config'));
  assert.ok(kubeConfig);
  return {
    api,
    start: async () => {
      const view = await KubernetesView.start({ kubeConfig, node: 'node-a', ...options });
      t.after(() => view.stop());
      return view;
    },
  };
}

test("the node's pods only, asked for with the spec.nodeName field selector", async (t) => {
  const { api, start } = await started(t);
  api.put('pods', pod(1, 'node-a'));
  api.put('pods', pod(2, 'node-b'));
  const view = await start();

  const web1 = view.byUid(uid(1));
  assert.deepEqual(web1?.pod, {
    namespace: 'shop',
    name: 'web-1',
    uid: uid(1),
    node: 'node-a',
    source: 'POD_SOURCE_KUBERNETES',
    labels: { app: 'web' },
  });
  assert.equal(web1?.containerName(hex(3)), 'istio-proxy');
  assert.equal(web1?.containerName(hex(2)), 'app');
  assert.equal(web1?.containerName(hex(99)), '');
  assert.equal(view.byUid(uid(2)), undefined, 'the other node is not held');
  assert.deepEqual(view.peerOf('10.1.0.1'), {
    address: '10.1.0.1',
    kind: 'PEER_KIND_POD',
    namespace: 'shop',
    name: 'web-1',
  });

  const podRequests = api.requests.filter((r) => r.path === '/api/v1/pods');
  assert.ok(podRequests.length >= 2, 'a list and a watch');
  for (const r of podRequests) {
    assert.equal(r.query.get('fieldSelector'), 'spec.nodeName=node-a');
    assert.equal(r.authorization, 'Bearer agent-token');
  }
  const watch = podRequests.find((r) => r.query.get('watch') === 'true');
  assert.equal(watch?.query.get('resourceVersion'), '102', 'watched from the list');
});

test('watch events, a dropped watch, API errors and 410 Gone: the set stays right', async (t) => {
  const { api, start } = await started(t);
  api.put('pods', pod(1, 'node-a'));
  const view = await start();
  await until('the watch', () => api.openWatches('pods') === 1);

  api.put('pods', pod(3, 'node-a'));
  await until('an added pod', () => view.byUid(uid(3)));

  // The watch drops and the API fails the next requests: the agent backs off and
  // resumes from its resourceVersion; what changed meanwhile arrives in order.
  api.failNext(2);
  assert.equal(api.dropWatches(), 3, 'pods, services and namespaces');
  api.remove('pods', 'shop', 'web-1');
  api.put('pods', pod(4, 'node-a'));
  await until('the change made while the watch was down', () => view.byUid(uid(4)));
  assert.equal(view.byUid(uid(1)), undefined, 'the deleted pod is gone');
  const stats = view.stats().pods;
  assert.ok(stats.watchRestarts >= 1, `restarts ${stats.watchRestarts}`);
  assert.ok(stats.errors >= 1, `errors ${stats.errors}`);
  // The two failed requests go to whichever of the pods', Services' and namespaces'
  // resumes come first; a dropped watch itself reads as "Premature close".
  const lastErrors = [
    stats.lastError,
    view.stats().services.lastError,
    view.stats().namespaces.lastError,
  ];
  assert.ok(
    lastErrors.some((e) => /503|Unavailable/.test(e ?? '')),
    `last errors ${JSON.stringify(lastErrors)}`,
  );

  // The server compacted its history: the resumed watch gets 410 and the agent relists.
  await until('the watch again', () => api.openWatches('pods') === 1);
  const lists = view.stats().pods.lists;
  api.compactedBefore = Number.MAX_SAFE_INTEGER;
  api.dropWatches();
  api.put('pods', pod(5, 'node-a'));
  await until('a relist after 410', () => view.stats().pods.lists > lists);
  api.compactedBefore = 0;
  await until('the pod made during the relist', () => view.byUid(uid(5)));
  assert.ok(view.byUid(uid(3)) && view.byUid(uid(4)), 'earlier pods kept');
});

test('a server that ends every watch at once is not reconnected to in a tight loop', async (t) => {
  const { api, start } = await started(t);
  api.put('pods', pod(1, 'node-a'));
  const view = await start();
  await until('the watch', () => api.openWatches('pods') === 1);

  // From now on every watch ends cleanly as soon as it opens. ListWatch alone would
  // resume it at once, again and again; the pacing backs off (500 ms, doubling, jittered).
  api.endWatchesAtOnce = true;
  const watchesBefore = api.requests.filter((r) => r.query.get('watch') === 'true').length;
  api.dropWatches();
  await new Promise((r) => setTimeout(r, 3000));
  const watches =
    api.requests.filter((r) => r.query.get('watch') === 'true').length - watchesBefore;
  const stats = view.stats().pods;
  t.diagnostic(`watch requests in 3 s: ${watches}; paced: ${stats.watchesPaced}`);
  assert.ok(watches >= 2, `the watch is still retried: ${watches}`);
  assert.ok(watches <= 24, `watch requests in 3 s (pods, Services, namespaces): ${watches}`);
  assert.ok(stats.watchesPaced >= 1, `paced opens: ${stats.watchesPaced}`);

  // A watch that works again is resumed and delivers; the set stays right.
  api.endWatchesAtOnce = false;
  api.put('pods', pod(2, 'node-a'));
  await until('a pod added after the watch works again', () => view.byUid(uid(2)), 15_000);
  assert.ok(view.byUid(uid(1)), 'the first pod kept');
});

test('a periodic resync repairs an event the watch never delivered', async (t) => {
  const { api, start } = await started(t, { resyncMs: 300 });
  api.put('pods', pod(1, 'node-a'));
  const view = await start();
  await until('the watch', () => api.openWatches('pods') === 1);
  // A change whose event is lost: the resync's fresh list is the only way to learn of it.
  api.putWithoutEvent('pods', pod(6, 'node-a'));
  await until('the resync', () => view.byUid(uid(6)));
  assert.ok(view.stats().pods.lists >= 2);
});

test('Services by cluster IP; headless ones are not names for an address', async (t) => {
  const { api, start } = await started(t);
  api.put('services', {
    metadata: { name: 'reviews', namespace: 'shop', uid: 'svc-1' },
    spec: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00::10'] },
  } as never);
  api.put('services', {
    metadata: { name: 'db', namespace: 'shop', uid: 'svc-2' },
    spec: { clusterIP: 'None', clusterIPs: ['None'] },
  } as never);
  const view = await start();
  assert.deepEqual(view.peerOf('fd00::10'), {
    address: 'fd00::10',
    kind: 'PEER_KIND_SERVICE',
    namespace: 'shop',
    name: 'reviews',
  });
  assert.equal(view.peerOf('None'), undefined);
  assert.equal(view.stats().services.objects, 2);
});

test('an API that refuses the agent: start fails with the reason, and nothing is left running', async (t) => {
  const api = await new FakeKubeApi('right', certs).start();
  t.after(() => api.stop());
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-kube-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'config'), api.kubeconfig().replace('"right"', '"wrong"'));
  const kubeConfig = loadKubeConfig(join(dir, 'config'));
  assert.ok(kubeConfig);
  await assert.rejects(KubernetesView.start({ kubeConfig, node: 'node-a' }), /401|Unauthorized/);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(api.openWatches('pods'), 0);
});

test('container ids from every runtime prefix; a pod without a uid is skipped', () => {
  const p = pod(7, 'node-a');
  p.status.containerStatuses[0]!.containerID = `cri-o://${hex(70)}`;
  p.status.containerStatuses[1]!.containerID = `docker://${hex(71)}`;
  const indexed = indexPod(p as never, 'node-a');
  assert.equal(indexed?.containers.get(hex(70)), 'app');
  assert.equal(indexed?.containers.get(hex(71)), 'istio-proxy');
  assert.equal(indexPod({ metadata: { name: 'x' } }, 'node-a'), undefined);
  assert.equal(loadKubeConfig(undefined, {}), undefined, 'outside Kubernetes: no config');
});
