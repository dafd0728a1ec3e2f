// `tollgate bench probes`: what the kernel programs cost. A client pod drives ping-pong
// exchanges to a server pod, in rounds that alternate without and with the probes
// (A/B interleaved, because these machines are noisy, and the order flipped every round,
// since the run that comes second in a pair tends to be faster); with them, the kernel's own
// bpf_stats give events handled and time per event for each program. One more round runs
// with empty programs on the hottest hooks instead (probes/src/floor.bpf.c): the floor any
// program there pays on this kernel, what Tollgate's own cost is to be read against.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Lab } from '../lab/lab.js';
import { waitForLine } from '../lab/spawn.js';
import { builtProbe, ProbeSource } from '../probes/probe-source.js';
import type { IntervalRecord, LostCounters } from '../probes/records.js';
import { eventsOf, programsNamed, tollgatePrograms, withBpfStatsSysctl } from './bpf-stats.js';
import { overRounds, type Spread } from './rounds.js';

const FLOOR_LOADER = builtProbe('tollgate-floor');

export interface ProbesBenchOptions {
  rounds: number;
  roundSeconds: number;
  connections: number;
  /** The runner to measure, for a comparison of two builds; the built one by default. */
  runnerPath?: string;
  /**
   * Through a sidecar: the server pod meshed (haproxy in TCP mode behind REDIRECT), known
   * to the kernel as a proxy, so that its events run the proxy-only work too (hop pairing,
   * the on-CPU charge). Off by default: plain client and server.
   */
  throughSidecar?: boolean;
}

export interface ProbesBenchResult {
  benchmark: 'probes';
  events_per_s: number;
  /**
   * Kernel time per event of Tollgate's programs, the median over the traced rounds: every
   * program's time, over the socket events (a context switch is no event; its program runs
   * only while a proxy is listed, so through a sidecar).
   */
  kernel_ns_per_event: number;
  kernel_ns_per_event_spread: Spread;
  /**
   * Empty programs on the send, receive and arrival hooks, in a round of their own: the
   * floor any program there pays per event here (trampoline and bpf_stats' clock reads).
   * Null when the floor's loader is not built.
   */
  empty_program_ns_per_event: number | null;
  /** Exchanges per second with the probes / without, the median over rounds. */
  throughput_ratio: number;
  throughput_ratio_spread: Spread;
  /** Each round's with / without, in the order run (even rounds ran without first). */
  throughput_ratio_rounds: number[];
  exchanges_per_s_without: number;
  exchanges_per_s_with: number;
  lost_events: number;
  programs: { name: string; events: number; ns_per_event: number }[];
  rounds: number;
  round_seconds: number;
  connections: number;
  /** 'sidecar' when the exchanges went through one (ProbesBenchOptions.throughSidecar). */
  through: 'sidecar' | null;
  note: string;
}

export const DEFAULT_PROBES_BENCH: ProbesBenchOptions = {
  rounds: 5,
  roundSeconds: 3,
  connections: 8,
};

const PORT = 7500;

const echoServer = `require('node:net').createServer({ noDelay: true }, (s) => s.on('data', (d) => s.write(d)))
  .listen(${PORT}, '0.0.0.0', () => console.log('ready'));`;

/** Closed-loop ping-pong on `connections` sockets for `seconds`; prints the exchanges. */
const pingPong = (address: string, connections: number, seconds: number) => `
  const net = require('node:net');
  const end = Date.now() + ${seconds * 1000};
  let exchanges = 0, open = ${connections};
  for (let i = 0; i < ${connections}; i++) {
    const s = net.connect({ port: ${PORT}, host: '${address}', noDelay: true }, () => s.write('ping'));
    s.on('data', () => {
      exchanges++;
      if (Date.now() < end) s.write('ping');
      else s.end();
    });
    s.on('close', () => { if (--open === 0) console.log(JSON.stringify({ exchanges })); });
  }`;

async function round(lab: Lab, options: ProbesBenchOptions): Promise<number> {
  const client = lab.exec('client', 'ping-pong', process.execPath, [
    '-e',
    pingPong(lab.pod('server').address, options.connections, options.roundSeconds),
  ]);
  const line = await waitForLine(client, /^\{/, 'ping-pong', options.roundSeconds * 1000 + 30_000);
  return (JSON.parse(line) as { exchanges: number }).exchanges / options.roundSeconds;
}

export async function benchProbes(
  options: ProbesBenchOptions = DEFAULT_PROBES_BENCH,
): Promise<ProbesBenchResult> {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: false, app: false },
    options.throughSidecar
      ? { name: 'server', service: 'server', meshed: true, app: false, port: PORT }
      : { name: 'server', service: 'server', meshed: false, app: false },
  ]);
  const without: number[] = [];
  const withProbes: number[] = [];
  const programs = new Map<string, { events: number; ns: number }>();
  const nsPerEventRounds: number[] = [];
  let floorNsPerEvent: number | null = null;
  let lost = 0;
  const rounds = async () => {
    const server = lab.exec('server', 'echo', process.execPath, ['-e', echoServer]);
    await waitForLine(server, /^ready$/, 'echo');
    const traced = async () => {
      const probes = await ProbeSource.start({ intervalMs: 1000, runnerPath: options.runnerPath });
      const sidecar = lab.pod('server').sidecarPid;
      if (options.throughSidecar && sidecar !== undefined) probes.addProxy(sidecar);
      let last: IntervalRecord | undefined;
      const reading = (async () => {
        for await (const r of probes.records()) if (r.type === 'interval') last = r;
      })();
      withProbes.push(await round(lab, options));
      // Read the counters while the programs are still loaded: a runner of the round's
      // own, so they are the round's.
      let events = 0;
      let ns = 0;
      for (const p of tollgatePrograms()) {
        const entry = programs.get(p.name!) ?? { events: 0, ns: 0 };
        entry.events += p.run_cnt ?? 0;
        entry.ns += p.run_time_ns ?? 0;
        programs.set(p.name!, entry);
        events += eventsOf(p.name, p.run_cnt ?? 0);
        ns += p.run_time_ns ?? 0;
      }
      if (events > 0) nsPerEventRounds.push(ns / events);
      await probes.stop();
      await reading;
      lost += sumLost(last?.lost);
    };
    for (let i = 0; i < options.rounds; i++) {
      if (i % 2 === 0) {
        without.push(await round(lab, options));
        await traced();
      } else {
        await traced();
        without.push(await round(lab, options));
      }
    }
    floorNsPerEvent = await floorRound(lab, options);
  };
  try {
    await withBpfStatsSysctl(true, rounds);
  } finally {
    lab.destroy();
  }
  const events = [...programs].reduce((s, [name, p]) => s + eventsOf(name, p.events), 0);
  const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const kernelNs = overRounds(nsPerEventRounds, Math.round);
  const ratios = overRounds(
    withProbes.map((w, i) => w / without[i]!),
    round3,
  );
  return {
    benchmark: 'probes',
    events_per_s: Math.round(events / (options.rounds * options.roundSeconds)),
    kernel_ns_per_event: kernelNs.median,
    kernel_ns_per_event_spread: kernelNs,
    empty_program_ns_per_event: floorNsPerEvent === null ? null : Math.round(floorNsPerEvent),
    throughput_ratio: ratios.median,
    throughput_ratio_spread: ratios,
    throughput_ratio_rounds: ratios.rounds,
    exchanges_per_s_without: Math.round(meanOf(without)),
    exchanges_per_s_with: Math.round(meanOf(withProbes)),
    lost_events: lost,
    programs: [...programs.entries()].map(([name, p]) => ({
      name,
      events: p.events,
      ns_per_event: p.events ? Math.round(p.ns / p.events) : 0,
    })),
    rounds: options.rounds,
    round_seconds: options.roundSeconds,
    connections: options.connections,
    through: options.throughSidecar ? 'sidecar' : null,
    note: 'events include every TCP event on the machine while loaded; bpf_stats adds its own clock reads to each run',
  };
}

/**
 * One ping-pong round with the empty programs attached in place of Tollgate's: their
 * kernel time per event, or null when the loader is not built (`make -C probes`).
 */
async function floorRound(lab: Lab, options: ProbesBenchOptions): Promise<number | null> {
  if (!existsSync(FLOOR_LOADER)) return null;
  const loader = spawn(FLOOR_LOADER, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await waitForLine(loader, /^attached$/, 'the empty programs');
    await round(lab, options);
    const floor = programsNamed('floor_');
    const events = floor.reduce((n, p) => n + (p.run_cnt ?? 0), 0);
    const ns = floor.reduce((n, p) => n + (p.run_time_ns ?? 0), 0);
    return events > 0 ? ns / events : null;
  } finally {
    loader.stdin!.end();
    await new Promise((resolve) => {
      if (loader.exitCode !== null) resolve(undefined);
      else loader.once('exit', resolve);
    });
  }
}

function sumLost(lost: LostCounters | undefined): number {
  return lost ? Object.values(lost).reduce((a, b) => a + b, 0) : 0;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export function renderProbesBench(r: ProbesBenchResult): string {
  const lines = [
    `probes: ${r.events_per_s} events/s, ${r.kernel_ns_per_event} ns per event in the kernel (median; ${r.kernel_ns_per_event_spread.min}-${r.kernel_ns_per_event_spread.max} over ${r.rounds} rounds); empty programs on the same hooks: ${r.empty_program_ns_per_event ?? '-'} ns`,
    `throughput with/without probes: ${r.throughput_ratio} (median; ${r.throughput_ratio_spread.min}-${r.throughput_ratio_spread.max}; ${r.exchanges_per_s_with} vs ${r.exchanges_per_s_without} exchanges/s, ${r.connections} connections, ${r.rounds}x${r.round_seconds} s)`,
    `lost events: ${r.lost_events}`,
    ...r.programs.map(
      (p) =>
        `  ${p.name.padEnd(20)} ${String(p.events).padStart(10)} events ${String(p.ns_per_event).padStart(6)} ns/event`,
    ),
  ];
  return lines.join('\n');
}
