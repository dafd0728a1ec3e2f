// The collector and the agent as the benchmarks run them: separate processes started
// through the CLI, as in a cluster, so their CPU and memory are their own and nothing of
// the benchmark's harness is counted. Each is stopped by its pid (SIGTERM, then SIGKILL).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentStatus } from '../daemonset/agent.js';
import {
  type ProcessResources,
  readPeakRss,
  readProcessResources,
} from '../daemonset/proc-resources.js';
import { nodeEntry, waitForLine } from '../lab/spawn.js';
import { agentNodeOptions } from './placement.js';

export interface TollgateProcess {
  readonly pid: number;
  resources(): ProcessResources | undefined;
  /** The most memory it has had resident so far (VmHWM), or undefined once it has exited. */
  peakRss(): number | undefined;
  /** Sends a signal (chaos: SIGKILL, SIGSTOP, SIGCONT); see `exited`. */
  signal(signal: NodeJS.Signals): void;
  /** Resolves once the process has exited. */
  readonly exited: Promise<void>;
  /** SIGTERM, and SIGKILL if it has not exited within graceMs; resolves once it has. */
  stop(graceMs?: number): Promise<void>;
}

export interface CollectorProcess extends TollgateProcess {
  /** host:port of the gRPC ingest. */
  readonly grpcTarget: string;
  readonly httpUrl: string;
}

export interface AgentProcess extends TollgateProcess {
  status(): Promise<AgentStatus>;
  /** What it has printed since it was ready (the last 16 KiB), e.g. its summary at exit. */
  output(): string;
}

function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  nodeArgs: readonly string[] = [],
): ChildProcess {
  return spawn(
    process.execPath,
    [...nodeArgs, ...nodeEntry(import.meta.url, '../cli/tollgate'), ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env,
    },
  );
}

function handle(child: ChildProcess, cleanup: () => void = () => {}): TollgateProcess {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    pid: child.pid!,
    resources: () => readProcessResources(child.pid!),
    peakRss: () => readPeakRss(child.pid!),
    signal: (signal) => child.kill(signal),
    exited,
    async stop(graceMs = 10_000) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      cleanup();
    },
  };
}

export interface CollectorProcessOptions {
  /** Where its store lives, kept when it stops (restarts reopen it); else a fresh directory, removed. */
  dataDir?: string;
  /** A file holding a postgres:// URL: the store is there instead (replicas share it), and no dataDir is made. */
  storeUrlFile?: string;
  /** host:port for its gRPC ingest (a restart listens where the agents ship); default a free port. */
  grpcListen?: string;
  /** Node's own options, before the entry point: e.g. --cpu-prof for a profile of it. */
  nodeArgs?: readonly string[];
}

/** A collector on loopback with its store in `dataDir`, or a fresh directory removed when it stops. */
export async function startCollectorProcess(
  options: CollectorProcessOptions = {},
): Promise<CollectorProcess> {
  const dir = options.storeUrlFile
    ? undefined
    : (options.dataDir ?? mkdtempSync(join(tmpdir(), 'tollgate-bench-collector-')));
  const child = startCli(
    [
      'collector',
      ...(dir ? ['--data-dir', dir] : ['--store-url-file', options.storeUrlFile!]),
      '--grpc-listen',
      options.grpcListen ?? '127.0.0.1:0',
      '--http-listen',
      '127.0.0.1:0',
    ],
    process.env,
    options.nodeArgs,
  );
  const running = handle(child, () => {
    if (dir && !options.dataDir) rmSync(dir, { recursive: true, force: true });
  });
  // Both lines can come in one chunk: keep everything printed until the last one.
  let printed = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    if (printed.length < 4096) printed += chunk;
  });
  try {
    await waitForLine(child, /API and web viewer on/, 'collector', 30_000);
    const address = (pattern: RegExp) => {
      const match = pattern.exec(printed);
      if (!match) throw new Error(`the collector did not print ${pattern}`);
      return match[1]!;
    };
    return {
      ...running,
      grpcTarget: address(/gRPC ingest on (\S+)$/m),
      httpUrl: address(/API and web viewer on (\S+)$/m),
    };
  } catch (error) {
    await running.stop(1000);
    throw error;
  }
}

/**
 * An agent shipping to `collector`, with its status on a loopback port. Resolves once
 * its probes are loaded and its first batch has been acknowledged.
 */
export async function startAgentProcess(
  collector: string,
  intervalS = 1,
  extraArgs: readonly string[] = [],
): Promise<AgentProcess> {
  // With the Node options its DaemonSet gives it (bench/placement.ts).
  const nodeOptions = agentNodeOptions();
  const env = nodeOptions ? { ...process.env, NODE_OPTIONS: nodeOptions } : process.env;
  const child = startCli(
    [
      'agent',
      '--collector',
      collector,
      '--interval',
      String(intervalS),
      '--http-listen',
      '127.0.0.1:0',
      ...extraArgs,
    ],
    env,
  );
  const running = handle(child);
  try {
    const line = await waitForLine(child, /health and metrics on/, 'agent', 60_000);
    let printed = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      printed = (printed + chunk).slice(-16_384);
    });
    const url = /on (\S+)$/.exec(line)![1]!;
    const status = async (): Promise<AgentStatus> => {
      // Without `?programs=1`, which would have the kernel count every program's run time
      // for the next minute: a bench that wants the programs' cost turns the accounting on
      // for its phase and reads the kernel's counts itself (bench/bpf-stats.ts).
      const response = await fetch(new URL('/status', url));
      if (!response.ok) throw new Error(`agent status: HTTP ${response.status}`);
      return (await response.json()) as AgentStatus;
    };
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { shipper } = await status();
      if (shipper.stored + shipper.duplicates >= 1) break;
      if (Date.now() > deadline) throw new Error('the agent shipped nothing within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    return { ...running, status, output: () => printed };
  } catch (error) {
    await running.stop(1000);
    throw error;
  }
}
