import { runDemo } from '../../lab/demo.js';
import { renderText } from '../../lab/demo-summary.js';
import { type Command, ExitCode, numberOption, portOption, UsageError } from '../command.js';

export const demo: Command = {
  name: 'demo',
  usage: `Usage: tollgate demo [options]

Builds a small mesh of network-namespace pods (frontend -> catalog x2 -> ratings) with
haproxy sidecars, and the same chain without sidecars; loads both at the same rate at
the same time; prints what the mesh adds end to end and what each sidecar costs in CPU
and memory per 1,000 requests. Tears everything down at exit. Needs root.

Options:
  --duration S      how long to load, in seconds (default 15, at most 600)
  --rate N          requests per second into each chain (default 100, at most 2000)
  --port N          web viewer and API port while the demo runs (default 7470)
  --json            print the summary as JSON, for scripts
  -h, --help        this text`,
  options: {
    duration: { type: 'string' },
    rate: { type: 'string' },
    json: { type: 'boolean' },
    port: { type: 'string' },
  },
  async run(args) {
    const durationS = numberOption(args, 'duration', 15);
    const rate = numberOption(args, 'rate', 100);
    if (durationS > 600) throw new UsageError('--duration is at most 600 seconds');
    if (rate > 2000) throw new UsageError('--rate is at most 2000 requests per second');
    if (process.getuid?.() !== 0) {
      console.error('tollgate demo: needs root (it creates network namespaces and iptables rules)');
      return ExitCode.failure;
    }
    const summary = await runDemo({
      durationS,
      rate,
      port: portOption(args, 'port', 7470),
      log: (line) => console.error(`demo: ${line}`),
    });
    console.log(args.values.json ? JSON.stringify(summary, null, 2) : renderText(summary));
    return ExitCode.ok;
  },
};
