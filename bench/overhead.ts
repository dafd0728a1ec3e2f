// `tollgate bench overhead`: what running Tollgate costs the traffic it watches. Two lab
// pods with haproxy sidecars (client -> client sidecar -> server sidecar -> server app);
// rounds alternate without and with Tollgate (collector and agent as their own processes,
// started for the round and stopped after it), and the order flips every round so a drift
// of the machine does not favour either side. Each round runs wrk at saturation, then the
// open-loop generator at a constant rate, where the agent's CPU and memory and anything
// lost are read from the agent's own status, and the programs' runs and time from the
// kernel itself, its run-time accounting on for that phase alone. Tollgate's cost
// on the node is counted as a skeptic would: the BPF programs' run time is charged to the
// workload's CPUs (kernel_millicores) and the maps' locked memory is memory taken from the
// node (map_memory_mb), so both are in the totals the CPU and memory targets judge. Each
// untraced round ends with one more phase at the constant rate with programs on the same
// hooks that only read the clock: the floor of the kernel's share on this machine under
// this load (floor_kernel_millicores), against which kernel_millicores can be read.
import type { AgentStatus } from '../daemonset/agent.js';
import type { LoadResult } from '../daemonset/load/load.js';
import type { CpuLimitedGroup } from '../lab/cpu-limit.js';
import { Lab } from '../lab/lab.js';
import {
  addRunCost,
  bpfMapsOf,
  childrenOf,
  costDeltas,
  eventTotals,
  programCosts,
  type RunCost,
  tollgatePrograms,
  withBpfStatsSysctl,
} from './bpf-stats.js';
import { FLOOR_PREFIX, floorBuilt, withFloorPrograms } from './floor-programs.js';
import { agentCpu, COLLECTOR_ELSEWHERE } from './placement.js';
import { overRounds } from './rounds.js';
import {
  type AgentProcess,
  type CollectorProcess,
  startAgentProcess,
  startCollectorProcess,
} from './tollgate-processes.js';
import { cpuOfNs, softirqThreads } from './workload-cpu.js';
import { runWrk, type WrkResult } from './wrk.js';

export interface OverheadBenchOptions {
  rounds: number;
  saturationSeconds: number;
  saturationConnections: number;
  /** The constant rate at which the agent's cost and losses are read, requests per second. */
  rate: number;
  /** The constant rate of the latency comparison: one the machine serves without queueing. */
  latencyRate: number;
  /**
   * Seconds of the latency phase's load before its measured `rateSeconds`, not counted, so
   * that its quantiles are the steady state at that rate: without it the load generator's
   * own start-up (in two untraced rounds of 2026-12-06, 49 and 54 of its 16,000 requests
   * over 4 ms in the first second, against 15 and 37 in the other seven) and whatever the phase at
   * `rate` before it left running (Tollgate's agent and collector catching up with it)
   * decided much of the p99.
   */
  latencyWarmupS: number;
  rateSeconds: number;
  rateConnections: number;
  /**
   * `cluster`: the agent's cgroup with the CPU its DaemonSet asks for, the collector at the
   * least weight, standing in for a machine of its own (bench/placement.ts). `equal`: both
   * as plain processes beside the workload's, which no cluster does.
   */
  placement: 'cluster' | 'equal';
}

export const DEFAULT_OVERHEAD_BENCH: OverheadBenchOptions = {
  rounds: 5,
  saturationSeconds: 5,
  saturationConnections: 64,
  rate: 10_000,
  latencyRate: 2_000,
  latencyWarmupS: 2,
  rateSeconds: 8,
  rateConnections: 64,
  placement: 'cluster',
};

export interface RoundResult {
  traced: boolean;
  saturation: WrkResult;
  /** At `rate`. */
  load: LoadResult;
  /** The workload's own CPU over the phase at `rate`, with Tollgate or without. */
  workload: WorkloadCpu;
  /** At `latencyRate`. */
  latency: LoadResult;
  /** Only in traced rounds, over the constant-rate phase at `rate`. */
  cost?: TracedCost;
  /** Only in untraced rounds, where the floor's loader is built (ClockFloor). */
  floor?: ClockFloor;
}

/**
 * The clock-reading programs of probes/src/floor.bpf.c on Tollgate's send, receive and
 * arrival hooks (`tollgate-floor clocked`), over one more phase at `rate` of an untraced
 * round: the kernel time any probe that stamps these events pays under this load, with
 * bpf_stats on as in the traced rounds' phase (its two clock reads per run in both).
 */
export interface ClockFloor {
  events: number;
  ns: number;
  requests: number;
  actualRps: number;
}

/**
 * The CPU the workload's processes spent over a phase, read from outside them (the
 * scheduler's run time of every thread; the generator's own count of its time), per
 * request times the phase's rate: millicores at that rate.
 */
export interface WorkloadCpu {
  millicores: number;
  sidecars: number;
  app: number;
  generator: number;
  /** The softirq threads: receive work not done in the sender's context. */
  softirq: number;
}

export interface TracedCost {
  agentMillicores: number;
  agentRssMb: number;
  collectorMillicores: number;
  collectorRssMb: number;
  kernelEvents: number;
  kernelNs: number;
  /** The same, program by program (by name). */
  byProgram: Map<string, RunCost>;
  /** Memory the kernel charges for the maps the runner holds (memlock), MiB. */
  mapMemoryMb: number;
  lost: number;
}

export interface OverheadBenchResult {
  benchmark: 'overhead';
  /** Where Tollgate's processes ran (OverheadBenchOptions.placement). */
  placement: OverheadBenchOptions['placement'];
  /** Saturation throughput with Tollgate / without (wrk, closed loop). */
  throughput_ratio: number;
  /** At latencyRate: latency quantiles with Tollgate / without, means over rounds. */
  p50_ratio: number;
  p99_ratio: number;
  p99_added_ms: number;
  /**
   * How far the untraced rounds' p99 at latencyRate moved (max - min): the same load on
   * the same machine, no Tollgate. A p99_added_ms inside it is not told apart from the
   * run-to-run noise by these rounds, met or not.
   */
  p99_noise_ms: number;
  /** Agent and its runner at the constant rate (user-space processes only). Like every
   *  cost figure here, the median over the traced rounds. */
  agent_millicores: number;
  agent_rss_mb: number;
  /** The BPF programs' run time, charged to the workload's CPUs, at the constant rate. */
  kernel_millicores: number;
  /**
   * The floor of kernel_millicores on this machine under this load: what programs that
   * only read the clock, on the same hooks, cost at the same rate (ClockFloor; the median
   * over the untraced rounds), and their time per event. Null without the floor's loader.
   */
  floor_kernel_millicores: number | null;
  floor_ns_per_event: number | null;
  /** The floor programs' runs per request: every send, receive and arriving segment. */
  floor_events_per_request: number | null;
  floor_kernel_millicores_spread: {
    median: number;
    min: number;
    max: number;
    rounds: number[];
  } | null;
  /**
   * The same cost counted as the workload pays it: its processes' CPU at the constant
   * rate with Tollgate against without (round against the round beside it, the median of
   * those differences). Beside bpf_stats' count it also holds the trampoline that calls
   * the programs and what they do to the workload's caches; bpf_stats' own clock reads
   * are in both (the phase runs with them, see notes). A cross-check, not in the verdict:
   * its noise (workload_noise_millicores) is as large as what it measures.
   */
  workload_added_millicores: number;
  /** The workload's own CPU at the constant rate (sidecars, app, generator, softirq). */
  workload_millicores_without: number;
  workload_millicores_with: number;
  /** How far the untraced rounds' workload CPU moved (max - min): the same load, no Tollgate. */
  workload_noise_millicores: number;
  /** Each round's workload CPU by process, in the order run: where the difference lies. */
  workload_rounds: ({ traced: boolean } & WorkloadCpu)[];
  /** The maps' locked kernel memory (the runner's maps, from its fdinfo). */
  map_memory_mb: number;
  /**
   * What Tollgate costs the node: agent + kernel CPU (bpf_stats' count), agent RSS + map
   * memory.
   */
  node_millicores: number;
  node_memory_mb: number;
  /**
   * Every program's run time over the events: the context switch's time is in it, its runs
   * are not events (CONTEXT_SWITCH_PROGRAM).
   */
  kernel_ns_per_event: number;
  /**
   * Kernel events handled per request (every hop's sends, receives, arrivals and state
   * changes; not context switches).
   */
  events_per_request: number;
  /**
   * Where the kernel time goes, program by program, dearest per request first: so a
   * change's cost can be placed, not guessed. Over the same window as the figures above
   * (each traced round's constant-rate phase and the interval that drains it), per request
   * of that phase; runs to 0.01 per request, as some programs run once in many requests.
   */
  kernel_by_program: {
    program: string;
    runs_per_request: number;
    ns_per_run: number;
    ns_per_request: number;
  }[];
  lost_events: number;
  /** The constant rate actually achieved (with Tollgate, mean over rounds). */
  requests_per_s: number;
  saturation_rps_without: number;
  saturation_rps_with: number;
  p50_ms_without: number;
  p50_ms_with: number;
  p99_ms_without: number;
  p99_ms_with: number;
  /** At `rate`, where this machine is close to saturated with Tollgate on. */
  p99_ms_at_rate_without: number;
  p99_ms_at_rate_with: number;
  collector_millicores: number;
  collector_rss_mb: number;
  load_errors: number;
  targets: {
    throughput_ratio_min: number;
    p99_added_max_ms: number;
    agent_millicores_max: number;
    agent_rss_mb_max: number;
    met: Record<'throughput' | 'p99' | 'agent_cpu' | 'agent_memory' | 'lost', boolean>;
  };
  /**
   * Each headline figure over the rounds (a pair of rounds, one each way, for the
   * ratios and differences), in the order run: the headline is the median, and the
   * spread between min and max is the run-to-run noise.
   */
  spreads: Record<
    | 'throughput_ratio'
    | 'p99_added_ms'
    | 'p99_ms_without'
    | 'workload_added_millicores'
    | 'node_millicores'
    | 'node_memory_mb',
    { median: number; min: number; max: number; rounds: number[] }
  >;
  /** What a figure here cannot say. */
  notes: string[];
  rounds: number;
  rate: number;
  latency_rate: number;
  /** Seconds of the latency phase's load not counted before its measured part. */
  latency_warmup_s: number;
  path: string;
}

function agentCpuNs(s: AgentStatus): number {
  return s.self.agentCpuNs + s.self.runnerCpuNs;
}

function lostOf(s: AgentStatus): number {
  return (
    s.lost.kernelMapFull +
    s.lost.kernelBufferFull +
    s.lost.straysDropped +
    s.shipper.spoolDropped +
    s.shipper.rejected
  );
}

/** The constant-rate phase of a traced round, with the agent's and collector's cost over it. */
async function measuredLoad(
  run: () => Promise<LoadResult>,
  agent: AgentProcess,
  collector: CollectorProcess,
): Promise<{ load: LoadResult; cost: TracedCost }> {
  const before = await agent.status();
  const collectorBefore = collector.resources();
  const startNs = process.hrtime.bigint();
  let maxAgentRss = before.self.agentRssBytes + before.self.runnerRssBytes;
  let maxCollectorRss = collectorBefore?.rssBytes ?? 0;
  const poller = setInterval(() => {
    agent.status().then(
      (s) => {
        maxAgentRss = Math.max(maxAgentRss, s.self.agentRssBytes + s.self.runnerRssBytes);
      },
      () => {},
    );
    maxCollectorRss = Math.max(maxCollectorRss, collector.resources()?.rssBytes ?? 0);
  }, 500);
  let load: LoadResult;
  let byProgram: Map<string, RunCost>;
  try {
    // The programs' runs and time over the phase alone, read from the kernel at its start
    // and at its end (the agent's own report is its runner's reading of an interval ago),
    // with the accounting on for the phase alone, as for the floor's programs (ClockFloor):
    // the saturation and latency phases run without it, as a node does unless asked.
    ({ load, byProgram } = await withBpfStatsSysctl(true, async () => {
      const kernelBefore = programCosts('tg_');
      const load = await run();
      return { load, byProgram: costDeltas(kernelBefore, programCosts('tg_')) };
    }));
  } finally {
    clearInterval(poller);
  }
  // One interval more, so the agent has drained and shipped what the load caused.
  await new Promise((r) => setTimeout(r, 1500));
  const after = await agent.status();
  const collectorAfter = collector.resources();
  const elapsedNs = Number(process.hrtime.bigint() - startNs);
  const all = eventTotals(byProgram);
  const mapBytes = childrenOf(agent.pid)
    .flatMap((pid) => bpfMapsOf(pid))
    .reduce((n, m) => n + m.bytes, 0);
  const collectorCpu = (r: typeof collectorBefore) => (r ? r.cpuUserNs + r.cpuSystemNs : 0);
  return {
    load,
    cost: {
      agentMillicores: ((agentCpuNs(after) - agentCpuNs(before)) / elapsedNs) * 1000,
      agentRssMb:
        Math.max(maxAgentRss, after.self.agentRssBytes + after.self.runnerRssBytes) / 2 ** 20,
      collectorMillicores:
        ((collectorCpu(collectorAfter) - collectorCpu(collectorBefore)) / elapsedNs) * 1000,
      collectorRssMb: maxCollectorRss / 2 ** 20,
      kernelEvents: all.runs,
      kernelNs: all.ns,
      byProgram,
      mapMemoryMb: mapBytes / 2 ** 20,
      lost: lostOf(after),
    },
  };
}

type LabLoad = Awaited<ReturnType<Lab['load']>>;

/** A phase of load, with the workload's own CPU over it (WorkloadCpu). */
async function withWorkloadCpu(
  lab: Lab,
  run: () => Promise<LabLoad>,
): Promise<{ load: LabLoad; workload: WorkloadCpu }> {
  const sidecars = ['client', 'server'].flatMap((pod) => lab.pod(pod).sidecarPid ?? []);
  const app = [lab.pod('server').appPid ?? []].flat();
  const softirq = softirqThreads();
  const before = [sidecars, app, softirq].map((pids) => cpuOfNs(pids));
  const load = await run();
  const [sidecarsNs, appNs, softirqNs] = [sidecars, app, softirq].map(
    (pids, i) => cpuOfNs(pids) - before[i]!,
  ) as [number, number, number];
  // Per request at the phase's rate, as kernel_millicores: a millicore is 1e6 ns a second.
  const atRate = (ns: number) => ((ns / Math.max(1, load.ok)) * load.actualRps) / 1e6;
  const generatorNs = load.processCpuUs * 1000;
  return {
    load,
    workload: {
      millicores: atRate(sidecarsNs + appNs + generatorNs + softirqNs),
      sidecars: atRate(sidecarsNs),
      app: atRate(appNs),
      generator: atRate(generatorNs),
      softirq: atRate(softirqNs),
    },
  };
}

/** One more phase of load with the clock-reading floor programs attached (ClockFloor). */
function clockFloor(run: () => Promise<LabLoad>): Promise<ClockFloor> {
  return withFloorPrograms('clock', () =>
    withBpfStatsSysctl(true, async () => {
      const before = programCosts(FLOOR_PREFIX.clock);
      const load = await run();
      const { runs, ns } = eventTotals(costDeltas(before, programCosts(FLOOR_PREFIX.clock)));
      return {
        events: runs,
        ns,
        requests: load.ok,
        actualRps: load.actualRps,
      };
    }),
  );
}

/** The cgroups Tollgate's processes go in, under `cluster` placement. */
interface Placement {
  agent: CpuLimitedGroup;
  collector: CpuLimitedGroup;
}

async function round(
  lab: Lab,
  options: OverheadBenchOptions,
  traced: boolean,
  placement: Placement | undefined,
): Promise<RoundResult> {
  const url = lab.serviceUrls('server')[0]!;
  const saturate = () =>
    runWrk(lab, 'client', url, {
      connections: options.saturationConnections,
      seconds: options.saturationSeconds,
    });
  const constantRate =
    (rate: number, warmupS = 0) =>
    () =>
      lab.load('client', {
        url,
        rate,
        durationS: options.rateSeconds,
        connections: options.rateConnections,
        timeoutMs: 5000,
        warmupS,
      });
  if (!traced) {
    const saturation = await saturate();
    const { load, workload } = await withWorkloadCpu(lab, constantRate(options.rate));
    const latency = await constantRate(options.latencyRate, options.latencyWarmupS)();
    const floor = floorBuilt() ? await clockFloor(constantRate(options.rate)) : undefined;
    return { traced, saturation, load, workload, latency, ...(floor ? { floor } : {}) };
  }
  const collector = await startCollectorProcess();
  let agent: AgentProcess | undefined;
  try {
    placement?.collector.add(collector.pid);
    agent = await startAgentProcess(collector.grpcTarget);
    // The agent and the runner it started: the DaemonSet's container holds both.
    for (const pid of [agent.pid, ...childrenOf(agent.pid)]) placement?.agent.add(pid);
    const saturation = await saturate();
    let workload: WorkloadCpu | undefined;
    const atRate = async () => {
      const measured = await withWorkloadCpu(lab, constantRate(options.rate));
      workload = measured.workload;
      return measured.load;
    };
    const { load, cost } = await measuredLoad(atRate, agent, collector);
    const latency = await constantRate(options.latencyRate, options.latencyWarmupS)();
    return { traced, saturation, load, workload: workload!, latency, cost };
  } finally {
    await agent?.stop();
    await collector.stop();
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const round3 = (x: number) => Math.round(x * 1000) / 1000;
const round1 = (x: number) => Math.round(x * 10) / 10;

export function summarizeOverhead(
  rounds: RoundResult[],
  options: OverheadBenchOptions,
): OverheadBenchResult {
  const on = rounds.filter((r) => r.traced);
  const off = rounds.filter((r) => !r.traced);
  const costs = on.map((r) => r.cost!);
  const sat = (rs: RoundResult[]) => mean(rs.map((r) => r.saturation.requestsPerS));
  const q = (rs: RoundResult[], key: 'p50Ms' | 'p99Ms', at: 'latency' | 'load' = 'latency') =>
    mean(rs.map((r) => r[at][key] ?? 0));
  const events = costs.reduce((s, c) => s + c.kernelEvents, 0);
  const ns = costs.reduce((s, c) => s + c.kernelNs, 0);
  const requests = on.reduce((s, r) => s + r.load.ok, 0);
  const byProgram = new Map<string, RunCost>();
  for (const c of costs) for (const [name, d] of c.byProgram) addRunCost(byProgram, name, d);
  // The programs' time per request at the constant rate, times that rate: ns a second of
  // the workload's CPUs (a millicore is 1e6 ns a second). Over the phase's wall time it
  // would read lower, diluted by the drain after the load.
  const kernelMillicores = (r: RoundResult) =>
    ((r.cost!.kernelNs / Math.max(1, r.load.ok)) * r.load.actualRps) / 1e6;
  const floors = off.flatMap((r) => (r.floor ? [r.floor] : []));
  const floorMillicores =
    floors.length > 0
      ? overRounds(
          floors.map((f) => ((f.ns / Math.max(1, f.requests)) * f.actualRps) / 1e6),
          round1,
        )
      : null;
  const median = (xs: number[]) => overRounds(xs).median;
  const p99Allowed = Math.max(0.05 * q(off, 'p99Ms'), 0.05);
  // Round i with Tollgate against round i without: they ran back to back.
  const pairs = on.map((r, i) => [off[i]!, r] as const).filter(([a]) => a !== undefined);
  const offWorkload = overRounds(
    off.map((r) => r.workload.millicores),
    round1,
  );
  const spreads = {
    throughput_ratio: overRounds(
      pairs.map(([a, b]) => b.saturation.requestsPerS / a.saturation.requestsPerS),
      round3,
    ),
    p99_added_ms: overRounds(
      pairs.map(([a, b]) => (b.latency.p99Ms ?? 0) - (a.latency.p99Ms ?? 0)),
      round3,
    ),
    p99_ms_without: overRounds(
      off.map((r) => r.latency.p99Ms ?? 0),
      round3,
    ),
    workload_added_millicores: overRounds(
      pairs.map(([a, b]) => b.workload.millicores - a.workload.millicores),
      round1,
    ),
    node_millicores: overRounds(
      on.map((r) => r.cost!.agentMillicores + kernelMillicores(r)),
      round1,
    ),
    node_memory_mb: overRounds(
      on.map((r) => r.cost!.agentRssMb + r.cost!.mapMemoryMb),
      round1,
    ),
  };
  const result = {
    throughput_ratio: spreads.throughput_ratio.median,
    p50_ratio: round3(q(on, 'p50Ms') / q(off, 'p50Ms')),
    p99_ratio: round3(q(on, 'p99Ms') / q(off, 'p99Ms')),
    p99_added_ms: spreads.p99_added_ms.median,
    p99_noise_ms: round3(spreads.p99_ms_without.max - spreads.p99_ms_without.min),
    // Medians over the traced rounds; the totals are per round, then their median.
    agent_millicores: round1(median(costs.map((c) => c.agentMillicores))),
    agent_rss_mb: round1(median(costs.map((c) => c.agentRssMb))),
    kernel_millicores: round1(median(on.map(kernelMillicores))),
    floor_kernel_millicores: floorMillicores ? floorMillicores.median : null,
    floor_ns_per_event:
      floors.length > 0
        ? Math.round(median(floors.map((f) => f.ns / Math.max(1, f.events))))
        : null,
    floor_events_per_request:
      floors.length > 0
        ? round1(median(floors.map((f) => f.events / Math.max(1, f.requests))))
        : null,
    floor_kernel_millicores_spread: floorMillicores,
    workload_added_millicores: spreads.workload_added_millicores.median,
    workload_millicores_without: offWorkload.median,
    workload_millicores_with: round1(median(on.map((r) => r.workload.millicores))),
    workload_noise_millicores: round1(offWorkload.max - offWorkload.min),
    workload_rounds: rounds.map((r) => ({
      traced: r.traced,
      millicores: round1(r.workload.millicores),
      sidecars: round1(r.workload.sidecars),
      app: round1(r.workload.app),
      generator: round1(r.workload.generator),
      softirq: round1(r.workload.softirq),
    })),
    map_memory_mb: round1(median(costs.map((c) => c.mapMemoryMb))),
    node_millicores: spreads.node_millicores.median,
    node_memory_mb: spreads.node_memory_mb.median,
    kernel_ns_per_event: events ? Math.round(ns / events) : 0,
    events_per_request: requests ? round1(events / requests) : 0,
    kernel_by_program: [...byProgram]
      .filter(([, d]) => d.runs > 0)
      .map(([program, d]) => ({
        program,
        runs_per_request: requests ? Math.round((d.runs / requests) * 100) / 100 : 0,
        ns_per_run: Math.round(d.ns / d.runs),
        ns_per_request: requests ? Math.round(d.ns / requests) : 0,
      }))
      .sort((a, b) => b.ns_per_request - a.ns_per_request),
    lost_events: costs.reduce((s, c) => s + c.lost, 0),
    requests_per_s: Math.round(mean(on.map((r) => r.load.actualRps))),
  };
  return {
    benchmark: 'overhead',
    placement: options.placement,
    ...result,
    saturation_rps_without: Math.round(sat(off)),
    saturation_rps_with: Math.round(sat(on)),
    p50_ms_without: round3(q(off, 'p50Ms')),
    p50_ms_with: round3(q(on, 'p50Ms')),
    p99_ms_without: round3(q(off, 'p99Ms')),
    p99_ms_with: round3(q(on, 'p99Ms')),
    p99_ms_at_rate_without: round3(q(off, 'p99Ms', 'load')),
    p99_ms_at_rate_with: round3(q(on, 'p99Ms', 'load')),
    collector_millicores: round1(Math.max(...costs.map((c) => c.collectorMillicores))),
    collector_rss_mb: round1(Math.max(...costs.map((c) => c.collectorRssMb))),
    load_errors: rounds.reduce(
      (s, r) =>
        s +
        r.saturation.errors +
        r.load.errors +
        r.load.timeouts +
        r.latency.errors +
        r.latency.timeouts,
      0,
    ),
    targets: {
      throughput_ratio_min: 0.97,
      p99_added_max_ms: round3(p99Allowed),
      agent_millicores_max: 100,
      agent_rss_mb_max: 150,
      met: {
        // Verdicts on the medians over the rounds.
        throughput: result.throughput_ratio >= 0.97,
        p99: result.p99_added_ms <= p99Allowed,
        // Judged on the totals: the kernel's share is Tollgate's cost too.
        agent_cpu: result.node_millicores <= 100,
        agent_memory: result.node_memory_mb <= 150,
        lost: result.lost_events === 0,
      },
    },
    spreads,
    notes: [
      `p99_ms_at_rate_*: at ${options.rate} requests/s this pair is close to saturation and queues; its p99 moves by tens of ms from run to run without Tollgate too, so it is noise, not a cost. p99 is judged at ${options.latencyRate} requests/s, in the steady state: each latency phase's first ${options.latencyWarmupS} s of load is not counted (the generator's start-up, and in traced rounds the agent and collector catching up with the phase before). p99_noise_ms is how far the untraced rounds' own p99 there moved (max - min): a p99_added_ms inside it is not told apart from the run-to-run noise.`,
      'node_millicores and node_memory_mb are per traced round; the CPU and memory verdicts use their medians.',
      "workload_added_millicores: the workload's processes' CPU (both sidecars, the app, the load generator and the softirq threads) at the constant rate, each traced round against the untraced one beside it. It counts what bpf_stats does not (the trampoline calling each program, the caches the programs take from the workload's code) and everything else on the machine that moved between the two rounds; workload_noise_millicores is how far the untraced rounds' own figure moved (max - min), the same load on the same machine. A cross-check of kernel_millicores, not in the verdict: node_millicores counts the kernel by bpf_stats.",
      "The kernel counts the programs' run time (bpf_stats) only when asked: the bench turns it on (kernel.bpf_stats_enabled) for the constant-rate phase alone and reads the programs' counts from the kernel at its start and end, so the saturation and p99 phases run without that accounting, as a node does unless someone asks; its two clock reads per program run are in kernel_ns_per_event, as in floor_ns_per_event.",
    ],
    rounds: options.rounds,
    rate: options.rate,
    latency_rate: options.latencyRate,
    latency_warmup_s: options.latencyWarmupS,
    path: 'client -> haproxy sidecar -> haproxy sidecar -> node app (2 lab pods)',
  };
}

export async function benchOverhead(
  options: OverheadBenchOptions = DEFAULT_OVERHEAD_BENCH,
  log: (line: string) => void = () => {},
): Promise<OverheadBenchResult> {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: true, app: false },
    // A 1 ms service time (a timer, not CPU): the app every run of this bench had (until
    // the lab's app took "no service time" to mean no timer), so its figures stay
    // comparable. The ratios depend on it: with the app answering at once the pair served
    // 41,156-42,231 requests/s without Tollgate and 33,821-34,724 with it (0.82) in two
    // rounds, against 25,063-26,443 and 23,355-24,436 (0.93) with the timer (954909e).
    { name: 'server', service: 'server', meshed: true, serviceTimeMs: 1 },
  ]);
  const rounds: RoundResult[] = [];
  const placement =
    options.placement === 'cluster'
      ? {
          agent: lab.cpuGroup('agent', agentCpu()),
          collector: lab.cpuGroup('collector', COLLECTOR_ELSEWHERE),
        }
      : undefined;
  // The sysctl off: only the runner's own hold (while asked) may turn the accounting on,
  // never for the untraced rounds.
  const run = async () => {
    // Warm the app's JIT and the sidecars' connection pools, outside the measurement.
    await runWrk(lab, 'client', lab.serviceUrls('server')[0]!, { connections: 16, seconds: 2 });
    for (let i = 0; i < options.rounds; i++) {
      for (const traced of i % 2 === 0 ? [false, true] : [true, false]) {
        const r = await round(lab, options, traced, placement);
        log(
          `round ${i + 1} ${traced ? 'with' : 'without'} Tollgate: saturation ${Math.round(r.saturation.requestsPerS)} rps; ` +
            `${options.rate} rps p99 ${r.load.p99Ms?.toFixed(2)} ms; ` +
            `${options.latencyRate} rps p50 ${r.latency.p50Ms?.toFixed(2)} ms p99 ${r.latency.p99Ms?.toFixed(2)} ms; ` +
            `workload ${r.workload.millicores.toFixed(0)} mcores` +
            (r.cost ? `; agent ${r.cost.agentMillicores.toFixed(0)} mcores` : ''),
        );
        rounds.push(r);
      }
    }
  };
  try {
    await withBpfStatsSysctl(false, run);
  } finally {
    lab.destroy();
  }
  // No programs of ours may be left loaded once the agent has stopped.
  const left = tollgatePrograms().length;
  if (left) throw new Error(`${left} tg_ programs still loaded after the agent stopped`);
  return summarizeOverhead(rounds, options);
}

export function renderOverheadBench(r: OverheadBenchResult): string {
  const mark = (ok: boolean) => (ok ? 'ok' : 'MISSED');
  const m = r.targets.met;
  const range = (s: { min: number; max: number }) => `(${s.min} to ${s.max} over the rounds)`;
  return [
    `Overhead: ${r.path}; ${r.rounds} rounds A/B interleaved; medians, and the spread of each`,
    `  saturation (wrk)     ${r.saturation_rps_without} -> ${r.saturation_rps_with} rps, ratio ${r.throughput_ratio} ${range(r.spreads.throughput_ratio)}  [>= 0.97 ${mark(m.throughput)}]`,
    `  at ${r.latency_rate} rps          p50 ${r.p50_ms_without} -> ${r.p50_ms_with} ms (x${r.p50_ratio}), p99 ${r.p99_ms_without} -> ${r.p99_ms_with} ms (+${r.p99_added_ms} ms ${range(r.spreads.p99_added_ms)}; the untraced rounds' p99 moving ${r.p99_noise_ms} ms)  [<= +${r.targets.p99_added_max_ms} ms ${mark(m.p99)}]`,
    `  at ${r.rate} rps         p99 ${r.p99_ms_at_rate_without} -> ${r.p99_ms_at_rate_with} ms (near saturation here: noise, not a cost)`,
    `  at ${r.rate} rps         kernel ${r.kernel_millicores} millicores by bpf_stats; the workload's own CPU ${r.workload_millicores_without} -> ${r.workload_millicores_with}, +${r.workload_added_millicores} ${range(r.spreads.workload_added_millicores)}, untraced rounds moving ${r.workload_noise_millicores}`,
    `  at ${r.rate} rps         agent ${r.agent_millicores} + kernel ${r.kernel_millicores} = ${r.node_millicores} millicores ${range(r.spreads.node_millicores)} [<= 100 ${mark(m.agent_cpu)}]`,
    `                       agent ${r.agent_rss_mb} MB RSS + maps ${r.map_memory_mb} MB locked = ${r.node_memory_mb} MB ${range(r.spreads.node_memory_mb)} [<= 150 ${mark(m.agent_memory)}]`,
    `  kernel               ${r.kernel_ns_per_event} ns per event, ${r.events_per_request} events per request`,
    r.floor_kernel_millicores_spread
      ? `  its floor            ${r.floor_kernel_millicores} millicores ${range(r.floor_kernel_millicores_spread)}, ${r.floor_ns_per_event} ns per event: programs that only read the clock, on the same hooks, at ${r.rate} rps`
      : '  its floor            not measured (probes/build/tollgate-floor is not built)',
    ...r.kernel_by_program.map(
      (p) =>
        `    ${p.program.padEnd(19)}${String(p.ns_per_request).padStart(6)} ns per request (${p.runs_per_request} runs x ${p.ns_per_run} ns)`,
    ),
    `  lost events          ${r.lost_events}  [${mark(m.lost)}]`,
    `  collector            ${r.collector_millicores} millicores, ${r.collector_rss_mb} MB`,
    `  load errors          ${r.load_errors}`,
  ].join('\n');
}
