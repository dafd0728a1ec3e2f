import { join } from 'node:path';
import { Collector, DEFAULT_DATA_DIR } from '../../collector/collector.js';
import { type Command, parseHostPort, stringOption, UsageError } from '../command.js';
import { readTlsFiles, readToken } from '../credentials.js';
import { untilSignal } from '../signals.js';

export const collector: Command = {
  name: 'collector',
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
  --allowed-hosts L         comma-separated host names the HTTP side answers to besides
                            IP addresses and localhost (a Service or ingress name; '*'
                            for any); requests made by other sites' pages are refused
  -h, --help                this text`,
  options: {
    'grpc-listen': { type: 'string' },
    'http-listen': { type: 'string' },
    'data-dir': { type: 'string' },
    'token-file': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-client-ca': { type: 'string' },
    'allowed-hosts': { type: 'string' },
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
      allowedHosts: stringOption(args, 'allowed-hosts')
        ?.split(',')
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean),
    });
    console.log(`tollgate collector: gRPC ingest on ${grpc.host}:${running.ingest.port}`);
    console.log(`tollgate collector: API and web viewer on ${running.httpUrl}`);
    await untilSignal();
    await running.stop();
    return 0;
  },
};

function readTls(args: Parameters<Command['run']>[0]) {
  if (
    stringOption(args, 'tls-client-ca') !== undefined &&
    stringOption(args, 'tls-cert') === undefined
  )
    throw new UsageError('--tls-client-ca needs --tls-cert and --tls-key');
  const files = readTlsFiles(args, 'tls-client-ca');
  return files?.cert && files.key ? { cert: files.cert, key: files.key, ca: files.ca } : undefined;
}
