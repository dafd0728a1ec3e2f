import { Agent } from '../../daemonset/agent.js';
import { type Command, numberOption, parseHostPort, stringOption, UsageError } from '../command.js';
import { untilSignal } from '../signals.js';
import { readToken } from './collector.js';

export const agent: Command = {
  name: 'agent',
  summary: 'run the node agent: kernel probes -> pod-level reports -> collector (gRPC)',
  usage: `Usage: tollgate agent --collector HOST:PORT [options]

Loads the kernel probes, enriches their records with process, container and pod
identity, and streams them to the collector. Needs root (or CAP_BPF and friends).

Options:
  --collector HOST:PORT   the collector's gRPC address (required)
  --token-file FILE       bearer token for the collector
  --interval S            probe drain interval in seconds (default 1)
  --node NAME             this node's name (default: $NODE_NAME, else the hostname)
  -h, --help              this text`,
  options: {
    collector: { type: 'string' },
    'token-file': { type: 'string' },
    interval: { type: 'string' },
    node: { type: 'string' },
  },
  async run(args) {
    const collector = stringOption(args, 'collector');
    if (collector === undefined) throw new UsageError('--collector HOST:PORT is required');
    const { host, port } = parseHostPort(collector, '--collector');
    const interval = numberOption(args, 'interval', 1);
    const running = await Agent.start({
      collector: `${host.includes(':') ? `[${host}]` : host}:${port}`,
      token: readToken(stringOption(args, 'token-file')),
      intervalMs: interval * 1000,
      node: stringOption(args, 'node') ?? process.env.NODE_NAME,
    });
    console.log(`tollgate agent: node ${running.node}, shipping to ${host}:${port}`);
    if (running.fallbackReason)
      console.log(
        `tollgate agent: kernel probes on the bpftrace fallback: ${running.fallbackReason}`,
      );
    await untilSignal();
    await running.stop();
    return 0;
  },
};
