import { join } from 'node:path';
import { Collector, DEFAULT_DATA_DIR } from '../../collector/collector.js';
import { Agent } from '../../daemonset/agent.js';
import { type Command, numberOption, portOption, stringOption } from '../command.js';
import { untilSignal } from '../signals.js';

export const up: Command = {
  name: 'up',
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
    const port = portOption(args, 'port', 7470);
    const grpcPort = portOption(args, 'grpc-port', 7471);
    const interval = numberOption(args, 'interval', 1);
    const running = await startEmbedded({
      dataDir: stringOption(args, 'data-dir') ?? DEFAULT_DATA_DIR,
      httpPort: port,
      grpcPort,
      intervalMs: interval * 1000,
    });
    console.log(`tollgate up: web viewer and API on ${running.collector.httpUrl}`);
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

export interface Embedded {
  collector: Collector;
  agent: Agent;
  stop(): Promise<void>;
}

/** Collector, then the local agent shipping to it: what `tollgate up` and the demo run. */
export async function startEmbedded(options: {
  dataDir?: string;
  database?: string;
  httpPort: number;
  grpcPort: number;
  intervalMs: number;
}): Promise<Embedded> {
  const collector = await Collector.start({
    database: options.database ?? join(options.dataDir ?? DEFAULT_DATA_DIR, 'tollgate.db'),
    grpc: { host: '127.0.0.1', port: options.grpcPort },
    http: { host: '127.0.0.1', port: options.httpPort },
  });
  let agent: Agent;
  try {
    agent = await Agent.start({ collector: collector.grpcAddress, intervalMs: options.intervalMs });
  } catch (error) {
    await collector.stop();
    throw error;
  }
  return {
    collector,
    agent,
    async stop() {
      await agent.stop();
      await collector.stop();
    },
  };
}
