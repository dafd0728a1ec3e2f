// `tollgate bench probes`: what the kernel programs cost. A client pod drives ping-pong
// exchanges to a server pod, in rounds that alternate without and with the probes
// (A/B interleaved, because these machines are noisy, and the order flipped every round,
// since the run that comes second in a pair tends to be faster); with them, the kernel's own
// bpf_stats give events handled and time per event for each program.
import { Lab } from '../lab/lab.js';
import { waitForLine } from '../lab/spawn.js';
import { ProbeSource } from '../probes/probe-source.js';
import type { IntervalRecord, LostCounters } from '../probes/records.js';
import { tollgatePrograms, withBpfStatsSysctl } from './bpf-stats.js';

export interface ProbesBenchOptions {
  rounds: number;
  roundSeconds: number;
  connections: number;
}

export interface ProbesBenchResult {
  benchmark: 'probes';
  events_per_s: number;
  kernel_ns_per_event: number;
  /** Exchanges per second with the probes / without, mean over rounds. */
  throughput_ratio: number;
  /** Each round's with / without, in the order run (even rounds ran without first). */
  throughput_ratio_rounds: number[];
  exchanges_per_s_without: number;
  exchanges_per_s_with: number;
  lost_events: number;
  programs: { name: string; events: number; ns_per_event: number }[];
  rounds: number;
  round_seconds: number;
  connections: number;
  note: string;
}

export const DEFAULT_PROBES_BENCH: ProbesBenchOptions = {
  rounds: 3,
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
    { name: 'server', service: 'server', meshed: false, app: false },
  ]);
  const without: number[] = [];
  const withProbes: number[] = [];
  const programs = new Map<string, { events: number; ns: number }>();
  let lost = 0;
  const rounds = async () => {
    const server = lab.exec('server', 'echo', process.execPath, ['-e', echoServer]);
    await waitForLine(server, /^ready$/, 'echo');
    const traced = async () => {
      const probes = await ProbeSource.start({ intervalMs: 1000 });
      let last: IntervalRecord | undefined;
      const reading = (async () => {
        for await (const r of probes.records()) if (r.type === 'interval') last = r;
      })();
      withProbes.push(await round(lab, options));
      // Read the counters while the programs are still loaded.
      for (const p of tollgatePrograms()) {
        const entry = programs.get(p.name!) ?? { events: 0, ns: 0 };
        entry.events += p.run_cnt ?? 0;
        entry.ns += p.run_time_ns ?? 0;
        programs.set(p.name!, entry);
      }
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
  };
  try {
    await withBpfStatsSysctl(true, rounds);
  } finally {
    lab.destroy();
  }
  const events = [...programs.values()].reduce((s, p) => s + p.events, 0);
  const ns = [...programs.values()].reduce((s, p) => s + p.ns, 0);
  const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    benchmark: 'probes',
    events_per_s: Math.round(events / (options.rounds * options.roundSeconds)),
    kernel_ns_per_event: events ? Math.round(ns / events) : 0,
    throughput_ratio: round3(meanOf(withProbes) / meanOf(without)),
    throughput_ratio_rounds: withProbes.map((w, i) => round3(w / without[i]!)),
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
    note: 'events include every TCP event on the machine while loaded; bpf_stats adds its own clock reads to each run',
  };
}

function sumLost(lost: LostCounters | undefined): number {
  return lost ? Object.values(lost).reduce((a, b) => a + b, 0) : 0;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export function renderProbesBench(r: ProbesBenchResult): string {
  const lines = [
    `probes: ${r.events_per_s} events/s, ${r.kernel_ns_per_event} ns per event in the kernel`,
    `throughput with/without probes: ${r.throughput_ratio} (${r.exchanges_per_s_with} vs ${r.exchanges_per_s_without} exchanges/s, ${r.connections} connections, ${r.rounds}x${r.round_seconds} s)`,
    `lost events: ${r.lost_events}`,
    ...r.programs.map(
      (p) =>
        `  ${p.name.padEnd(20)} ${String(p.events).padStart(10)} events ${String(p.ns_per_event).padStart(6)} ns/event`,
    ),
  ];
  return lines.join('\n');
}
