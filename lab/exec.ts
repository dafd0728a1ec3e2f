// Running the system tools the lab is built from (ip, iptables, haproxy), with errors that
// say which command failed and what it printed.
import { execFileSync } from 'node:child_process';

export class CommandError extends Error {
  override name = 'CommandError';
}

export function run(command: string, args: readonly string[], input?: string): string {
  try {
    return execFileSync(command, args, {
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    const detail = (e.stderr ?? '').trim() || e.message;
    throw new CommandError(`${command} ${args.join(' ')}: ${detail}`);
  }
}

/** Runs a command inside a network namespace. */
export function runIn(netns: string, command: string, args: readonly string[]): string {
  return run('ip', ['netns', 'exec', netns, command, ...args]);
}

/** Like run, for cleanup: failures are returned rather than thrown, so cleanup goes on. */
export function tryRun(command: string, args: readonly string[]): string | undefined {
  try {
    run(command, args);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
