import {
  type Command,
  NotImplementedError,
  numberOption,
  parseHostPort,
  stringOption,
  UsageError,
} from '../command.js';

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
  --metrics-port N        health and Prometheus /metrics port (default 7472)
  -h, --help              this text`,
  options: {
    collector: { type: 'string' },
    'token-file': { type: 'string' },
    interval: { type: 'string' },
    'metrics-port': { type: 'string' },
  },
  async run(args) {
    const collector = stringOption(args, 'collector');
    if (collector === undefined) throw new UsageError('--collector HOST:PORT is required');
    parseHostPort(collector, '--collector');
    numberOption(args, 'interval', 1);
    numberOption(args, 'metrics-port', 7472);
    throw new NotImplementedError(5);
  },
};
