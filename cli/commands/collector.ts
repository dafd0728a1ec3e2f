import { isIP } from 'node:net';
import type { Credentials } from '../../collector/auth.js';
import { Collector, DEFAULT_DATA_DIR } from '../../collector/collector.js';
import {
  DEFAULT_LOAD_BUDGET_RPS,
  DEFAULT_LOAD_TARGETS,
  type LoadPolicy,
  LoadPolicyError,
  LoadTargets,
} from '../../collector/sessions/load-policy.js';
import { type Command, parseHostPort, stringOption, UsageError } from '../command.js';
import { readTlsFiles, readToken } from '../credentials.js';
import { untilSignal } from '../signals.js';
import { storeLocation } from '../store-location.js';

export const collector: Command = {
  name: 'collector',
  usage: `Usage: tollgate collector [options]

Accepts agents' batches over gRPC, joins both ends of every connection, computes each
sidecar's cost, stores it in SQLite (or PostgreSQL, shared by several collectors) and
serves the API and the web viewer.

Options:
  --grpc-listen HOST:PORT   gRPC ingest address (default 127.0.0.1:7471)
  --http-listen HOST:PORT   HTTP API and web address (default 127.0.0.1:7470)
  --data-dir DIR            where the SQLite store lives (default ~/.tollgate)
  --store URL               a PostgreSQL store instead: postgres://USER@HOST:PORT/DB,
                            shared by every collector given it (no password here:
                            anyone on the machine can read a command line)
  --store-password-file F   the PostgreSQL password, from a file
  --store-url-file FILE     the whole postgres:// URL, password included, from a file
  --ingest-token-file FILE  the token agents present to ship batches
  --read-token-file FILE    the token the viewer and Prometheus read with
  --admin-token-file FILE   the token that starts, stops, deletes and imports sessions
                            (and so orders load); it reads too
  --tls-cert FILE           serve gRPC over TLS with this certificate ...
  --tls-key FILE            ... and this key
  --tls-client-ca FILE      require agents' certificates signed by this CA (mTLS)
  --allowed-hosts L         comma-separated host names the HTTP side answers to besides
                            IP addresses and localhost (a Service or ingress name; '*'
                            for any); requests made by other sites' pages are refused
  --load-targets L          comma-separated targets sessions may load: addresses, CIDR
                            ranges, host names, *.domain (default:
                            ${DEFAULT_LOAD_TARGETS.join(',')})
  --load-budget RPS         requests/s of all sessions' loads together (default ${DEFAULT_LOAD_BUDGET_RPS})
  --allow-unauthenticated   listen beyond loopback without the tokens (not advised)
  -h, --help                this text`,
  options: {
    'grpc-listen': { type: 'string' },
    'http-listen': { type: 'string' },
    'data-dir': { type: 'string' },
    store: { type: 'string' },
    'store-password-file': { type: 'string' },
    'store-url-file': { type: 'string' },
    'ingest-token-file': { type: 'string' },
    'read-token-file': { type: 'string' },
    'admin-token-file': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-client-ca': { type: 'string' },
    'allowed-hosts': { type: 'string' },
    'load-targets': { type: 'string' },
    'load-budget': { type: 'string' },
    'allow-unauthenticated': { type: 'boolean' },
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
    const credentials = readCredentials(args);
    if (args.values['allow-unauthenticated'] !== true) {
      if (!isLoopback(grpc.host) && credentials.ingest === undefined)
        throw new UsageError(
          `--grpc-listen ${grpc.host} is reachable from other hosts: give --ingest-token-file (or --allow-unauthenticated)`,
        );
      if (
        !isLoopback(http.host) &&
        credentials.read === undefined &&
        credentials.admin === undefined
      )
        throw new UsageError(
          `--http-listen ${http.host} is reachable from other hosts: give --read-token-file and --admin-token-file (or --allow-unauthenticated)`,
        );
    }
    const running = await Collector.start({
      database: storeLocation(args, DEFAULT_DATA_DIR),
      grpc,
      http,
      credentials,
      tls: readTls(args),
      allowedHosts: list(stringOption(args, 'allowed-hosts')),
      loadPolicy: readLoadPolicy(args),
    });
    console.log(`tollgate collector: gRPC ingest on ${grpc.host}:${running.ingest.port}`);
    console.log(`tollgate collector: API and web viewer on ${running.httpUrl}`);
    await untilSignal();
    await running.stop();
    return 0;
  },
};

const list = (text: string | undefined) =>
  text
    ?.split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

function readCredentials(args: Parameters<Command['run']>[0]): Credentials {
  const token = (power: keyof Credentials) =>
    readToken(stringOption(args, `${power}-token-file`), `--${power}-token-file`);
  const credentials: Credentials = {
    ingest: token('ingest'),
    read: token('read'),
    admin: token('admin'),
  };
  const given = Object.values(credentials).filter((t) => t !== undefined);
  if (new Set(given).size !== given.length)
    throw new UsageError('each token file must hold its own token: one credential per power');
  return credentials;
}

function readLoadPolicy(args: Parameters<Command['run']>[0]): LoadPolicy {
  const targets = list(stringOption(args, 'load-targets'));
  try {
    if (targets) new LoadTargets(targets);
  } catch (error) {
    if (error instanceof LoadPolicyError) throw new UsageError(`--load-targets: ${error.message}`);
    throw error;
  }
  const budgetText = stringOption(args, 'load-budget');
  const budgetRps = budgetText === undefined ? undefined : Number(budgetText);
  if (budgetRps !== undefined && !(Number.isFinite(budgetRps) && budgetRps >= 0))
    throw new UsageError(`--load-budget must be a number of requests/s, got '${budgetText}'`);
  return { targets, budgetRps };
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
