// The shape of a `tollgate` subcommand and the argument parsing they share. The CLI owns
// no logic: each command validates its arguments and hands them to the part that acts.
import { type ParseArgsConfig, parseArgs } from 'node:util';

export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
} as const;

/** A mistake in how the command was called: printed with the command's usage, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export interface Command {
  name: string;
  /** Full help text, printed by `tollgate NAME --help`. */
  usage: string;
  options: OptionSpec;
  run(args: Parsed): Promise<number>;
}

export function parseCommandArgs(command: Command, argv: string[]): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Parsed['values'], positionals };
  } catch (error) {
    // node:util reports unknown options and missing values with a readable message.
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

export function stringOption(args: Parsed, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A positive number from an option, or the default; a UsageError when malformed. */
export function numberOption(args: Parsed, name: string, fallback: number): number {
  const raw = stringOption(args, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new UsageError(`--${name} must be a positive number, got '${raw}'`);
  }
  return value;
}

/** A port to listen on: 1-65535, or 0 for any free port (the server says which). */
export function portOption(args: Parsed, name: string, fallback: number): number {
  const raw = stringOption(args, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535)
    throw new UsageError(`--${name} must be a port in 0-65535, got '${raw}'`);
  return value;
}

/**
 * host:port, [ipv6]:port or :port, checked for a valid port. A listening address may say
 * port 0 (any free port; the server then says which it got).
 */
export function parseHostPort(
  text: string,
  what: string,
  listening = false,
): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port < (listening ? 0 : 1) || port > 65535) {
    throw new UsageError(`${what} must be HOST:PORT with a port in 1-65535, got '${text}'`);
  }
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

export function requireOneOf<T extends string>(
  value: string,
  allowed: readonly T[],
  what: string,
): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${what} must be one of ${allowed.join(', ')}, got '${value}'`);
}

export function expectPositionals(args: Parsed, count: number, names: string): void {
  if (args.positionals.length !== count) {
    throw new UsageError(`expected ${names}, got ${args.positionals.length} argument(s)`);
  }
}
