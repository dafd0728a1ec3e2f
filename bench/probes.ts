// `tollgate bench probes`: what the kernel programs cost. A client pod drives ping-pong
// exchanges to a server pod. Each round runs four phases, their order rotated from round
// to round (these machines are noisy, and a phase's place in a round moves its figure):
// without programs, with Tollgate's, with empty programs on the hottest hooks instead
// (probes/src/floor.bpf.c), the floor any program there pays on this kernel, and with
// programs there that only read the clock once, the floor of any probe that times its
// events (Tollgate's programs read it once an event). Throughput is
// read with the kernel's run-time accounting off, as a node runs unless someone asks for
// it (its two clock reads per program run are no cost of Tollgate's); the time per event
// comes from a ping-pong of its own right after, with the accounting on (bpf_stats), for
// Tollgate's programs and the empty ones alike.
import { Lab } from '../lab/lab.js';
import { waitForLine } from '../lab/spawn.js';
import { ProbeSource } from '../probes/probe-source.js';
import type { IntervalRecord, LostCounters } from '../probes/records.js';
import {
  addRunCost,
  eventsOf,
  eventTotals,
  programCosts,
  type RunCost,
  withBpfStatsSysctl,
} from './bpf-stats.js';
import {
  FLOOR_PREFIX,
  type FloorPrograms,
  floorBuilt,
  withFloorPrograms,
} from './floor-programs.js';
import { overRounds, type Spread } from './rounds.js';

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
  /** Socket events per second in the phases with Tollgate's programs and bpf_stats on. */
  events_per_s: number;
  /**
   * Kernel time per event of Tollgate's programs, the median over the rounds: every
   * program's time, over the socket events (a context switch is no event; its program runs
   * only while a proxy is listed, so through a sidecar). bpf_stats' own clock reads are in
   * it, as they are in the floor's.
   */
  kernel_ns_per_event: number;
  kernel_ns_per_event_spread: Spread;
  /**
   * Empty programs on the send, receive and arrival hooks: the floor any program there
   * pays per event here (trampoline and bpf_stats' clock reads), the median over the
   * rounds. Null when the floor's loader is not built.
   */
  empty_program_ns_per_event: number | null;
  empty_program_ns_per_event_spread: Spread | null;
  /**
   * Programs on the same hooks that read the clock once (bpf_ktime_get_ns) and do nothing
   * else: the floor of a probe that stamps each event, the median over the rounds; less
   * the empty programs' figure, what one clock read costs a program here. Null when the
   * floor's loader is not built.
   */
  clock_read_program_ns_per_event: number | null;
  clock_read_program_ns_per_event_spread: Spread | null;
  /** Exchanges per second with Tollgate's programs / without, the median over rounds. */
  throughput_ratio: number;
  throughput_ratio_spread: Spread;
  /** Each round's with / without, in the order run. */
  throughput_ratio_rounds: number[];
  /**
   * Exchanges per second with the empty programs / without, the median over rounds: what
   * any program on these hooks costs the ping-pong here, Tollgate's share of the gap being
   * the rest. Null when the floor's loader is not built.
   */
  empty_program_throughput_ratio: number | null;
  empty_program_throughput_ratio_spread: Spread | null;
  /** The same for the programs that read the clock once. */
  clock_read_program_throughput_ratio: number | null;
  clock_read_program_throughput_ratio_spread: Spread | null;
  exchanges_per_s_without: number;
  exchanges_per_s_with: number;
  exchanges_per_s_empty_programs: number | null;
  exchanges_per_s_clock_read_programs: number | null;
  /**
   * Exchanges the ping-pong itself counted in the phases that timed Tollgate's programs,
   * against which their run counts can be held (two sends and two receives an exchange).
   */
  exchanges_timed: number;
  /** The same for the empty programs' timed phases (null without the floor's loader). */
  exchanges_timed_empty_programs: number | null;
  /** And for the clock-reading programs' timed phases. */
  exchanges_timed_clock_read_programs: number | null;
  lost_events: number;
  /** Tollgate's programs, the empty ones (floor_*) and the clock-reading ones (clock_*),
   * over the timed phases. */
  programs: { name: string; events: number; ns_per_event: number }[];
  rounds: number;
  round_seconds: number;
  connections: number;
  /** Each round's phases in the order run ('without', 'tollgate', 'empty', 'clock'). */
  phase_orders: Phase[][];
  /** 'sidecar' when the exchanges went through one (ProbesBenchOptions.throughSidecar). */
  through: 'sidecar' | null;
  note: string;
}

type Phase = 'without' | 'tollgate' | 'empty' | 'clock';
const PHASES: readonly Phase[] = ['without', 'tollgate', 'empty', 'clock'];

/** Round i runs the phases rotated by i: each takes each place as often as the rounds allow. */
export const phaseOrder = (i: number): Phase[] =>
  PHASES.map((_, k) => PHASES[(i + k) % PHASES.length]!);

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

/** One ping-pong of `roundSeconds` on the ping-pong's own clock: the exchanges it counted. */
async function pingPongRound(lab: Lab, options: ProbesBenchOptions): Promise<number> {
  const client = lab.exec('client', 'ping-pong', process.execPath, [
    '-e',
    pingPong(lab.pod('server').address, options.connections, options.roundSeconds),
  ]);
  const line = await waitForLine(client, /^\{/, 'ping-pong', options.roundSeconds * 1000 + 30_000);
  return (JSON.parse(line) as { exchanges: number }).exchanges;
}

/** Run counts and times of the programs named so, summed into `into`; their socket events and ns. */
function addPrograms(prefix: string, into: Map<string, RunCost>): RunCost {
  const costs = programCosts(prefix);
  for (const [name, c] of costs) addRunCost(into, name, c);
  return eventTotals(costs);
}

/**
 * A phase with programs attached: the ping-pong's rate with the kernel's run-time
 * accounting off, then a ping-pong of its own with it on, whose programs' run counts and
 * times (read while the programs are still loaded: they are the phase's own) give the time
 * per event. The accounting is a sysctl, so the empty programs and Tollgate's are timed
 * alike.
 */
async function programPhase(
  lab: Lab,
  options: ProbesBenchOptions,
  prefix: string,
  into: Map<string, RunCost>,
): Promise<{ rate: number; nsPerEvent: number | null; timedExchanges: number }> {
  const rate = (await pingPongRound(lab, options)) / options.roundSeconds;
  return withBpfStatsSysctl(true, async () => {
    const timedExchanges = await pingPongRound(lab, options);
    const { runs, ns } = addPrograms(prefix, into);
    return { rate, nsPerEvent: runs > 0 ? ns / runs : null, timedExchanges };
  });
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
  const floorAvailable = floorBuilt();
  const rate: Record<Phase, number[]> = { without: [], tollgate: [], empty: [], clock: [] };
  const nsPerEvent: Record<Exclude<Phase, 'without'>, number[]> = {
    tollgate: [],
    empty: [],
    clock: [],
  };
  const timed: Record<Exclude<Phase, 'without'>, number> = { tollgate: 0, empty: 0, clock: 0 };
  const programs = new Map<string, RunCost>();
  const orders: Phase[][] = [];
  let lost = 0;

  const tollgatePhase = async () => {
    const probes = await ProbeSource.start({ intervalMs: 1000, runnerPath: options.runnerPath });
    const sidecar = lab.pod('server').sidecarPid;
    if (options.throughSidecar && sidecar !== undefined) probes.addProxy(sidecar);
    let last: IntervalRecord | undefined;
    const reading = (async () => {
      for await (const r of probes.records()) if (r.type === 'interval') last = r;
    })();
    try {
      const phase = await programPhase(lab, options, 'tg_', programs);
      rate.tollgate.push(phase.rate);
      if (phase.nsPerEvent !== null) nsPerEvent.tollgate.push(phase.nsPerEvent);
      timed.tollgate += phase.timedExchanges;
    } finally {
      await probes.stop();
      await reading;
    }
    lost += sumLost(last?.lost);
  };

  /** The floor's programs: the empty ones, or those that read the clock once. */
  const floorPhase = (which: FloorPrograms) =>
    withFloorPrograms(which, async () => {
      const phase = await programPhase(lab, options, FLOOR_PREFIX[which], programs);
      rate[which].push(phase.rate);
      if (phase.nsPerEvent !== null) nsPerEvent[which].push(phase.nsPerEvent);
      timed[which] += phase.timedExchanges;
    });

  const rounds = async () => {
    const server = lab.exec('server', 'echo', process.execPath, ['-e', echoServer]);
    await waitForLine(server, /^ready$/, 'echo');
    for (let i = 0; i < options.rounds; i++) {
      const order = phaseOrder(i).filter((p) => (p !== 'empty' && p !== 'clock') || floorAvailable);
      orders.push(order);
      for (const phase of order) {
        if (phase === 'without')
          rate.without.push((await pingPongRound(lab, options)) / options.roundSeconds);
        else if (phase === 'tollgate') await tollgatePhase();
        else await floorPhase(phase);
      }
    }
  };
  try {
    // Off for the rates; each timed ping-pong turns it on for itself (programPhase).
    await withBpfStatsSysctl(false, rounds);
  } finally {
    lab.destroy();
  }
  const tgEvents = [...programs]
    .filter(([name]) => name.startsWith('tg_'))
    .reduce((s, [name, p]) => s + eventsOf(name, p.runs), 0);
  const meanOf = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const kernelNs = overRounds(nsPerEvent.tollgate, Math.round);
  const floorNs = floorAvailable ? overRounds(nsPerEvent.empty, Math.round) : null;
  const clockNs = floorAvailable ? overRounds(nsPerEvent.clock, Math.round) : null;
  const ratioOf = (phase: Phase) =>
    overRounds(
      rate[phase].map((w, i) => w / rate.without[i]!),
      round3,
    );
  const ratios = ratioOf('tollgate');
  const floorRatios = floorAvailable ? ratioOf('empty') : null;
  const clockRatios = floorAvailable ? ratioOf('clock') : null;
  return {
    benchmark: 'probes',
    events_per_s: Math.round(tgEvents / (options.rounds * options.roundSeconds)),
    kernel_ns_per_event: kernelNs.median,
    kernel_ns_per_event_spread: kernelNs,
    empty_program_ns_per_event: floorNs ? floorNs.median : null,
    empty_program_ns_per_event_spread: floorNs,
    clock_read_program_ns_per_event: clockNs ? clockNs.median : null,
    clock_read_program_ns_per_event_spread: clockNs,
    throughput_ratio: ratios.median,
    throughput_ratio_spread: ratios,
    throughput_ratio_rounds: ratios.rounds,
    empty_program_throughput_ratio: floorRatios ? floorRatios.median : null,
    empty_program_throughput_ratio_spread: floorRatios,
    clock_read_program_throughput_ratio: clockRatios ? clockRatios.median : null,
    clock_read_program_throughput_ratio_spread: clockRatios,
    exchanges_per_s_without: Math.round(meanOf(rate.without)),
    exchanges_per_s_with: Math.round(meanOf(rate.tollgate)),
    exchanges_per_s_empty_programs: floorAvailable ? Math.round(meanOf(rate.empty)) : null,
    exchanges_per_s_clock_read_programs: floorAvailable ? Math.round(meanOf(rate.clock)) : null,
    exchanges_timed: timed.tollgate,
    exchanges_timed_empty_programs: floorAvailable ? timed.empty : null,
    exchanges_timed_clock_read_programs: floorAvailable ? timed.clock : null,
    lost_events: lost,
    programs: [...programs.entries()].map(([name, p]) => ({
      name,
      events: p.runs,
      ns_per_event: p.runs ? Math.round(p.ns / p.runs) : 0,
    })),
    rounds: options.rounds,
    round_seconds: options.roundSeconds,
    connections: options.connections,
    phase_orders: orders,
    through: options.throughSidecar ? 'sidecar' : null,
    note: 'events include every TCP event on the machine while loaded; rates are read with bpf_stats off, times per event in a ping-pong of their own with it on (its clock reads in both figures)',
  };
}

function sumLost(lost: LostCounters | undefined): number {
  return lost ? Object.values(lost).reduce((a, b) => a + b, 0) : 0;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export function renderProbesBench(r: ProbesBenchResult): string {
  const lines = [
    `probes: ${r.events_per_s} events/s, ${r.kernel_ns_per_event} ns per event in the kernel (median; ${r.kernel_ns_per_event_spread.min}-${r.kernel_ns_per_event_spread.max} over ${r.rounds} rounds); empty programs on the same hooks: ${r.empty_program_ns_per_event ?? '-'} ns`,
    `throughput with/without probes: ${r.throughput_ratio} (median; ${r.throughput_ratio_spread.min}-${r.throughput_ratio_spread.max}; ${r.exchanges_per_s_with} vs ${r.exchanges_per_s_without} exchanges/s, ${r.connections} connections, ${r.rounds}x${r.round_seconds} s)`,
    `throughput with empty programs/without: ${r.empty_program_throughput_ratio ?? '-'}${r.empty_program_throughput_ratio_spread ? ` (median; ${r.empty_program_throughput_ratio_spread.min}-${r.empty_program_throughput_ratio_spread.max}; ${r.exchanges_per_s_empty_programs} exchanges/s)` : ''}`,
    `programs that read the clock once: ${r.clock_read_program_ns_per_event ?? '-'} ns per event${r.clock_read_program_ns_per_event_spread ? ` (${r.clock_read_program_ns_per_event_spread.min}-${r.clock_read_program_ns_per_event_spread.max})` : ''}, throughput/without ${r.clock_read_program_throughput_ratio ?? '-'}${r.clock_read_program_throughput_ratio_spread ? ` (${r.clock_read_program_throughput_ratio_spread.min}-${r.clock_read_program_throughput_ratio_spread.max})` : ''}`,
    `lost events: ${r.lost_events}`,
    ...r.programs.map(
      (p) =>
        `  ${p.name.padEnd(20)} ${String(p.events).padStart(10)} events ${String(p.ns_per_event).padStart(6)} ns/event`,
    ),
  ];
  return lines.join('\n');
}
