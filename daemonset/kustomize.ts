// Renders a kustomization the way `kubectl kustomize` does, for the subset Tollgate's own
// manifests use, so `tollgate manifests` works without kubectl: resources (files and
// directories), patches (inline JSON 6902, by kind and name), then the namespace, labels
// and images transformers. Anything else is refused by name, so the manifests cannot
// drift into a feature this renderer would silently ignore. Pure apart from reading files.
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';

export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
};

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  labels?: { pairs: Record<string, string>; includeSelectors?: boolean }[];
  resources?: string[];
  images?: { name: string; newName?: string; newTag?: string }[];
  patches?: { target: { kind: string; name?: string }; patch: string }[];
}

const FIELDS = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'labels',
  'resources',
  'images',
  'patches',
]);

// Kinds without a namespace (the ones Tollgate uses, and their common neighbours).
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'CustomResourceDefinition',
]);

// kustomize's output order: what others depend on first.
const ORDER = [
  'Namespace',
  'ServiceAccount',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
  'ConfigMap',
  'Secret',
  'Service',
  'PersistentVolumeClaim',
  'Deployment',
  'PodDisruptionBudget',
  'DaemonSet',
];

export class KustomizeError extends Error {
  override name = 'KustomizeError';
}

/** The manifests a kustomization directory renders to, in apply order. */
export function kustomize(dir: string, images: Kustomization['images'] = []): Manifest[] {
  const out = build(resolve(dir), new Set());
  applyImages(out, images);
  return out
    .map((m, i) => ({ m, i }))
    .sort((a, b) => rank(a.m.kind) - rank(b.m.kind) || a.i - b.i)
    .map(({ m }) => m);
}

/** Multi-document YAML, as `kubectl apply -f -` takes it. */
export function toYaml(manifests: readonly Manifest[]): string {
  return manifests.map((m) => stringify(m, { lineWidth: 0 })).join('---\n');
}

/** An image reference as `images:` takes it: name[:tag]. */
export function imageOverride(
  name: string,
  ref: string,
): { name: string; newName: string; newTag?: string } {
  const at = ref.lastIndexOf(':');
  return at > ref.lastIndexOf('/') && at > 0
    ? { name, newName: ref.slice(0, at), newTag: ref.slice(at + 1) }
    : { name, newName: ref };
}

function rank(kind: string): number {
  const i = ORDER.indexOf(kind);
  return i < 0 ? ORDER.length : i;
}

function build(dir: string, visiting: Set<string>): Manifest[] {
  if (visiting.has(dir)) throw new KustomizeError(`${dir} includes itself`);
  visiting.add(dir);
  const file = join(dir, 'kustomization.yaml');
  const [k] = readYaml(file) as Kustomization[];
  if (k?.kind !== 'Kustomization') throw new KustomizeError(`${file} is not a Kustomization`);
  for (const field of Object.keys(k))
    if (!FIELDS.has(field))
      throw new KustomizeError(`${file}: field "${field}" is not supported here`);

  const manifests: Manifest[] = [];
  for (const resource of k.resources ?? []) {
    const path = resolve(dir, resource);
    if (statSync(path).isDirectory()) manifests.push(...build(path, visiting));
    else manifests.push(...(readYaml(path) as Manifest[]));
  }
  for (const m of manifests)
    if (!m?.kind || !m.metadata?.name)
      throw new KustomizeError(`a resource under ${dir} has no kind or name`);
  for (const p of k.patches ?? []) applyPatch(manifests, p, file);
  if (k.namespace)
    for (const m of manifests) if (!CLUSTER_SCOPED.has(m.kind)) m.metadata.namespace = k.namespace;
  for (const l of k.labels ?? []) {
    if (l.includeSelectors)
      throw new KustomizeError(`${file}: labels.includeSelectors is not supported here`);
    for (const m of manifests) m.metadata.labels = { ...m.metadata.labels, ...l.pairs };
  }
  applyImages(manifests, k.images ?? []);
  visiting.delete(dir);
  return manifests;
}

function readYaml(path: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  const out: unknown[] = [];
  for (const doc of docs) {
    if (doc.errors.length) throw new KustomizeError(`${path}: ${doc.errors[0]!.message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

type Op = { op: 'add' | 'replace' | 'remove'; path: string; value?: unknown };

function applyPatch(
  manifests: Manifest[],
  p: { target: { kind: string; name?: string }; patch: string },
  file: string,
) {
  const ops = parseAllDocuments(p.patch)[0]?.toJS() as Op[] | undefined;
  if (!Array.isArray(ops))
    throw new KustomizeError(`${file}: a patch must be a JSON 6902 list of operations`);
  const targets = manifests.filter(
    (m) =>
      m.kind === p.target.kind &&
      (p.target.name === undefined || m.metadata.name === p.target.name),
  );
  if (targets.length === 0)
    throw new KustomizeError(
      `${file}: the patch target ${p.target.kind}/${p.target.name ?? '*'} matches nothing`,
    );
  for (const m of targets) for (const op of ops) applyOp(m, op, file);
}

/** One JSON Patch (RFC 6902) operation, in place. */
function applyOp(doc: Record<string, unknown>, op: Op, file: string): void {
  const keys = op.path
    .split('/')
    .slice(1)
    .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = keys.pop();
  if (last === undefined) throw new KustomizeError(`${file}: patch path "${op.path}" is empty`);
  let parent: unknown = doc;
  for (const key of keys) {
    parent = (parent as Record<string, unknown>)?.[key];
    if (typeof parent !== 'object' || parent === null)
      throw new KustomizeError(`${file}: patch path "${op.path}" does not exist`);
  }
  const list = Array.isArray(parent) ? (parent as unknown[]) : undefined;
  const object = parent as Record<string, unknown>;
  const index = last === '-' ? (list?.length ?? 0) : Number(last);
  if (op.op === 'remove' || op.op === 'replace') {
    if (!(last in object))
      throw new KustomizeError(`${file}: patch path "${op.path}" does not exist`);
    if (op.op === 'replace') object[last] = op.value;
    else if (list) list.splice(index, 1);
    else delete object[last];
  } else if (op.op === 'add') {
    if (list) list.splice(index, 0, op.value);
    else object[last] = op.value;
  } else {
    throw new KustomizeError(
      `${file}: patch operation "${(op as { op: string }).op}" is not supported here`,
    );
  }
}

function applyImages(manifests: Manifest[], images: NonNullable<Kustomization['images']>): void {
  if (images.length === 0) return;
  for (const m of manifests) {
    const spec = (m.spec as { template?: { spec?: PodSpec } } | undefined)?.template?.spec;
    for (const c of [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])]) {
      const name = c.image.replace(/[@:][^/]*$/, '');
      const rule = images.find((i) => i.name === name);
      if (!rule) continue;
      const tag = rule.newTag ?? (c.image.slice(name.length).replace(/^:/, '') || undefined);
      c.image = `${rule.newName ?? name}${tag ? `:${tag}` : ''}`;
    }
  }
}

interface PodSpec {
  containers?: { image: string }[];
  initContainers?: { image: string }[];
}
