// The manifests as a cluster would run them, without the cluster: the Secrets
// `tollgate manifests --secrets` makes are written out as the kubelet mounts them, the
// collector and the agent run with the containers' own arguments (paths and addresses
// moved to this host), and Debian's Prometheus scrapes the collector with the shipped
// scrape job. Checked: the agent reaches the collector over TLS, verifying the
// certificate against the CA by the Service's name; each pod holds only its Secrets;
// Prometheus scrapes with the read token and is refused without it. The postgres overlay
// mounts those Secrets too, and one more that --secrets does not make: the store's URL.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import * as core from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { MANIFESTS_DIR, STORE_URL_SECRET } from '../../cli/commands/manifests.js';
import { kustomize, type Manifest } from '../../daemonset/kustomize.js';
import { freePort } from '../../lab/free-port.js';
import { shippedScrapeJob, startPrometheus, until } from '../prometheus-server.js';

const repo = new URL('../..', import.meta.url).pathname;
const SERVICE_NAME = 'tollgate-collector.tollgate.svc';

type Secret = Manifest & { type: string; stringData: Record<string, string> };
type Volume = { name: string; secret?: { secretName: string } };
type Container = { args: string[]; volumeMounts: { name: string; mountPath: string }[] };
type PodSpec = { containers: Container[]; volumes: Volume[] };
const podSpec = (m: Manifest) => (m.spec as { template: { spec: PodSpec } }).template.spec;

function makeSecrets(): Secret[] {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(repo, 'cli/tollgate.ts'), 'manifests', '--secrets'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return parseAllDocuments(r.stdout).map((d) => d.toJSON() as Secret);
}

/** The Secret volumes a pod mounts, written where its container reads them, under `root`. */
function mountSecrets(root: string, spec: PodSpec, secrets: Secret[]): string[] {
  const mounted: string[] = [];
  for (const mount of spec.containers[0]!.volumeMounts) {
    const name = spec.volumes.find((v) => v.name === mount.name)?.secret?.secretName;
    if (name === undefined) continue;
    const secret = secrets.find((s) => s.metadata.name === name);
    assert.ok(secret, `the manifests mount Secret ${name}, which --secrets makes`);
    mkdirSync(join(root, mount.mountPath), { recursive: true });
    for (const [key, value] of Object.entries(secret.stringData))
      writeFileSync(join(root, mount.mountPath, key), value, { mode: 0o600 });
    mounted.push(name);
  }
  return mounted.sort();
}

function start(t: TestContext, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(repo, 'cli/tollgate.ts'), ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (c) => {
    out += c;
  });
  child.stderr?.on('data', (c) => {
    out += c;
  });
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  });
  return { child, output: () => out };
}

test('the Secrets --secrets makes: distinct tokens, a certificate for the Service signed by its CA', () => {
  const secrets = makeSecrets();
  for (const s of secrets) new core.Secret(s as never).validate();
  const token = (name: string) => secrets.find((s) => s.metadata.name === name)!.stringData.token!;
  const tokens = ['tollgate-ingest-token', 'tollgate-read-token', 'tollgate-admin-token'].map(
    token,
  );
  assert.equal(new Set(tokens).size, 3);
  for (const t of tokens) assert.match(t, /^[0-9a-f]{64}$/);
  const tls = secrets.find((s) => s.metadata.name === 'tollgate-collector-tls')!;
  assert.equal(tls.type, 'kubernetes.io/tls');
  const cert = new X509Certificate(tls.stringData['tls.crt']!);
  const ca = new X509Certificate(
    secrets.find((s) => s.metadata.name === 'tollgate-collector-ca')!.stringData['ca.crt']!,
  );
  assert.ok(cert.verify(ca.publicKey), 'signed by the CA');
  assert.ok(ca.ca && !cert.ca);
  assert.equal(cert.checkHost(SERVICE_NAME), SERVICE_NAME);
  assert.equal(cert.checkHost('example.com'), undefined);
  assert.ok(cert.checkPrivateKey(createPrivateKey(tls.stringData['tls.key']!)));
  // The CA's key is not among them: nothing more can be signed that agents would trust.
  assert.deepEqual(
    Object.keys(secrets.find((s) => s.metadata.name === 'tollgate-collector-ca')!.stringData),
    ['ca.crt'],
  );
});

test("postgres: --secrets makes every Secret its pods mount but the store's URL, the operator's", () => {
  const made = new Set(makeSecrets().map((s) => s.metadata.name));
  const rendered = kustomize(join(MANIFESTS_DIR, 'overlays', 'postgres'));
  const mounted = (kind: string) =>
    podSpec(rendered.find((m) => m.kind === kind)!)
      .volumes.flatMap((v) => (v.secret ? [v.secret.secretName] : []))
      .sort();
  // The same Secrets as least-privilege's pods mount (the test below), and the URL.
  assert.deepEqual(mounted('Deployment'), [
    'tollgate-admin-token',
    'tollgate-collector-tls',
    'tollgate-ingest-token',
    'tollgate-read-token',
    STORE_URL_SECRET,
  ]);
  assert.deepEqual(mounted('DaemonSet'), ['tollgate-collector-ca', 'tollgate-ingest-token']);
  assert.deepEqual(
    [...mounted('Deployment'), ...mounted('DaemonSet')].filter((name) => !made.has(name)),
    [STORE_URL_SECRET],
  );
});

test('deployed as the manifests say: TLS to the collector, a token per power, Prometheus scrapes with the read token', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'tollgate-deploy-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const secrets = makeSecrets();
  const rendered = kustomize(join(MANIFESTS_DIR, 'overlays', 'least-privilege'));
  const collectorSpec = podSpec(rendered.find((m) => m.kind === 'Deployment')!);
  const agentSpec = podSpec(rendered.find((m) => m.kind === 'DaemonSet')!);

  // Each pod holds only what its power needs.
  assert.deepEqual(mountSecrets(join(root, 'collector'), collectorSpec, secrets), [
    'tollgate-admin-token',
    'tollgate-collector-tls',
    'tollgate-ingest-token',
    'tollgate-read-token',
  ]);
  assert.deepEqual(mountSecrets(join(root, 'agent'), agentSpec, secrets), [
    'tollgate-collector-ca',
    'tollgate-ingest-token',
  ]);

  // The containers' arguments, with paths under the mounts' root and local addresses.
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const collectorArgs = collectorSpec.containers[0]!.args.map((a) =>
    a
      .replace(/^--grpc-listen=.*/, `--grpc-listen=127.0.0.1:${grpcPort}`)
      .replace(/^--http-listen=.*/, `--http-listen=127.0.0.1:${httpPort}`)
      .replace(/^--data-dir=.*/, `--data-dir=${join(root, 'data')}`)
      .replace(/=\/etc\/tollgate\//, `=${join(root, 'collector')}/etc/tollgate/`),
  );
  const collector = start(t, collectorArgs);
  const base = `http://127.0.0.1:${httpPort}`;
  await until('the collector', async () =>
    (await fetch(`${base}/healthz`)).ok ? true : undefined,
  );

  const agentArgs = agentSpec.containers[0]!.args.filter(
    (a) => !/^--(proc-root|cgroup-root)=/.test(a),
  ).map((a) =>
    a
      .replace(/^--collector=.*/, `--collector=127.0.0.1:${grpcPort}`)
      .replace(/^--http-listen=.*/, '--http-listen=0')
      .replace(/=\/etc\/tollgate\//, `=${join(root, 'agent')}/etc/tollgate/`),
  );
  // Dialled by address here, so the name the certificate is checked for is said apart.
  start(t, [...agentArgs, `--tls-server-name=${SERVICE_NAME}`]);

  const read = secrets.find((s) => s.metadata.name === 'tollgate-read-token')!.stringData.token!;
  const metrics = async (token: string) =>
    fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  await until(
    `the agent over TLS (collector said: ${collector.output()})`,
    async () =>
      /tollgate_collector_agents_connected 1\b/.test(await (await metrics(read)).text())
        ? true
        : undefined,
    60_000,
  );
  const ingest = secrets.find((s) => s.metadata.name === 'tollgate-ingest-token')!.stringData
    .token!;
  assert.equal((await metrics(ingest)).status, 401, "the agents' token does not read");

  // Prometheus with the shipped job; the pod discovery replaced by the collector's address
  // (there is no cluster), and a second job without the token.
  const target = `127.0.0.1:${httpPort}`;
  const prometheus = await startPrometheus(t, ({ file }) => [
    shippedScrapeJob(target, file('prometheus-read-token', read)),
    { job_name: 'without-token', static_configs: [{ targets: [target] }] },
  ]);
  const targets = await until('both jobs scraped', async () => {
    const all = await prometheus.targets();
    return all.length === 2 && all.every((x) => x.health !== 'unknown') ? all : undefined;
  });
  const of = (name: string) => targets.find((x) => x.labels.job === name)!;
  assert.equal(of('tollgate-collector').health, 'up', of('tollgate-collector').lastError);
  assert.equal(of('without-token').health, 'down');
  assert.match(of('without-token').lastError, /401/);
  const value = await until('a sample of the collector', async () => {
    const r = await prometheus.query(
      'tollgate_collector_agents_connected{job="tollgate-collector"}',
    );
    return r.data?.result[0]?.value?.[1];
  });
  assert.equal(value, '1', 'Prometheus has the connected agent, as the collector counts it');
});
