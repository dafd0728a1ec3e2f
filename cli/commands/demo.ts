import { type AnyDemoSummary, DEMO_MODES, runDemo } from '../../lab/demo.js';
import { renderCompare } from '../../lab/demo-compare-summary.js';
import { renderText } from '../../lab/demo-summary.js';
import {
  type Command,
  ExitCode,
  numberOption,
  portOption,
  requireOneOf,
  stringOption,
  UsageError,
} from '../command.js';
import { STOP_SIGNALS, toleratingClosedTerminal } from '../signals.js';

const render = (s: AnyDemoSummary) => (s.mode === 'compare' ? renderCompare(s) : renderText(s));

export const demo: Command = {
  name: 'demo',
  usage: `Usage: tollgate demo [options]

Builds a small mesh of network-namespace pods (frontend -> catalog x2 -> ratings) and the
same chain without a mesh; loads both at the same rate, taking turns of about 1.5 s
(an A/B, interleaved); prints what the mesh adds end to end (with the mean's margin) and
what its proxies cost in CPU and memory per 1,000 requests.
Tears everything down at exit. Needs root.

Modes:
  sidecar   (the default) a haproxy sidecar in each meshed pod, capturing its traffic;
            per pod, the latency its sidecar adds and its CPU and memory.
  ambient   no sidecars: the meshed pods are enrolled in an ambient mesh, served by one
            node proxy (haproxy in a pod of its own, as Istio's ztunnel) with its
            listeners inside each pod's network namespace and mutual TLS between pods on
            15008. Per pod, the mode Tollgate detects, the node proxy's added latency
            through the pod and the pod's share of its CPU and memory; the node proxy's
            own CPU and memory once, from /proc.
  compare   the same chain three ways in one lab, plain, with sidecars and ambient, all
            three loaded at the same rate, taking turns, printed side by side: what
            each mesh adds end to end over plain (p50, mean; the load generator's own
            timings), Tollgate's added latency summed along the path, and the mesh's CPU
            per 1,000 requests and memory (the sidecars summed against the node proxy,
            from /proc). Both meshes speak mutual TLS between pods here: the sidecars
            too, unlike in sidecar mode. Runs once: --duration seconds of load into
            each chain (default 15), about a minute in all with building and tearing
            down the lab.

In a terminal, without --duration or --json, sidecar and ambient modes keep the lab, the
load and the viewer running and print the summary after every round (15 s of load into
each chain, about 38 s), until Ctrl-C. Otherwise, and always in compare mode, the demo
loads each chain once for --duration seconds, prints the summary and exits.

Options:
  --mode M          sidecar, ambient or compare (default sidecar)
  --duration S      load each chain once for S seconds, then exit (default 15, at most 600)
  --rate N          requests per second into each chain (default 100, at most 2000)
  --port N          web viewer and API port while the demo runs (default 7470)
  --json            print the summary as JSON, for scripts
  -h, --help        this text`,
  options: {
    mode: { type: 'string' },
    duration: { type: 'string' },
    rate: { type: 'string' },
    json: { type: 'boolean' },
    port: { type: 'string' },
  },
  async run(args) {
    const mode = requireOneOf(stringOption(args, 'mode') ?? 'sidecar', DEMO_MODES, '--mode');
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
    const once =
      mode === 'compare' ||
      args.values.duration !== undefined ||
      args.values.json ||
      !process.stdout.isTTY;
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
        mode,
        durationS,
        rate,
        port,
        log,
        signal: stop.signal,
        ...(once
          ? {}
          : {
              onSummary: (summary) => {
                console.log(render(summary));
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
    console.log(args.values.json ? JSON.stringify(last, null, 2) : render(last));
    return ExitCode.ok;
  },
};
