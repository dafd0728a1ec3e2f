import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_DATA_DIR } from '../../collector/collector.js';
import { newLocalCredentials, startEmbedded, viewerLink } from '../../embedded/embedded.js';
import { type Command, numberOption, portOption, stringOption } from '../command.js';
import { untilSignal } from '../signals.js';

export const up: Command = {
  name: 'up',
  usage: `Usage: tollgate up [options]

Runs everything on this host: the kernel probes and agent, the collector with an
embedded SQLite store, the HTTP API and the web viewer. Binds to loopback.

It makes a fresh token at every start and prints the viewer's address with it: open
that link once and the browser keeps the token in a cookie for this collector. The same
token is written to DATA-DIR/up-token (readable by you alone) for \`tollgate session
--token-file\`. Agents ship with a second token of their own.

Options:
  --port N          HTTP port of the API and web viewer (default 7470)
  --grpc-port N     gRPC ingest port (default 7471)
  --data-dir DIR    where the SQLite store lives (default ~/.tollgate)
  --interval S      probe drain interval in seconds (default 1)
  --no-token        no token at all: any local process (and user) may read and start
                    sessions (other sites' pages are still refused)
  -h, --help        this text`,
  options: {
    port: { type: 'string' },
    'grpc-port': { type: 'string' },
    'data-dir': { type: 'string' },
    interval: { type: 'string' },
    'no-token': { type: 'boolean' },
  },
  async run(args) {
    const port = portOption(args, 'port', 7470);
    const grpcPort = portOption(args, 'grpc-port', 7471);
    const interval = numberOption(args, 'interval', 1);
    const dataDir = stringOption(args, 'data-dir') ?? DEFAULT_DATA_DIR;
    const credentials = args.values['no-token'] === true ? {} : newLocalCredentials();
    const running = await startEmbedded({
      dataDir,
      httpPort: port,
      grpcPort,
      intervalMs: interval * 1000,
      credentials,
    });
    if (credentials.admin !== undefined) {
      const tokenFile = join(dataDir, 'up-token');
      writeFileSync(tokenFile, `${credentials.admin}\n`, { mode: 0o600 });
      chmodSync(tokenFile, 0o600);
      console.log(
        `tollgate up: web viewer on ${viewerLink(running.collector.httpUrl, credentials)}`,
      );
      console.log(`tollgate up: API token (read and admin) in ${tokenFile}`);
    } else {
      console.log(`tollgate up: web viewer and API on ${running.collector.httpUrl} (no token)`);
    }
    console.log(`tollgate up: gRPC ingest on ${running.collector.grpcAddress}`);
    if (running.agent.fallbackReason)
      console.log(
        `tollgate up: kernel probes on the bpftrace fallback: ${running.agent.fallbackReason}`,
      );
    await untilSignal();
    await running.stop();
    return 0;
  },
};
