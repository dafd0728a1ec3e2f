// The cluster's own signs of each pod's mesh mode, as the agent reads them from a local
// server speaking the Kubernetes list and watch API: a namespace enrolled in ambient mode
// with a waypoint, a pod opting out of the mesh, one opting out of the waypoint, a sidecar
// container, a waypoint, a pod of ztunnel's DaemonSet (whose process the agent takes for a
// node proxy, though its executable is no known proxy). Each one's signs exactly as the API has them, only those labels; a
// namespace relabelled while the agent runs is in the next signs, by the watch alone; the
// RBAC the manifests grant covers every list and watch the agent makes. Then on the real
// kernel, processes in kubelet-shaped cgroups with traffic of their own: the batches carry
// each pod's signs, the collector's cost of each pod says the mode and why, and a
// namespace enrolled while traffic flows turns its pod ambient.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { MANIFESTS_DIR } from '../../cli/commands/manifests.js';
import { unifiedCgroupRoot } from '../../daemonset/identity/proc-identity.js';
import { SIDECAR_CONTAINERS } from '../../daemonset/identity/roles.js';
import { KubernetesView, loadKubeConfig } from '../../daemonset/kubernetes/cluster.js';
import { slimNamespace } from '../../daemonset/kubernetes/namespace-directory.js';
import { kustomize } from '../../daemonset/kustomize.js';
import type { Batch, Init, PodMeshSigns } from '../../proto/gen/tollgate/v1.js';
import { startCollector } from '../collector/fixture.js';
import { makeTestCerts } from '../tls-certs.js';
import { startAgent } from './agent-fixture.js';
import { FakeKubeApi, namespaceObject, runningPod } from './kube-api-server.js';

const NODE = 'node-signs';
const suffix = process.pid.toString(16).padStart(8, '0');
const uid = (n: number) => `5191a000-0000-4000-8000-${n.toString().padStart(4, '0')}${suffix}`;
const containerId = (n: number) => `${n.toString(16).padStart(2, '0')}${suffix}`.padEnd(64, 'c');

const AMBIENT_WITH_WAYPOINT = {
  'istio.io/dataplane-mode': 'ambient',
  'istio.io/use-waypoint': 'waypoint',
};

/** The pods of the test, by name, with what the API serves for each. */
const PODS = {
  web: {
    namespace: 'shop',
    labels: { app: 'web', version: 'v1' },
    containers: ['web'],
  },
  batch: {
    namespace: 'shop',
    labels: { app: 'batch', 'istio.io/dataplane-mode': 'none' },
    containers: ['batch'],
  },
  legacy: {
    namespace: 'shop',
    labels: { app: 'legacy' },
    containers: ['legacy', 'istio-proxy'],
  },
  waypoint: {
    namespace: 'shop',
    labels: {
      'gateway.istio.io/managed': 'istio.io-mesh-controller',
      'istio.io/dataplane-mode': 'none',
      'gateway.networking.k8s.io/gateway-name': 'waypoint',
    },
    containers: ['istio-proxy'],
  },
  ztunnel: {
    namespace: 'istio-system',
    labels: { app: 'ztunnel' },
    containers: ['node-proxy'],
    owner: { kind: 'DaemonSet', name: 'ztunnel' },
  },
  reviews: {
    namespace: 'books',
    labels: { app: 'reviews' },
    containers: ['reviews'],
  },
  // In shop's ambient mesh, kept off shop's waypoint by its own label (Istio's opt-out).
  checkout: {
    namespace: 'shop',
    labels: { app: 'checkout', 'istio.io/use-waypoint': 'none' },
    containers: ['checkout'],
  },
} as const;
type PodName = keyof typeof PODS;
const NAMES = Object.keys(PODS) as PodName[];

/** What the agent must ship for each pod while books is not enrolled (worked out from PODS). */
const EXPECTED: Record<PodName, Init<PodMeshSigns>> = {
  web: {
    namespace: 'shop',
    name: 'web',
    namespaceLabels: AMBIENT_WITH_WAYPOINT,
    labels: { app: 'web' },
    ownerKind: '',
    ownerName: '',
    sidecarContainers: [],
  },
  batch: {
    namespace: 'shop',
    name: 'batch',
    namespaceLabels: AMBIENT_WITH_WAYPOINT,
    labels: { app: 'batch', 'istio.io/dataplane-mode': 'none' },
    ownerKind: '',
    ownerName: '',
    sidecarContainers: [],
  },
  legacy: {
    namespace: 'shop',
    name: 'legacy',
    namespaceLabels: AMBIENT_WITH_WAYPOINT,
    labels: { app: 'legacy' },
    ownerKind: '',
    ownerName: '',
    sidecarContainers: ['istio-proxy'],
  },
  waypoint: {
    namespace: 'shop',
    name: 'waypoint',
    namespaceLabels: AMBIENT_WITH_WAYPOINT,
    labels: {
      'gateway.istio.io/managed': 'istio.io-mesh-controller',
      'istio.io/dataplane-mode': 'none',
    },
    ownerKind: '',
    ownerName: '',
    sidecarContainers: ['istio-proxy'],
  },
  ztunnel: {
    namespace: 'istio-system',
    name: 'ztunnel',
    namespaceLabels: {},
    labels: { app: 'ztunnel' },
    ownerKind: 'DaemonSet',
    ownerName: 'ztunnel',
    sidecarContainers: [],
  },
  reviews: {
    namespace: 'books',
    name: 'reviews',
    namespaceLabels: {},
    labels: { app: 'reviews' },
    ownerKind: '',
    ownerName: '',
    sidecarContainers: [],
  },
  checkout: {
    namespace: 'shop',
    name: 'checkout',
    namespaceLabels: AMBIENT_WITH_WAYPOINT,
    labels: { app: 'checkout', 'istio.io/use-waypoint': 'none' },
    ownerKind: '',
    ownerName: '',
    sidecarContainers: [],
  },
};

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The local API with the namespaces and the pods of PODS on NODE, and a view of it. */
async function cluster(t: TestContext, options: { resyncMs?: number } = {}) {
  const certs = makeTestCerts();
  t.after(() => certs.remove());
  const api = await new FakeKubeApi('agent-token', certs).start();
  t.after(() => api.stop());
  api.put(
    'namespaces',
    namespaceObject('shop', { ...AMBIENT_WITH_WAYPOINT, 'kubernetes.io/metadata.name': 'shop' }),
  );
  api.put('namespaces', namespaceObject('istio-system'));
  api.put('namespaces', namespaceObject('books', { team: 'reading' }));
  NAMES.forEach((name, n) => {
    const p = PODS[name];
    api.put(
      'pods',
      runningPod({
        namespace: p.namespace,
        name,
        uid: uid(n),
        node: NODE,
        ip: `10.9.0.${n + 1}`,
        containers: p.containers.map((c, k) => ({ name: c, id: containerId(n * 4 + k) })),
        labels: p.labels,
        owner: 'owner' in p ? p.owner : undefined,
      }),
    );
  });
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-kube-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'config'), api.kubeconfig());
  const kubeConfig = loadKubeConfig(join(dir, 'config'));
  assert.ok(kubeConfig);
  const view = await KubernetesView.start({ kubeConfig, node: NODE, ...options });
  t.after(() => view.stop());
  return { api, view };
}

test("each kind of pod's signs, exactly the API's and only the mesh's; a relabel arrives by the watch", async (t) => {
  // No resync: only the watch can bring the relabel.
  const { api, view } = await cluster(t, { resyncMs: 0 });
  const signs = (name: PodName) => view.meshSigns(uid(NAMES.indexOf(name)), SIDECAR_CONTAINERS);
  for (const name of NAMES) assert.deepEqual(signs(name), EXPECTED[name], name);
  assert.equal(view.meshSigns(uid(99), SIDECAR_CONTAINERS), undefined, 'an unknown pod');
  // The role rules' names decide which containers are sidecars.
  assert.deepEqual(
    view.meshSigns(uid(NAMES.indexOf('legacy')), ['linkerd-proxy'])?.sidecarContainers,
    [],
  );
  // ztunnel's DaemonSet's pod is a node proxy's; no other is.
  assert.deepEqual(
    NAMES.filter((name) => view.byUid(uid(NAMES.indexOf(name)))?.nodeProxy),
    ['ztunnel'],
  );

  await until('the namespace watch', () => api.openWatches('namespaces') === 1);
  api.put('namespaces', namespaceObject('books', { 'istio.io/dataplane-mode': 'ambient' }));
  await until(
    'the relabelled namespace',
    () => signs('reviews')?.namespaceLabels?.['istio.io/dataplane-mode'] === 'ambient',
  );
  assert.deepEqual(signs('reviews'), {
    ...EXPECTED.reviews,
    namespaceLabels: { 'istio.io/dataplane-mode': 'ambient' },
  });
  api.put('namespaces', namespaceObject('shop'));
  await until(
    'the labels taken off',
    () => Object.keys(signs('web')?.namespaceLabels ?? {}).length === 0,
  );
  api.remove('namespaces', undefined, 'books');
  await until(
    'the deleted namespace',
    () => !signs('reviews')?.namespaceLabels?.['istio.io/dataplane-mode'],
  );
  assert.equal(view.stats().namespaces.lists, 1, 'no relist: the watch did it');

  // What is kept of a namespace: its name, uid, version and mesh labels, nothing else.
  assert.deepEqual(
    slimNamespace({
      metadata: {
        name: 'shop',
        uid: 'u',
        resourceVersion: '7',
        labels: { ...AMBIENT_WITH_WAYPOINT, team: 'x' },
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(10_000) },
      },
      spec: { finalizers: ['kubernetes'] },
    }),
    { metadata: { name: 'shop', uid: 'u', resourceVersion: '7', labels: AMBIENT_WITH_WAYPOINT } },
  );
  // A label value longer than any the API allows is no sign, left out.
  assert.deepEqual(
    slimNamespace({ metadata: { name: 'n', labels: { 'istio.io/use-waypoint': 'w'.repeat(254) } } })
      .metadata?.labels,
    {},
  );

  // The manifests' ClusterRole grants every list and watch the agent made.
  const role = kustomize(join(MANIFESTS_DIR, 'overlays', 'least-privilege')).find(
    (m) => m.kind === 'ClusterRole',
  ) as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] } | undefined;
  const granted = new Set(
    role?.rules
      .filter(
        (r) => r.apiGroups.includes('') && r.verbs.includes('list') && r.verbs.includes('watch'),
      )
      .flatMap((r) => r.resources),
  );
  const asked = new Set(api.requests.map((r) => /^\/api\/v1\/([a-z]+)$/.exec(r.path)?.[1]));
  assert.deepEqual([...asked].sort(), ['namespaces', 'pods', 'services']);
  for (const resource of asked) assert.ok(granted.has(resource!), `RBAC grants ${resource}`);
});

/**
 * Processes in containers' kubelet-shaped cgroups (systemd driver, cgroup v2). When the
 * test ends, every process is ended by its pid, then the cgroups made are removed, the
 * deepest first (the pods share their parents).
 */
function containers(t: TestContext) {
  const children: ChildProcess[] = [];
  const made: string[] = [];
  t.after(async () => {
    for (const child of children) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    for (const dir of made.reverse()) rmdirSync(dir);
  });
  return {
    /**
     * A process, its executable named `exe`, in container `id` of pod `podUid`, connecting
     * to itself over loopback every 100 ms (at most 600 times), so that it has edges in
     * every interval.
     */
    start(dir: string, exe: string, podUid: string, id: string): ChildProcess {
      const path = join(dir, exe);
      linkSync(process.execPath, path);
      const child = spawn(
        path,
        [
          '-e',
          `const net = require('node:net');
           const server = net.createServer((s) => s.on('data', (d) => s.end(d))).listen(0, '127.0.0.1', () => {
             let left = 600;
             const timer = setInterval(() => {
               if (--left < 0) return clearInterval(timer);
               const c = net.connect(server.address().port, '127.0.0.1', () => c.write('ping'));
               c.on('data', () => c.end());
               c.on('error', () => {});
             }, 100);
           });`,
        ],
        { stdio: 'ignore' },
      );
      children.push(child);
      const parts = [
        'kubepods.slice',
        'kubepods-besteffort.slice',
        `kubepods-besteffort-pod${podUid.replace(/-/g, '_')}.slice`,
        `cri-containerd-${id}.scope`,
      ];
      let group = unifiedCgroupRoot();
      for (const part of parts) {
        group = join(group, part);
        try {
          mkdirSync(group);
          made.push(group);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
      }
      writeFileSync(join(group, 'cgroup.procs'), String(child.pid));
      return child;
    },
  };
}

test("on the real kernel: batches carry each pod's signs, and the collector says each mode and why", async (t) => {
  const { api, view } = await cluster(t);
  const dir = mkdtempSync(join(tmpdir(), 'tg-signs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // One process per pod, in the container a mesh would run it in: the sidecar's and the
  // waypoint's in istio-proxy (their executable envoy), ztunnel's under a name no role
  // rule knows, so that only its pod makes it a node proxy.
  const exes: Record<PodName, { exe: string; container: number }> = {
    web: { exe: 'web', container: 0 },
    batch: { exe: 'batch', container: 0 },
    legacy: { exe: 'envoy', container: 1 },
    waypoint: { exe: 'envoy', container: 0 },
    ztunnel: { exe: 'zt-proxy', container: 0 },
    reviews: { exe: 'reviews', container: 0 },
    checkout: { exe: 'checkout', container: 0 },
  };
  const pids = new Map<number, PodName>();
  const processes = containers(t);
  NAMES.forEach((name, n) => {
    const podDir = mkdtempSync(join(dir, `${name}-`));
    const { exe, container } = exes[name];
    const child = processes.start(podDir, exe, uid(n), containerId(n * 4 + container));
    pids.set(child.pid!, name);
  });

  const batches: Batch[] = [];
  const collector = await startCollector(t, { onStored: (b) => batches.push(b) });
  const startMs = Date.now();
  const { agent } = await startAgent(t, {
    collector: collector.grpcAddress,
    node: NODE,
    intervalMs: 300,
    kubernetes: view,
  });
  const signsOf = (name: PodName, from = 0) =>
    batches
      .slice(from)
      .flatMap((b) => b.podSigns)
      .filter((s) => s.namespace === PODS[name].namespace && s.name === name)
      .at(-1);
  await until('signs for every pod', () => NAMES.every((name) => signsOf(name)));
  for (const name of NAMES) assert.deepEqual(signsOf(name), EXPECTED[name], name);
  assert.equal(agent.status().shipper.rejected, 0);

  // The roles the agent gave: envoy in istio-proxy a sidecar; zt-proxy, alone in its pod
  // and no known proxy, a node proxy's by its pod alone; the apps apps.
  const roles = Object.fromEntries(
    batches
      .flatMap((b) => b.processes)
      .filter((p) => pids.has(p.ref?.pid ?? 0))
      .map((p) => [pids.get(p.ref!.pid), p.role]),
  );
  assert.deepEqual(roles, {
    web: 'ROLE_APP',
    batch: 'ROLE_APP',
    legacy: 'ROLE_SIDECAR',
    waypoint: 'ROLE_SIDECAR',
    ztunnel: 'ROLE_SIDECAR',
    reviews: 'ROLE_APP',
    checkout: 'ROLE_APP',
  });

  const modes = async () =>
    Object.fromEntries(
      (await collector.queries.view({ fromMs: startMs - 1000, toMs: Date.now() + 1000 })).costs
        .filter((c) => NAMES.includes(c.name as PodName))
        .map((c) => [c.name, [c.mode, c.modeSigns]]),
    );
  const NS_AMBIENT = 'namespace label istio.io/dataplane-mode=ambient';
  assert.deepEqual(await modes(), {
    web: ['ambient+waypoint', [NS_AMBIENT, 'namespace label istio.io/use-waypoint=waypoint']],
    batch: [
      'none',
      [
        'pod label istio.io/dataplane-mode=none opts it out of namespace label istio.io/dataplane-mode=ambient',
      ],
    ],
    legacy: [
      'sidecar',
      [
        'sidecar envoy in the pod',
        'container istio-proxy in the pod',
        `${NS_AMBIENT}, but a sidecar envoy runs in the pod`,
      ],
    ],
    waypoint: ['waypoint', ['pod label gateway.istio.io/managed=istio.io-mesh-controller']],
    ztunnel: ['node-proxy', ['pod of DaemonSet ztunnel']],
    reviews: ['none', []],
    checkout: [
      'ambient',
      [
        NS_AMBIENT,
        'pod label istio.io/use-waypoint=none opts it out of namespace label istio.io/use-waypoint=waypoint',
      ],
    ],
  });

  // books is enrolled while the agent runs: the next batches say so, and so does reviews' cost.
  const seen = batches.length;
  api.put('namespaces', namespaceObject('books', { 'istio.io/dataplane-mode': 'ambient' }));
  await until(
    "the relabel in a batch's signs",
    () => signsOf('reviews', seen)?.namespaceLabels['istio.io/dataplane-mode'] === 'ambient',
  );
  assert.deepEqual((await modes()).reviews, [
    'ambient',
    ['namespace label istio.io/dataplane-mode=ambient'],
  ]);
});
