// The Kubernetes manifests: rendered from the kustomize tree, every object valid against
// the Kubernetes schemas (kubernetes-models), the agent's least-privilege settings as
// the issue lists them, the privileged overlay differing only where it must, the
// containers' arguments accepted by the real commands, and `tollgate manifests` printing
// exactly that.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as apps from 'kubernetes-models/apps/v1';
import * as rbac from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as core from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { parseCommandArgs } from '../../cli/command.js';
import { agent } from '../../cli/commands/agent.js';
import { collector } from '../../cli/commands/collector.js';
import { MANIFESTS_DIR } from '../../cli/commands/manifests.js';
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
type PodSpec = {
  hostPID?: boolean;
  tolerations?: { operator?: string }[];
  containers: Container[];
  volumes: { name: string; hostPath?: { path: string } }[];
  securityContext?: Record<string, unknown>;
};
const find = (ms: Manifest[], kind: string, name?: string) => {
  const m = ms.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(m, `${kind} ${name ?? ''} is rendered`);
  return m;
};
const podSpec = (m: Manifest) => (m.spec as { template: { spec: PodSpec } }).template.spec;

for (const overlay of ['least-privilege', 'privileged']) {
  test(`${overlay}: every object is valid against the Kubernetes schemas`, () => {
    const ms = render(overlay);
    assert.deepEqual(
      ms.map((m) => `${m.kind}/${m.metadata.name}`),
      [
        'Namespace/tollgate',
        'ServiceAccount/tollgate-agent',
        'ServiceAccount/tollgate-collector',
        'ClusterRole/tollgate-agent',
        'ClusterRoleBinding/tollgate-agent',
        'Service/tollgate-collector',
        'PersistentVolumeClaim/tollgate-collector-data',
        'Deployment/tollgate-collector',
        'DaemonSet/tollgate-agent',
      ],
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

test("the containers' arguments are accepted by the commands they run", () => {
  const ms = render('least-privilege');
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

test('kustomize: what this renderer does not do is refused by name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-kustomize-'));
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
