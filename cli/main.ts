// The `tollgate` command line: finds the subcommand, prints help, maps errors to exit
// codes. Everything it runs lives in the parts (probes, daemonset, collector, lab, bench).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, ExitCode, parseCommandArgs, UsageError } from './command.js';
import { packageRoot } from './package-root.js';

/**
 * Every subcommand, loaded only when it runs: the agent on every node should not carry
 * the collector's, the lab's or the benchmarks' modules (about 80 MB of resident memory).
 */
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

export const commands: readonly CommandEntry[] = [
  {
    name: 'up',
    summary: 'run collector, local agent and web viewer in one process (embedded mode)',
    load: async () => (await import('./commands/up.js')).up,
  },
  {
    name: 'demo',
    summary: "build a lab mesh with sidecars, profile it, print each sidecar's cost",
    load: async () => (await import('./commands/demo.js')).demo,
  },
  {
    name: 'agent',
    summary: 'run the node agent: kernel probes -> pod-level reports -> collector (gRPC)',
    load: async () => (await import('./commands/agent.js')).agent,
  },
  {
    name: 'collector',
    summary: 'run the collector: gRPC ingest, store, HTTP API and web viewer (cluster mode)',
    load: async () => (await import('./commands/collector.js')).collector,
  },
  {
    name: 'session',
    summary: 'record, export, import and compare profiling sessions',
    load: async () => (await import('./commands/session.js')).session,
  },
  {
    name: 'bench',
    summary: "measure Tollgate's own cost and accuracy; one JSON object per benchmark",
    load: async () => (await import('./commands/bench.js')).bench,
  },
  {
    name: 'manifests',
    summary: 'print the Kubernetes manifests (agent DaemonSet, collector, RBAC)',
    load: async () => (await import('./commands/manifests.js')).manifests,
  },
];

/** The package version, found from source (cli/) and from the build (dist/cli/) alike. */
function version(): string {
  const root = packageRoot(import.meta.url);
  if (!root) return 'unknown';
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `Usage: tollgate COMMAND [options]

Tollgate measures what each service-mesh sidecar costs: the latency it adds per
direction, its CPU and memory per 1,000 requests, and the connections around it.

Commands:
${lines.join('\n')}

Run 'tollgate COMMAND --help' for a command's options.
Also usable as a kubectl plugin: kubectl tollgate COMMAND.

Exit codes: 0 success, 1 failure, 2 usage error.`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp());
    return name === undefined ? ExitCode.usage : ExitCode.ok;
  }
  if (name === '--version' || name === '-V') {
    console.log(version());
    return ExitCode.ok;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    console.error(`tollgate: unknown command '${name}'\n\n${mainHelp()}`);
    return ExitCode.usage;
  }
  const command = await entry.load();
  try {
    const args = parseCommandArgs(command, rest);
    if (args.values.help) {
      console.log(command.usage);
      return ExitCode.ok;
    }
    return await command.run(args);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`tollgate ${command.name}: ${error.message}\n\n${command.usage}`);
      return ExitCode.usage;
    }
    console.error(
      `tollgate ${command.name}: ${error instanceof Error ? error.message : String(error)}`,
    );
    return ExitCode.failure;
  }
}
