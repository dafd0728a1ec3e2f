import { type Command, NotImplementedError, numberOption } from '../command.js';

export const up: Command = {
  name: 'up',
  summary: 'run collector, local agent and web viewer in one process (embedded mode)',
  usage: `Usage: tollgate up [options]

Runs everything on this host: the kernel probes and agent, the collector with an
embedded SQLite store, the HTTP API and the web viewer. Binds to loopback.

Options:
  --port N          HTTP port of the API and web viewer (default 7470)
  --grpc-port N     gRPC ingest port (default 7471)
  --data-dir DIR    where the SQLite store lives (default ~/.tollgate)
  --interval S      probe drain interval in seconds (default 1)
  -h, --help        this text`,
  options: {
    port: { type: 'string' },
    'grpc-port': { type: 'string' },
    'data-dir': { type: 'string' },
    interval: { type: 'string' },
  },
  async run(args) {
    numberOption(args, 'port', 7470);
    numberOption(args, 'grpc-port', 7471);
    numberOption(args, 'interval', 1);
    throw new NotImplementedError(6);
  },
};
