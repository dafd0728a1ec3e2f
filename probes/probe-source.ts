// The node agent's view of the kernel: spawns tollgate-runner and yields its records.
// Backpressure is real: when the consumer falls behind, the pipe fills, the runner blocks
// on its write, the kernel maps fill and what does not fit is counted as lost.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ChildRecordSource } from './child-source.js';
import { type HelloRecord, type ProbeRecord, RecordDecoder } from './records.js';

/** A program `make -C probes` builds, from the sources or from dist/. */
export function builtProbe(name: string): string {
  return fileURLToPath(
    new URL(
      import.meta.url.includes('/dist/') ? `../../probes/build/${name}` : `./build/${name}`,
      import.meta.url,
    ),
  );
}

export const DEFAULT_RUNNER = builtProbe('tollgate-runner');

/**
 * The kernel maps whose size the runner takes, each in entries; its defaults: sockets
 * 65,536 (socket states), edges 16,384 per interval half (hop aggregates and listeners'
 * census a quarter of it), histograms 65,536 and tuples 8,192 per half, handoffs 4,096
 * pending at once.
 */
export const MAP_NAMES = ['sockets', 'edges', 'histograms', 'tuples', 'handoffs'] as const;
export type MapName = (typeof MAP_NAMES)[number];
export type MapSizes = Partial<Record<MapName, number>>;

export interface ProbeSourceOptions extends MapSizes {
  intervalMs?: number;
  runnerPath?: string;
  /** Connection tuples sampled per edge per interval (default 4). */
  tupleSamples?: number;
  /**
   * Clients of one listener that keep an edge of their own per interval (default 128);
   * the others are summed under the listener's edge, remote address unspecified.
   */
  clientsPerListener?: number;
  /**
   * Count the requests of HTTP/2 connections from their frames (default true). False spares
   * the kernel time it takes (some 280 ns a gRPC call), and an HTTP/2 connection's requests
   * are its direction changes, a batch of streams one request.
   */
  http2Requests?: boolean;
  /** Force an attach mode per hook, e.g. { send: 'fexit' }. */
  attach?: Record<string, 'tp_btf' | 'fentry' | 'fexit'>;
  /** Kernel symbols to treat as absent: shows the fallback choice on any kernel. */
  pretendMissing?: string[];
}

/** Which sockets the kernel side traces (the wire contract's KernelFilter). */
export type KernelFilterSpec =
  | { all: true }
  | { all?: false; netnsInodes?: readonly number[]; cgroupIds?: readonly number[] };

export class ProbeError extends Error {
  override name = 'ProbeError';
}

export class ProbeSource extends ChildRecordSource {
  static async start(options: ProbeSourceOptions = {}): Promise<ProbeSource> {
    const runner = options.runnerPath ?? DEFAULT_RUNNER;
    if (!existsSync(runner))
      throw new ProbeError(`${runner} is missing: run \`npm run setup\` to build the probes`);
    const args = [`--interval-ms=${options.intervalMs ?? 1000}`];
    for (const name of MAP_NAMES) {
      if (options[name] !== undefined) args.push(`--${name}=${options[name]}`);
    }
    if (options.tupleSamples !== undefined) args.push(`--tuple-samples=${options.tupleSamples}`);
    if (options.clientsPerListener !== undefined)
      args.push(`--clients-per-listener=${options.clientsPerListener}`);
    if (options.http2Requests === false) args.push('--no-http2-requests');
    for (const [hook, mode] of Object.entries(options.attach ?? {}))
      args.push(`--attach=${hook}=${mode}`);
    for (const symbol of options.pretendMissing ?? []) args.push(`--pretend-missing=${symbol}`);
    const child = spawn(runner, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    // The runner reads commands from stdin; an EPIPE there means it exited, which
    // 'exit' reports.
    child.stdin!.on('error', () => {});
    const decoder = new RecordDecoder();
    let source: ProbeSource | undefined;
    // Its last 4 KiB: enough for any error, bounded over a long run.
    let stderr = '';
    const early: ProbeRecord[] = [];

    return new Promise((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4096);
        if (source) source.stderr = stderr;
      });
      child.stdout!.on('data', (chunk: Buffer) => {
        let records: ProbeRecord[];
        try {
          records = decoder.push(chunk);
        } catch (error) {
          child.kill('SIGTERM');
          if (source) source.queue.fail(error as Error);
          else reject(error);
          return;
        }
        if (!source) {
          const hello = records.find((r): r is HelloRecord => r.type === 'hello');
          if (!hello) {
            early.push(...records);
            return;
          }
          source = new ProbeSource(child, hello);
          records = [...early, ...records].filter((r) => r !== hello);
          resolve(source);
        }
        source.queue.push(records);
      });
      child.once('error', (error) =>
        reject(new ProbeError(`cannot run ${runner}: ${error.message}`)),
      );
      child.once('exit', (code, signal) => {
        if (!source) {
          reject(
            new ProbeError(
              `tollgate-runner exited (${signal ?? code}) before loading: ${stderr.trim()}`,
            ),
          );
        } else {
          if (code !== 0)
            source.queue.fail(
              new ProbeError(`tollgate-runner exited (${signal ?? code}): ${stderr.trim()}`),
            );
          source.queue.finish();
        }
      });
    });
  }

  /**
   * Replaces the kernel filter; the runner applies it as it reads the command. The first
   * interval record whose filterGeneration is `generation` ends the interval in which it
   * took effect, so every later interval is entirely under it. Sockets already traced
   * are decided again at their next event.
   */
  setFilter(generation: number, filter: KernelFilterSpec): void {
    if (!Number.isInteger(generation) || generation < 0 || generation > 0xffffffff)
      throw new RangeError(`filter generation ${generation} is not a u32`);
    if (filter.all) {
      this.command(`filter ${generation} all`);
      return;
    }
    const list = (name: string, values: readonly number[] | undefined) => {
      for (const v of values ?? []) {
        if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`bad ${name} ${v}`);
      }
      return values?.length ? ` ${name}=${values.join(',')}` : '';
    };
    this.command(
      `filter ${generation}${list('netns', filter.netnsInodes)}${list('cgroup', filter.cgroupIds)}`,
    );
  }

  /** Pair this process's reads and writes into proxy hop delays (a sidecar). */
  addProxy(pid: number): void {
    this.command(`proxy add ${checkedPid(pid)}`);
  }

  removeProxy(pid: number): void {
    this.command(`proxy del ${checkedPid(pid)}`);
  }

  /**
   * Starts or stops the kernel's count of every BPF program's run time (the programs
   * records' run_time_ns and run_cnt move only while it is on).
   */
  setRunTimeStats(on: boolean): void {
    this.command(`stats ${on ? 'on' : 'off'}`);
  }

  /** SIGTERM: the runner drains once more, detaches its programs and exits 0. */
  async stop(): Promise<void> {
    // Its final drain must not block on a pipe we paused: what it writes now is bounded
    // by its map sizes, so it may queue past the high-water mark.
    this.queue.drainFreely();
    if (!this.queue.finished) this.child.kill('SIGTERM');
    const code = await this.exited;
    if (code !== 0 && code !== null)
      throw new ProbeError(`tollgate-runner exited ${code}: ${this.stderr.trim()}`);
  }

  private command(line: string): void {
    if (this.queue.finished) throw new ProbeError('tollgate-runner has exited');
    this.child.stdin!.write(`${line}\n`);
  }
}

function checkedPid(pid: number): number {
  if (!Number.isInteger(pid) || pid <= 0 || pid >= 0x400000) throw new RangeError(`bad pid ${pid}`);
  return pid;
}
