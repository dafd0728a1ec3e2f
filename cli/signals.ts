// Long-running commands run until SIGINT, SIGTERM or SIGHUP, then shut down in order.
// SIGHUP is the terminal closing under a command started in it: by default it would kill
// the process at once, leaving what it set up (a lab's namespaces and iptables rules, an
// embedded agent's probes' spool) for the next start to find.

/** The signals that stop a long-running command in order. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * After SIGHUP the terminal is gone, and a write to it fails (EIO); without a listener
 * that failure would crash the shutdown it reports on. Lines written after it are lost.
 */
export function toleratingClosedTerminal(signal: NodeJS.Signals): void {
  if (signal !== 'SIGHUP') return;
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
}

export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const done = (signal: NodeJS.Signals) => {
      for (const s of STOP_SIGNALS) process.off(s, done);
      toleratingClosedTerminal(signal);
      resolve(signal);
    };
    for (const s of STOP_SIGNALS) process.on(s, done);
  });
}
