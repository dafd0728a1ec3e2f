// The Secrets the manifests mount, made fresh on the operator's machine: one random token
// per power (ingest for agents, read for the viewer and Prometheus, admin for sessions),
// and the collector's TLS identity. The certificate is signed by a CA made for it alone,
// whose key is thrown away once it has signed: agents trust that CA and nothing else,
// and nobody can issue another certificate they would trust. Made with openssl, as
// kubectl's own docs do; nothing is written to disk outside a private temporary folder.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '../daemonset/kustomize.js';

export const SECRET_NAMES = {
  ingest: 'tollgate-ingest-token',
  read: 'tollgate-read-token',
  admin: 'tollgate-admin-token',
  tls: 'tollgate-collector-tls',
  ca: 'tollgate-collector-ca',
} as const;

/** The names agents and users reach the collector by, inside the cluster. */
export function collectorDnsNames(namespace: string, clusterDomain = 'cluster.local'): string[] {
  const service = 'tollgate-collector';
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.${clusterDomain}`,
  ];
}

const openssl = (dir: string, args: string[]) =>
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });

const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA (key discarded) and a server certificate for `names`, valid `days`. */
export function collectorCertificate(
  names: string[],
  days: number,
): { cert: string; key: string; ca: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-secrets-'));
  try {
    openssl(dir, [
      'req',
      '-x509',
      ...P256,
      ...['-keyout', 'ca.key', '-out', 'ca.crt', '-days', String(days)],
      ...['-subj', '/CN=tollgate collector CA'],
      ...['-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0'],
      ...['-addext', 'keyUsage=critical,keyCertSign'],
    ]);
    openssl(dir, [
      'req',
      ...P256,
      ...['-keyout', 'tls.key', '-out', 'tls.csr', '-subj', `/CN=${names[0]}`],
    ]);
    writeFileSync(
      join(dir, 'tls.ext'),
      `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
    );
    openssl(dir, [
      ...['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key'],
      ...['-set_serial', `0x${randomBytes(16).toString('hex')}`],
      ...['-out', 'tls.crt', '-days', String(days), '-extfile', 'tls.ext'],
    ]);
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    return { cert: read('tls.crt'), key: read('tls.key'), ca: read('ca.crt') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const secret = (
  name: string,
  namespace: string,
  stringData: Record<string, string>,
  type = 'Opaque',
): Manifest => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace, labels: { 'app.kubernetes.io/part-of': 'tollgate' } },
  type,
  stringData,
});

/** The five Secrets, fresh: three tokens, the collector's certificate, its CA. */
export function manifestSecrets(namespace: string, days = 397): Manifest[] {
  const token = () => randomBytes(32).toString('hex');
  const tls = collectorCertificate(collectorDnsNames(namespace), days);
  return [
    secret(SECRET_NAMES.ingest, namespace, { token: token() }),
    secret(SECRET_NAMES.read, namespace, { token: token() }),
    secret(SECRET_NAMES.admin, namespace, { token: token() }),
    secret(
      SECRET_NAMES.tls,
      namespace,
      { 'tls.crt': tls.cert, 'tls.key': tls.key },
      'kubernetes.io/tls',
    ),
    secret(SECRET_NAMES.ca, namespace, { 'ca.crt': tls.ca }),
  ];
}
