import { type Command, NotImplementedError, parseHostPort, stringOption } from '../command.js';

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
  -h, --help                this text`,
  options: {
    'grpc-listen': { type: 'string' },
    'http-listen': { type: 'string' },
    'data-dir': { type: 'string' },
    'token-file': { type: 'string' },
  },
  async run(args) {
    parseHostPort(stringOption(args, 'grpc-listen') ?? '127.0.0.1:7471', '--grpc-listen');
    parseHostPort(stringOption(args, 'http-listen') ?? '127.0.0.1:7470', '--http-listen');
    throw new NotImplementedError(6);
  },
};
