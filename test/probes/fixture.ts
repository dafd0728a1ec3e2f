// What the kernel-probe tests share: a client pod and a server pod on the lab bridge, a
// runner draining every 200 ms, both removed when the test ends; and the records a
// stopped runner produced, summed per process and side.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { Lab, type PodSpec } from '../../lab/lab.js';
import { waitForLine } from '../../lab/spawn.js';
import { ProbeSource, type ProbeSourceOptions } from '../../probes/probe-source.js';
import {
  EDGE_COUNTERS,
  type EdgeCounter,
  type EdgeRecord,
  type HistRecord,
  type IntervalRecord,
  type Metric,
  type ProbeRecord,
  type TupleRecord,
} from '../../probes/records.js';
import type { RecordSource } from '../../probes/start-source.js';
import { bucketValue, emptyHistogram, merge, type SparseHistogram } from '../../proto/histogram.js';
import type { LossCause } from '../../proto/loss-metrics.js';

export async function clientServerWithProbes(
  t: TestContext,
  options: ProbeSourceOptions = {},
  extraPods: PodSpec[] = [],
): Promise<{ lab: Lab; probes: ProbeSource }> {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: false, app: false },
    { name: 'server', service: 'server', meshed: false, app: false },
    ...extraPods,
  ]);
  t.after(() => lab.destroy());
  const probes = await ProbeSource.start({ intervalMs: 200, ...options });
  t.after(() => probes.stop());
  return { lab, probes };
}

/**
 * Probes loaded, and in the server pod a server and a proxy before it (node -e sources, or
 * for the server a python3 -c one, each printing `ready` once it listens), the proxy
 * listed as one; both pinned to `cpu` when it is given.
 */
export async function serverBehindProxy(
  t: TestContext,
  serverSource: string | { python: string },
  proxyName: string,
  proxySource: string,
  cpu?: number,
) {
  const { lab, probes } = await clientServerWithProbes(t);
  const server =
    typeof serverSource === 'string'
      ? lab.exec('server', 'echo', ...onCpu(cpu, process.execPath, ['-e', serverSource]))
      : lab.exec('server', 'echo', ...onCpu(cpu, 'python3', ['-c', serverSource.python]));
  await waitForLine(server, /^ready$/, 'echo');
  const proxy = lab.exec('server', proxyName, ...onCpu(cpu, process.execPath, ['-e', proxySource]));
  await waitForLine(proxy, /^ready$/, proxyName);
  probes.addProxy(proxy.pid!);
  return { lab, probes, proxy, server };
}

export interface Collected {
  records: ProbeRecord[];
  /** Counters summed over every edge of a process on one side. */
  sum(tgid: number, side: 'client' | 'server'): Record<EdgeCounter, number>;
  /** Histogram of one metric, merged over a process's keys (optionally one port). */
  histogram(tgid: number, metric: Metric, servicePort?: number): SparseHistogram;
  tuples(tgid: number): TupleRecord[];
}

/** Stops the runner (it drains once more) and gathers everything it sent. */
export async function collect(probes: RecordSource): Promise<Collected> {
  await probes.stop();
  const records: ProbeRecord[] = [];
  for await (const r of probes.records()) records.push(r);
  return {
    records,
    sum(tgid, side) {
      const totals = Object.fromEntries(EDGE_COUNTERS.map((n) => [n, 0])) as Record<
        EdgeCounter,
        number
      >;
      for (const r of records) {
        if (r.type !== 'edge' || r.key.tgid !== tgid || r.key.side !== side) continue;
        for (const n of EDGE_COUNTERS) totals[n] += (r as EdgeRecord)[n];
      }
      return totals;
    },
    histogram(tgid, metric, servicePort) {
      let h: SparseHistogram | undefined;
      for (const r of records) {
        if (r.type !== 'hist' || r.key.tgid !== tgid || r.metric !== metric) continue;
        if (servicePort !== undefined && r.key.servicePort !== servicePort) continue;
        h = merge(h ?? emptyHistogram(r.layout), bucket(r));
      }
      return h ?? emptyHistogram();
    },
    tuples: (tgid) =>
      records.filter((r): r is TupleRecord => r.type === 'tuple' && r.key.tgid === tgid),
  };
}

/** One bucket as a histogram; the kernel keeps no per-bucket sum, so its value stands in. */
function bucket(r: HistRecord): SparseHistogram {
  const layout = r.layout;
  return {
    layout,
    indexes: [r.bucket],
    counts: [r.count],
    sumNs: r.count * bucketValue(layout, r.bucket),
  };
}

/** Reads a running source's records as they come, so a test can wait for one. */
export class LiveRecords {
  readonly records: ProbeRecord[] = [];
  private waiters: (() => void)[] = [];
  private readonly done: Promise<void>;

  constructor(probes: ProbeSource) {
    this.done = (async () => {
      for await (const r of probes.records()) {
        this.records.push(r);
        for (const wake of this.waiters.splice(0)) wake();
      }
    })();
  }

  /** Resolves with the first record (from `from` on) that matches. */
  async until<T extends ProbeRecord>(
    match: (r: ProbeRecord) => r is T,
    from = 0,
    timeoutMs = 10_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.records.slice(from).find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error('no such record in time');
      await Promise.race([
        new Promise<void>((r) => this.waiters.push(r)),
        new Promise((r) => setTimeout(r, 200)),
      ]);
    }
  }

  /** The first interval record whose filter generation is `generation`; its index. */
  async filterApplied(generation: number): Promise<number> {
    const r = await this.until(
      (x): x is IntervalRecord => x.type === 'interval' && x.filterGeneration === generation,
    );
    return this.records.indexOf(r);
  }

  finished(): Promise<void> {
    return this.done;
  }
}

/**
 * The source, for \`node -e\`, of a pass-through proxy on \`listenPort\` that opens an upstream
 * connection to 127.0.0.1:\`upstreamPort\` for each downstream one. \`onRequest\` and
 * \`onReply\`: the handlers' bodies for a downstream's and an upstream's bytes \`d\`, with
 * \`down\` and \`up\` in scope (by default each forwards them); \`onConnection\`: statements for
 * each new pair; \`prelude\` and \`epilogue\`: before the server and after it.
 */
export function passThroughProxy(options: {
  listenPort: number;
  upstreamPort: number;
  prelude?: string;
  onConnection?: string;
  onRequest?: string;
  onReply?: string;
  epilogue?: string;
}): string {
  return `const net = require('node:net');
  ${options.prelude ?? ''}
  net.createServer({ noDelay: true }, (down) => {
    const up = net.connect({ port: ${options.upstreamPort}, host: '127.0.0.1', noDelay: true });
    ${options.onConnection ?? ''}
    down.on('data', (d) => { ${options.onRequest ?? 'up.write(d);'} });
    up.on('data', (d) => { ${options.onReply ?? 'down.write(d);'} });
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
    down.on('error', () => {});
    up.on('error', () => {});
  }).listen(${options.listenPort}, '0.0.0.0', () => console.log('ready'));
  ${options.epilogue ?? ''}`;
}

/**
 * The highest-numbered CPU this process may run on (its `Cpus_allowed_list`, which the
 * lab's children inherit): a CPU number `taskset` takes, where `os.cpus()` counts CPUs.
 */
export function lastAllowedCpu(): number {
  const line = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  const last = line ? Number(line[1]!.split(/[,-]/).at(-1)) : Number.NaN;
  if (!Number.isInteger(last)) throw new Error('no Cpus_allowed_list in /proc/self/status');
  return last;
}

/**
 * A command pinned to one CPU when `cpu` is given (`taskset` execs the command, so the
 * child's pid stays the command's own), else as it is.
 */
export function onCpu(
  cpu: number | undefined,
  command: string,
  args: readonly string[],
): [string, readonly string[]] {
  return cpu === undefined ? [command, args] : ['taskset', ['-c', String(cpu), command, ...args]];
}

/**
 * A/B truth for a proxy in front of a server, from the clients' own clocks: `rounds`
 * rounds of the same clients straight to the server's port (A) and through the proxy's
 * (B), interleaved and in alternating order. `clientSource(port)` is a \`node -e\` source
 * run in the client pod that prints the run's mean in ns as its one numeric line. Returns
 * the median over rounds of B - A, and their spread (the noise floor). The clients run on
 * `cpu` alone when it is given.
 */
export async function abTruth(
  lab: Lab,
  rounds: number,
  serverPort: number,
  proxyPort: number,
  clientSource: (port: number) => string,
  cpu?: number,
): Promise<{ addedNs: number; spreadNs: number }> {
  return abRounds(rounds, serverPort, proxyPort, async (port) => {
    const child = lab.exec(
      'client',
      'clients',
      ...onCpu(cpu, process.execPath, ['-e', clientSource(port)]),
    );
    const line = await waitForLine(child, /^[0-9.]+$/, 'clients', 60_000);
    await exited(child);
    return Number(line);
  });
}

/**
 * `rounds` A/B rounds: `run(port)` (a run's mean latency, ns) straight to the server's port
 * (A) and through the proxy's (B), interleaved and in alternating order. Returns the median
 * over rounds of B - A, and their spread (the noise floor).
 */
export async function abRounds(
  rounds: number,
  serverPort: number,
  proxyPort: number,
  run: (port: number) => Promise<number>,
): Promise<{ addedNs: number; spreadNs: number }> {
  const added: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [serverPort, proxyPort] : [proxyPort, serverPort];
    const got = new Map<number, number>();
    for (const port of order) got.set(port, await run(port));
    added.push(got.get(proxyPort)! - got.get(serverPort)!);
  }
  const sorted = [...added].sort((a, b) => a - b);
  return {
    addedNs: sorted[Math.floor(sorted.length / 2)]!,
    spreadNs: sorted[sorted.length - 1]! - sorted[0]!,
  };
}

/** Resolves once the child has exited, also when it already had (an 'exit' listener added
 *  after the fact would wait forever). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** A kernel cause of loss over the run: cumulative since load in each interval, so the largest seen. */
export const lostOf = (records: readonly ProbeRecord[], cause: LossCause): number =>
  records.reduce((n, r) => Math.max(n, r.type === 'interval' ? r.lost[cause] : 0), 0);
