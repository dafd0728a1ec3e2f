// The lab mesh's TLS identity: one self-signed certificate and its key, which every
// sidecar presents and trusts, as a mesh's sidecars present certificates from one CA.
// Made with Debian's openssl for each lab, in the lab's own folder (mode 0700).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MeshIdentity {
  /** Certificate and key in one PEM, as haproxy's `crt` takes them. */
  identity: string;
  /** The certificate alone: what every sidecar trusts. */
  ca: string;
}

export function createMeshIdentity(dir: string): MeshIdentity {
  const key = join(dir, 'mesh.key');
  const ca = join(dir, 'mesh.crt');
  const identity = join(dir, 'mesh.pem');
  // EC P-256 (the curve mesh CAs use), valid a day: the lab is gone long before.
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      ca,
      '-days',
      '1',
      '-subj',
      '/CN=tollgate-lab-mesh',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  writeFileSync(identity, readFileSync(ca, 'utf8') + readFileSync(key, 'utf8'), { mode: 0o600 });
  return { identity, ca };
}
