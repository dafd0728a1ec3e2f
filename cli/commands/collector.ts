import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Collector, DEFAULT_DATA_DIR } from '../../collector/collector.js';
import { type Command, parseHostPort, stringOption, UsageError } from '../command.js';
import { untilSignal } from '../signals.js';

export const collector: Command = {
  name: 'collector',
  summary: 'run the collector: gRPC ingest, store, HTTP API and web viewer (cluster mode)',
  usage: `Usage: tollgate collector [options]

Accepts agents' batches over gRPC, joins both ends of every connection, computes each
sidecar's cost, stores it in SQLite and serves the API and the web viewer.

Options:
  --grpc-listen HOST:PORT   gRPC ingest address (default 127.0.0.1:7471)
  --http-listen HOST:PORT   HTTP API and web address (default 127.0.0.1:7470)
  --data-dir DIR            where the SQLite store lives (default ~/.tollgate)
  --token-file FILE         bearer token agents and API clients must present
  --tls-cert FILE           serve gRPC over TLS with this certificate ...
  --tls-key FILE            ... and this key
  --tls-client-ca FILE      require agents' certificates signed by this CA (mTLS)
  -h, --help                this text`,
  options: {
    'grpc-listen': { type: 'string' },
    'http-listen': { type: 'string' },
    'data-dir': { type: 'string' },
    'token-file': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-client-ca': { type: 'string' },
  },
  async run(args) {
    const grpc = parseHostPort(
      stringOption(args, 'grpc-listen') ?? '127.0.0.1:7471',
      '--grpc-listen',
      true,
    );
    const http = parseHostPort(
      stringOption(args, 'http-listen') ?? '127.0.0.1:7470',
      '--http-listen',
      true,
    );
    const running = await Collector.start({
      database: join(stringOption(args, 'data-dir') ?? DEFAULT_DATA_DIR, 'tollgate.db'),
      grpc,
      http,
      token: readToken(stringOption(args, 'token-file')),
      tls: readTls(args),
    });
    console.log(`tollgate collector: gRPC ingest on ${grpc.host}:${running.ingest.port}`);
    console.log(`tollgate collector: API and web viewer on ${running.httpUrl}`);
    await untilSignal();
    await running.stop();
    return 0;
  },
};

/** A bearer token from a file (trailing newline ignored); an empty file is an error. */
export function readToken(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const token = readFileSync(path, 'utf8').trim();
  if (!token) throw new UsageError(`--token-file ${path} is empty`);
  return token;
}

/** --tls-cert and --tls-key (both or neither) and a CA option, read from their files. */
export function readTlsFiles(args: Parameters<Command['run']>[0], caOption: string) {
  const [cert, key, ca] = ['tls-cert', 'tls-key', caOption].map((name) => stringOption(args, name));
  if ((cert === undefined) !== (key === undefined))
    throw new UsageError('--tls-cert and --tls-key go together');
  if (cert === undefined && ca === undefined) return undefined;
  const read = (path: string | undefined) => (path === undefined ? undefined : readFileSync(path));
  return { cert: read(cert), key: read(key), ca: read(ca) };
}

function readTls(args: Parameters<Command['run']>[0]) {
  if (
    stringOption(args, 'tls-client-ca') !== undefined &&
    stringOption(args, 'tls-cert') === undefined
  )
    throw new UsageError('--tls-client-ca needs --tls-cert and --tls-key');
  const files = readTlsFiles(args, 'tls-client-ca');
  return files?.cert && files.key ? { cert: files.cert, key: files.key, ca: files.ca } : undefined;
}
