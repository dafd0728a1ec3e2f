import { runDemo } from '../../lab/demo.js';
import { renderText } from '../../lab/demo-summary.js';
import { type Command, ExitCode, numberOption, portOption, UsageError } from '../command.js';
import { STOP_SIGNALS, toleratingClosedTerminal } from '../signals.js';

export const demo: Command = {
  name: 'demo',
  usage: `Usage: tollgate demo [options]

Builds a small mesh of network-namespace pods (frontend -> catalog x2 -> ratings) with
haproxy sidecars, and the same chain without sidecars; loads both at the same rate at
the same time; prints what the mesh adds end to end and what each sidecar costs in CPU
and memory per 1,000 requests. Tears everything down at exit. Needs root.

In a terminal, without --duration or --json, it keeps the lab, the load and the viewer
running and prints the summary every 15 s, until Ctrl-C. Otherwise it loads once for
--duration seconds, prints the summary and exits.

Options:
  --duration S      load once for S seconds, then exit (default 15, at most 600)
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
    const log = (line: string) => console.error(`demo: ${line}`);
    const port = portOption(args, 'port', 7470);
    const once = args.values.duration !== undefined || args.values.json || !process.stdout.isTTY;
    // Ctrl-C (or SIGTERM, or the terminal closing) stops the run; the demo then stops
    // Tollgate and the lab in order. A second one while it does is ignored: the
    // teardown is short, and a lab half torn down is worse than a wait.
    const stop = new AbortController();
    const onInterrupt = (signal: NodeJS.Signals) => {
      toleratingClosedTerminal(signal);
      if (stop.signal.aborted) return;
      log('stopping: tearing the lab down');
      stop.abort();
    };
    for (const s of STOP_SIGNALS) process.on(s, onInterrupt);
    let last: Awaited<ReturnType<typeof runDemo>>;
    try {
      last = await runDemo({
        durationS,
        rate,
        port,
        log,
        signal: stop.signal,
        ...(once
          ? {}
          : {
              onSummary: (summary) => {
                console.log(renderText(summary));
                console.log(
                  `(the last ${durationS} s; the next summary in ${durationS} s; Ctrl-C to stop)\n`,
                );
              },
            }),
      });
    } finally {
      for (const s of STOP_SIGNALS) process.off(s, onInterrupt);
    }
    if (!once) return ExitCode.ok; // Ctrl-C is how it ends
    // Interrupted before its one round ended: nothing to print, as a shell expects.
    if (!last) return 130;
    console.log(args.values.json ? JSON.stringify(last, null, 2) : renderText(last));
    return ExitCode.ok;
  },
};
