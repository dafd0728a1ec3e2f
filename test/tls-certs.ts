// Certificates made for one test run with openssl: a CA, a server certificate for
// 127.0.0.1 and localhost, and a client certificate (for mTLS), all signed by the CA;
// plus a second CA that signed nothing of ours, to be refused.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCerts {
  dir: string;
  ca: Buffer;
  serverCert: Buffer;
  serverKey: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
  /** A CA and a client certificate of its own: not trusted by the server. */
  strangerCert: Buffer;
  strangerKey: Buffer;
  files: {
    ca: string;
    serverCert: string;
    serverKey: string;
    clientCert: string;
    clientKey: string;
  };
  remove(): void;
}

const openssl = (dir: string, args: string[]) =>
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });

/** `openssl req` with a new P-256 key in NAME.key; `out` is NAME.crt (-x509) or NAME.csr. */
function newKeyRequest(dir: string, name: string, extra: string[]) {
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', ...key, '-keyout', `${name}.key`, '-subj', `/CN=${name}`, ...extra]);
}

function selfSignedCa(dir: string, name: string) {
  newKeyRequest(dir, name, [
    '-x509',
    ...['-out', `${name}.crt`, '-days', '2'],
    ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'],
  ]);
}

function signed(dir: string, name: string, ca: string, extensions: string) {
  newKeyRequest(dir, name, ['-out', `${name}.csr`]);
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, [
    ...['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`],
    ...['-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`],
  ]);
}

export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-certs-'));
  selfSignedCa(dir, 'ca');
  signed(
    dir,
    'server',
    'ca',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  signed(dir, 'client', 'ca', 'extendedKeyUsage=clientAuth\n');
  selfSignedCa(dir, 'stranger');
  const read = (f: string) => readFileSync(join(dir, f));
  return {
    dir,
    ca: read('ca.crt'),
    serverCert: read('server.crt'),
    serverKey: read('server.key'),
    clientCert: read('client.crt'),
    clientKey: read('client.key'),
    strangerCert: read('stranger.crt'),
    strangerKey: read('stranger.key'),
    files: {
      ca: join(dir, 'ca.crt'),
      serverCert: join(dir, 'server.crt'),
      serverKey: join(dir, 'server.key'),
      clientCert: join(dir, 'client.crt'),
      clientKey: join(dir, 'client.key'),
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
