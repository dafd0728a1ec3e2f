// The fallback record source: bpftrace running probes/bpftrace/tollgate.bt, for when the
// compiled runner cannot load. Same records, coarser (see the script's header).
import { spawn } from 'node:child_process';
import { release } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BpftraceTranslator } from './bpftrace-records.js';
import { ChildRecordSource } from './child-source.js';
import { ProbeError } from './probe-source.js';
import type { HelloRecord } from './records.js';

export const BPFTRACE_SCRIPT = fileURLToPath(
  new URL(
    import.meta.url.includes('/dist/')
      ? '../../probes/bpftrace/tollgate.bt'
      : './bpftrace/tollgate.bt',
    import.meta.url,
  ),
);

const HOOKS = ['state', 'send', 'recv', 'retransmit'] as const;

export class BpftraceSource extends ChildRecordSource {
  static async start(bpftrace = 'bpftrace'): Promise<BpftraceSource> {
    const child = spawn(bpftrace, ['-f', 'json', BPFTRACE_SCRIPT], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const hello: HelloRecord = {
      type: 'hello',
      formatVersion: 2,
      kernel: release(),
      intervalMs: 1000,
      maps: { sockets: 0, edges: 0, histograms: 0, tuples: 0, handoffs: 0 },
      runTimeStats: false,
      clientsPerListener: null, // the script keys every client apart
      http2Requests: false, // the script reads no frames
      programs: HOOKS.map((hook) => ({ hook, attach: 'bpftrace' as const })),
    };
    const source = new BpftraceSource(child, hello);
    const translator = new BpftraceTranslator();
    return new Promise((resolve, reject) => {
      let attached = false;
      child.stderr!.on('data', (d: Buffer) => {
        source.stderr = (source.stderr + d.toString()).slice(-4096);
      });
      const lines = createInterface({ input: child.stdout! });
      lines.on('close', () => source.queue.push(translator.flush()));
      lines.on('line', (line) => {
        if (!attached && line.includes('"attached_probes"')) {
          attached = true;
          resolve(source);
          return;
        }
        try {
          source.queue.push(translator.push(line));
        } catch (error) {
          source.queue.fail(error as Error);
          child.kill('SIGTERM');
        }
      });
      child.once('error', (e) => reject(new ProbeError(`cannot run ${bpftrace}: ${e.message}`)));
      // 'close': after the last line of stdout has been read.
      child.once('close', (code, signal) => {
        if (!attached)
          reject(new ProbeError(`bpftrace exited (${signal ?? code}): ${source.stderr.trim()}`));
        source.queue.finish();
      });
    });
  }

  /** SIGINT: bpftrace prints nothing more we need and detaches its probes. */
  async stop(): Promise<void> {
    this.queue.drainFreely();
    if (!this.queue.finished) this.child.kill('SIGINT');
    await this.exited;
  }
}
