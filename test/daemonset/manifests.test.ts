// The Kubernetes manifests: rendered from the kustomize tree, every object valid against
// the Kubernetes schemas (kubernetes-models), the agent's least-privilege settings as
// the issue lists them, the privileged overlay differing only where it must, the postgres
// overlay's collectors (3 on a shared store, no volume, the URL from a Secret) differing
// from the SQLite collector only in their store and their count, the containers'
// arguments accepted by the real commands, and `tollgate manifests` printing exactly that.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { test } from 'node:test';
import * as apps from 'kubernetes-models/apps/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as rbac from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as core from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { parseCommandArgs } from '../../cli/command.js';
import { agent } from '../../cli/commands/agent.js';
import { collector } from '../../cli/commands/collector.js';
import { MANIFESTS_DIR, STORE_URL_SECRET } from '../../cli/commands/manifests.js';
import { storeLocation } from '../../cli/store-location.js';
import { KustomizeError, kustomize, type Manifest, toYaml } from '../../daemonset/kustomize.js';

const repo = new URL('../..', import.meta.url).pathname;
const render = (overlay: string) => kustomize(join(MANIFESTS_DIR, 'overlays', overlay));

// Each kind's model class validates its object against the OpenAPI schema of Kubernetes.
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': core.Namespace,
  'v1/ServiceAccount': core.ServiceAccount,
  'v1/Service': core.Service,
  'v1/PersistentVolumeClaim': core.PersistentVolumeClaim,
  'apps/v1/DaemonSet': apps.DaemonSet,
  'apps/v1/Deployment': apps.Deployment,
  'policy/v1/PodDisruptionBudget': policy.PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/ClusterRole': rbac.ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': rbac.ClusterRoleBinding,
};

type Container = {
  name: string;
  image: string;
  args: string[];
  env?: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  securityContext: Record<string, unknown> & { capabilities?: { add?: string[]; drop?: string[] } };
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
};
type Volume = {
  name: string;
  hostPath?: { path: string };
  persistentVolumeClaim?: { claimName: string };
  secret?: { secretName: string; items?: { key: string; path: string }[] };
};
type PodSpec = {
  hostPID?: boolean;
  tolerations?: { operator?: string }[];
  containers: Container[];
  volumes: Volume[];
  securityContext?: Record<string, unknown>;
};
type Selector = { matchLabels: Record<string, string> };
const find = (ms: Manifest[], kind: string, name?: string) => {
  const m = ms.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(m, `${kind} ${name ?? ''} is rendered`);
  return m;
};
const podSpec = (m: Manifest) => (m.spec as { template: { spec: PodSpec } }).template.spec;
const podLabels = (m: Manifest) =>
  (m.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata
    .labels;
/** Whether a label selector picks a pod with these labels (matchLabels, all of them). */
const selects = (selector: Selector, labels: Record<string, string>) =>
  Object.keys(selector.matchLabels).length > 0 &&
  Object.entries(selector.matchLabels).every(([k, v]) => labels[k] === v);

const SQLITE_OVERLAYS = ['least-privilege', 'privileged'] as const;
const COMMON = [
  'Namespace/tollgate',
  'ServiceAccount/tollgate-agent',
  'ServiceAccount/tollgate-collector',
  'ClusterRole/tollgate-agent',
  'ClusterRoleBinding/tollgate-agent',
  'Service/tollgate-collector',
];
const RENDERED: Record<string, string[]> = {
  'least-privilege': [
    ...COMMON,
    'PersistentVolumeClaim/tollgate-collector-data',
    'Deployment/tollgate-collector',
    'DaemonSet/tollgate-agent',
  ],
  privileged: [
    ...COMMON,
    'PersistentVolumeClaim/tollgate-collector-data',
    'Deployment/tollgate-collector',
    'DaemonSet/tollgate-agent',
  ],
  // No volume claim: the store is the operator's database.
  postgres: [
    ...COMMON,
    'Deployment/tollgate-collector',
    'PodDisruptionBudget/tollgate-collector',
    'DaemonSet/tollgate-agent',
  ],
};

for (const [overlay, expected] of Object.entries(RENDERED)) {
  test(`${overlay}: every object is valid against the Kubernetes schemas`, () => {
    const ms = render(overlay);
    assert.deepEqual(
      ms.map((m) => `${m.kind}/${m.metadata.name}`),
      expected,
    );
    for (const m of ms) {
      const Model = MODELS[`${m.apiVersion}/${m.kind}`];
      assert.ok(Model, `a schema for ${m.apiVersion} ${m.kind}`);
      assert.doesNotThrow(() => new Model(m as never).validate(), `${m.kind}/${m.metadata.name}`);
      if (m.kind !== 'Namespace' && !m.kind.startsWith('Cluster'))
        assert.equal(m.metadata.namespace, 'tollgate', `${m.kind} in the namespace`);
      assert.equal(m.metadata.labels?.['app.kubernetes.io/part-of'], 'tollgate');
    }
  });
}

test('the schema check can fail: a broken DaemonSet is refused', () => {
  const ds = structuredClone(find(render('least-privilege'), 'DaemonSet'));
  (podSpec(ds).containers[0] as { name: unknown }).name = 42;
  assert.throws(() => new apps.DaemonSet(ds as never).validate());
});

test('least-privilege: the agent gets exactly what it needs, each capability explained', () => {
  const ms = render('least-privilege');
  const spec = podSpec(find(ms, 'DaemonSet', 'tollgate-agent'));
  const c = spec.containers[0]!;
  assert.equal(spec.hostPID, true);
  assert.deepEqual(spec.tolerations, [{ operator: 'Exists' }], 'tolerates every taint');
  const sc = c.securityContext;
  assert.notEqual(sc.privileged, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.deepEqual(sc.capabilities?.drop, ['ALL']);
  assert.deepEqual([...(sc.capabilities?.add ?? [])].sort(), [
    'BPF',
    'PERFMON',
    'SYS_PTRACE',
    'SYS_RESOURCE',
  ]);
  // Every capability has a comment saying why, right above it, in the source.
  const source = readFileSync(join(MANIFESTS_DIR, 'base/agent-daemonset.yaml'), 'utf8').split('\n');
  for (const cap of sc.capabilities?.add ?? []) {
    let line = source.findIndex((l) => l.trim() === `- ${cap}`);
    const comment: string[] = [];
    while (source[line - 1]?.trim().startsWith('#')) comment.unshift(source[--line]!.trim());
    assert.match(comment.join(' '), new RegExp(`^# ${cap}: \\w`), `why ${cap}`);
  }
  // Host mounts, all read-only: tracefs, debugfs, cgroupfs, and /proc at /host/proc.
  const hostPath = (path: string) => spec.volumes.find((v) => v.hostPath?.path === path)?.name;
  for (const [path, mountPath] of [
    ['/proc', '/host/proc'],
    ['/sys/fs/cgroup', '/host/sys/fs/cgroup'],
    ['/sys/kernel/tracing', '/sys/kernel/tracing'],
    ['/sys/kernel/debug', '/sys/kernel/debug'],
  ] as const) {
    const mount = c.volumeMounts.find((m) => m.name === hostPath(path));
    assert.equal(mount?.mountPath, mountPath, path);
    assert.equal(mount?.readOnly, true, `${path} read-only`);
  }
  const nodeName = c.env?.find((e) => e.name === 'NODE_NAME');
  assert.equal(nodeName?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
  for (const r of ['cpu', 'memory']) {
    assert.ok(c.resources.requests?.[r], `a ${r} request`);
    assert.ok(c.resources.limits?.[r], `a ${r} limit`);
  }

  // RBAC: read-only verbs on exactly the resources naming needs.
  const role = find(ms, 'ClusterRole') as Manifest & {
    rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  };
  const granted = role.rules.flatMap((r) =>
    r.resources.map((res) => `${r.apiGroups[0] || 'core'}/${res}`),
  );
  assert.deepEqual(granted.sort(), [
    'apps/deployments',
    'apps/replicasets',
    'core/namespaces',
    'core/nodes',
    'core/pods',
    'core/services',
  ]);
  for (const r of role.rules) assert.deepEqual(r.verbs, ['get', 'list', 'watch']);
  const binding = find(ms, 'ClusterRoleBinding') as Manifest & {
    subjects: { kind: string; name: string; namespace: string }[];
  };
  assert.deepEqual(binding.subjects, [
    { kind: 'ServiceAccount', name: 'tollgate-agent', namespace: 'tollgate' },
  ]);

  // The collector: not root, no API token, one writer for its SQLite file.
  const deployment = find(ms, 'Deployment', 'tollgate-collector');
  const cspec = podSpec(deployment) as PodSpec & { automountServiceAccountToken?: boolean };
  assert.equal(cspec.securityContext?.runAsNonRoot, true);
  assert.equal(cspec.automountServiceAccountToken, false);
  assert.deepEqual((deployment.spec as { strategy: unknown }).strategy, { type: 'Recreate' });
});

test('privileged differs from least-privilege only in the agent container securityContext', () => {
  const lp = render('least-privilege');
  const pv = render('privileged');
  const agentOf = (ms: Manifest[]) => podSpec(find(ms, 'DaemonSet')).containers[0]!;
  assert.equal(agentOf(pv).securityContext.privileged, true);
  const strip = (ms: Manifest[]) =>
    ms.map((m) => {
      const copy = structuredClone(m);
      if (copy.kind === 'DaemonSet')
        delete (podSpec(copy).containers[0] as Partial<Container>).securityContext;
      return copy;
    });
  assert.deepEqual(strip(pv), strip(lp));
});

for (const overlay of Object.keys(RENDERED)) {
  test(`${overlay}: the containers' arguments are accepted by the commands they run`, () => {
    const ms = render(overlay);
    for (const [kind, command] of [
      ['DaemonSet', agent],
      ['Deployment', collector],
    ] as const) {
      const args = podSpec(find(ms, kind)).containers[0]!.args;
      assert.equal(args[0], command.name);
      assert.doesNotThrow(
        () => parseCommandArgs(command, args.slice(1)),
        `${kind}: ${args.join(' ')}`,
      );
    }
  });
}

test("the collector's store, as the real command reads it from each overlay's arguments", (t) => {
  // The Secret's file written under a temporary root, where the mount would put it.
  const root = mkdtempSync(join(tmpdir(), 'tollgate-store-args-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const url = 'postgres://tollgate:s3cret@db.example:5432/tollgate';
  const storeOf = (overlay: string) => {
    const args = podSpec(find(render(overlay), 'Deployment', 'tollgate-collector'))
      .containers[0]!.args.slice(1)
      .map((a) => a.replace(/^--store-url-file=\//, `--store-url-file=${root}/`));
    const file = args.find((a) => a.startsWith('--store-url-file='))?.split('=')[1];
    if (file) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, `${url}\n`);
    }
    return storeLocation(parseCommandArgs(collector, args), '/nonexistent-default');
  };
  for (const overlay of SQLITE_OVERLAYS)
    assert.equal(storeOf(overlay), '/var/lib/tollgate/tollgate.db', overlay);
  assert.equal(storeOf('postgres'), url);
});

for (const overlay of SQLITE_OVERLAYS) {
  test(`${overlay}: one collector on a volume of its own, the SQLite file on it`, () => {
    const ms = render(overlay);
    const deployment = find(ms, 'Deployment', 'tollgate-collector');
    const claim = find(ms, 'PersistentVolumeClaim', 'tollgate-collector-data');
    assert.deepEqual((claim.spec as { accessModes: string[] }).accessModes, ['ReadWriteOnce']);
    const spec = podSpec(deployment);
    const volume = spec.volumes.find(
      (v) => v.persistentVolumeClaim?.claimName === claim.metadata.name,
    );
    assert.ok(volume, 'the Deployment mounts the claim');
    const mount = spec.containers[0]!.volumeMounts.find((m) => m.name === volume.name);
    assert.ok(
      spec.containers[0]!.args.includes(`--data-dir=${mount?.mountPath}`),
      '--data-dir is the mount',
    );
    assert.equal((deployment.spec as { replicas: number }).replicas, 1);
    assert.deepEqual((deployment.spec as { strategy: unknown }).strategy, { type: 'Recreate' });
  });
}

test('postgres: 3 collectors on a shared store, the URL from a Secret, one down at a time', () => {
  const ms = render('postgres');
  const deployment = find(ms, 'Deployment', 'tollgate-collector');
  const dspec = deployment.spec as { replicas: number; strategy: unknown; selector: Selector };
  assert.equal(dspec.replicas, 3);
  assert.deepEqual(dspec.strategy, {
    type: 'RollingUpdate',
    rollingUpdate: { maxUnavailable: 1, maxSurge: 1 },
  });
  const spec = podSpec(deployment);
  const c = spec.containers[0]!;

  // No volume and no data directory: nothing claims storage the store does not use.
  assert.equal(ms.filter((m) => m.kind === 'PersistentVolumeClaim').length, 0);
  assert.equal(spec.volumes.filter((v) => v.persistentVolumeClaim).length, 0);
  assert.equal(c.args.filter((a) => a.startsWith('--data-dir')).length, 0);

  // The file the argument names is the Secret's key `url`, mounted read-only.
  const files = c.args.filter((a) => a.startsWith('--store-url-file='));
  assert.equal(files.length, 1, c.args.join(' '));
  const file = files[0]!.slice('--store-url-file='.length);
  const mount = c.volumeMounts.find((m) => m.mountPath === dirname(file));
  assert.ok(mount, `a volume mounted at ${dirname(file)}`);
  assert.equal(mount.readOnly, true);
  const secret = spec.volumes.find((v) => v.name === mount.name)?.secret;
  assert.equal(secret?.secretName, STORE_URL_SECRET);
  const key = secret.items
    ? secret.items.find((i) => i.path === basename(file))?.key
    : basename(file);
  assert.equal(key, 'url');
  // The password is in no argument.
  for (const a of c.args) assert.doesNotMatch(a, /postgres:\/\//);

  // The budget picks exactly the collector's pods: not the agent's.
  const pdb = find(ms, 'PodDisruptionBudget', 'tollgate-collector');
  const pspec = pdb.spec as { maxUnavailable: number; selector: Selector };
  assert.equal(pspec.maxUnavailable, 1);
  assert.ok(selects(pspec.selector, podLabels(deployment)), "it selects the collector's pods");
  assert.ok(!selects(pspec.selector, podLabels(find(ms, 'DaemonSet'))), "not the agent's");
  assert.deepEqual(pspec.selector, dspec.selector, "the Deployment's own selector");
});

test('postgres differs from least-privilege only in the collector: its store, count and rollout', () => {
  const lp = render('least-privilege');
  const pg = render('postgres');
  // The agent, the RBAC and the Service as in least-privilege.
  const others = (ms: Manifest[]) =>
    ms.filter(
      (m) => !['Deployment', 'PersistentVolumeClaim', 'PodDisruptionBudget'].includes(m.kind),
    );
  assert.deepEqual(others(pg), others(lp));
  // Every security setting of the collector kept: the pod's and the container's.
  const strip = (m: Manifest) => {
    const copy = structuredClone(m) as Manifest & { spec: Record<string, unknown> };
    delete copy.spec.replicas;
    delete copy.spec.strategy;
    const spec = podSpec(copy) as PodSpec & { topologySpreadConstraints?: unknown };
    delete spec.topologySpreadConstraints;
    const c = spec.containers[0]!;
    c.args = c.args.filter((a) => !/^--(data-dir|store-url-file)=/.test(a));
    c.volumeMounts = c.volumeMounts.filter((v) => v.name !== 'data' && v.name !== 'store-url');
    spec.volumes = spec.volumes.filter((v) => v.name !== 'data' && v.name !== 'store-url');
    return copy;
  };
  const collectorOf = (ms: Manifest[]) => find(ms, 'Deployment', 'tollgate-collector');
  assert.deepEqual(strip(collectorOf(pg)), strip(collectorOf(lp)));
  // And those settings are there, not stripped from both.
  const spec = podSpec(collectorOf(pg)) as PodSpec & { automountServiceAccountToken?: boolean };
  assert.equal(spec.securityContext?.runAsNonRoot, true);
  assert.equal(spec.automountServiceAccountToken, false);
  const c = spec.containers[0]!;
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities?.drop, ['ALL']);
  for (const arg of [
    '--ingest-token-file=',
    '--read-token-file=',
    '--admin-token-file=',
    '--tls-cert=',
    '--tls-key=',
  ])
    assert.ok(
      c.args.some((a) => a.startsWith(arg)),
      arg,
    );
});

test('tollgate manifests prints the rendering, with --image applied', () => {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(repo, 'cli/tollgate.ts'),
      'manifests',
      '--image',
      'registry.local:5000/tollgate:dev',
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const printed = parseAllDocuments(r.stdout).map((d) => d.toJS()) as Manifest[];
  const expected = render('least-privilege');
  for (const m of expected)
    if (m.kind === 'DaemonSet' || m.kind === 'Deployment')
      podSpec(m).containers[0]!.image = 'registry.local:5000/tollgate:dev';
  assert.deepEqual(printed, expected);
  assert.equal(toYaml(expected).split(/^---$/m).length, expected.length, 'one document per object');
});

test('tollgate manifests --overlay postgres prints that overlay', () => {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(repo, 'cli/tollgate.ts'), 'manifests', '--overlay', 'postgres'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(
    parseAllDocuments(r.stdout).map((d) => d.toJS()),
    render('postgres'),
  );
});

test('kustomize: what this renderer does not do is refused by name', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-kustomize-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  write('a/cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n');
  write(
    'a/kustomization.yaml',
    'kind: Kustomization\nresources: [cm.yaml]\nconfigMapGenerator: []\n',
  );
  assert.throws(() => kustomize(join(dir, 'a')), /field "configMapGenerator" is not supported/);
  write(
    'b/kustomization.yaml',
    'kind: Kustomization\nresources: [../a/cm.yaml]\npatches:\n  - target: {kind: Secret}\n    patch: "[]"\n',
  );
  assert.throws(() => kustomize(join(dir, 'b')), /patch target Secret\/\* matches nothing/);
  write(
    'c/kustomization.yaml',
    'kind: Kustomization\nresources: [../a/cm.yaml]\npatches:\n  - target: {kind: ConfigMap}\n    patch: "[{op: replace, path: /data/k, value: v}]"\n',
  );
  assert.throws(() => kustomize(join(dir, 'c')), /path "\/data\/k" does not exist/);
  write('d/kustomization.yaml', 'kind: Kustomization\nresources: [.]\n');
  assert.throws(() => kustomize(join(dir, 'd')), KustomizeError);
});
