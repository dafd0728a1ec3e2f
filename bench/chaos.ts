// `tollgate bench chaos`: the collector killed, stalled and restarted under load while a
// million short connections churn through the node, and what that cost in batches, data
// and memory. Collector and agent run as their own processes (as in a cluster); the
// collector comes back on the same port and store after each SIGKILL.
//
// Ground truths: every batch the agent made (its own count, printed at exit) against the
// batches in the store; exact bytes of long-lived connections whose client and server
// count them; connects and accepts of the churn against the churn client's own count;
// the states left in the kernel's per-socket map after the churn, and the map memory the
// runner holds before and after it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { readPeakRss } from '../daemonset/proc-resources.js';
import { churnClientScript, churnServerScript } from '../lab/churn.js';
import { fixedExchangeServerScript } from '../lab/fixed-exchange.js';
import { freePort } from '../lab/free-port.js';
import { Lab } from '../lab/lab.js';
import { waitForLine } from '../lab/spawn.js';
import type { Topology } from '../proto/api.js';
import { bpfMapsOf, childrenOf, mapEntries, tollgatePrograms } from './bpf-stats.js';
import { edgeOf, labelledEdges } from './edge-of.js';
import {
  type AgentProcess,
  type CollectorProcess,
  startAgentProcess,
  startCollectorProcess,
} from './tollgate-processes.js';

export interface ChaosBenchOptions {
  /** How long the long-lived connections exchange, in seconds. */
  durationS: number;
  /** Exchanges per second over all long-lived connections. */
  rate: number;
  connections: number;
  /** Short connections opened (and closed) while the chaos runs. */
  churnConnections: number;
  churnConcurrency: number;
  /** Collector SIGKILLs, spread over the run; each is down for the next of `downS`. */
  collectorKills: number;
  downS: readonly number[];
  /** One SIGSTOP of the collector for this long (a collector that stops answering); 0: none. */
  stallS: number;
  intervalS: number;
}

export const DEFAULT_CHAOS_BENCH: ChaosBenchOptions = {
  durationS: 120,
  rate: 400,
  connections: 4,
  churnConnections: 1_000_000,
  churnConcurrency: 64,
  collectorKills: 3,
  downS: [2, 8, 0],
  stallS: 5,
  intervalS: 1,
};

export interface ChaosBenchResult {
  batches_sent: number;
  batches_acked: number;
  batches_stored: number;
  duplicates_dropped: number;
  lost: number;
  max_agent_rss_mb: number;
  max_collector_rss_mb: number;
  rejected: number;
  spool_dropped: number;
  collector_kills: number;
  collector_stall_s: number;
  long_lived: { exchanges: number; bytes_exact: boolean; counters: BytesCheck[] };
  /** Every edge out of the two client processes, "client -> server :port (join)". */
  client_edges: string[];
  churn: {
    connections: number;
    failed: number;
    connects_reported: number;
    accepts_reported: number;
    exact: boolean;
    kernel_map_bytes_before: number;
    kernel_map_bytes_after: number;
    /**
     * States in the kernel's per-socket map once the churn is over, as bpftool lists them:
     * a state goes with its socket, so what is left is the sockets still open (the
     * long-lived connections' ends at most), however many came and went. (The maps'
     * memory follows what they hold where they grow with use, kernel 6.1 on; preallocated,
     * on older kernels, it is the same before and after by construction.)
     */
    socket_states_after: number;
    socket_states_bound: number;
    connections_per_s: number;
  };
  store: { ends: number; processes: number };
  max_runner_rss_mb: number;
  programs_left: number;
  duration_s: number;
  targets: {
    met: Record<
      'nothing_lost' | 'bytes_exact' | 'churn_exact' | 'socket_states_bounded' | 'topology_exact',
      boolean
    >;
  };
}

interface BytesCheck {
  what: string;
  expected: number;
  reported: number;
}

const STEADY_PORT = 8080;
const CHURN_PORT = 7400;
const REQUEST_BYTES = 300;
const RESPONSE_BYTES = 1200;
const SIZES = { requestBytes: REQUEST_BYTES, responseBytes: RESPONSE_BYTES };

/**
 * Long-lived connections paced to `rate` exchanges per second for `durationS`; prints
 * {exchanges} once every connection is done, then stays up two intervals so the agent
 * still finds the process when it names the last records.
 */
const steadyClient = (address: string, o: ChaosBenchOptions) => `
  const net = require('node:net');
  const request = Buffer.alloc(${REQUEST_BYTES}, 'q');
  const gapMs = ${(1000 * o.connections) / o.rate};
  const end = Date.now() + ${o.durationS * 1000};
  let exchanges = 0, open = ${o.connections};
  for (let c = 0; c < ${o.connections}; c++) {
    const s = net.connect(${STEADY_PORT}, ${JSON.stringify(address)});
    let received = 0, next = Date.now();
    const send = () => {
      if (Date.now() >= end) { s.end(); return; }
      next += gapMs;
      s.write(request);
    };
    s.on('connect', send);
    s.on('data', (d) => {
      received += d.length;
      while (received >= ${RESPONSE_BYTES}) {
        received -= ${RESPONSE_BYTES};
        exchanges++;
        setTimeout(send, Math.max(0, next - Date.now()));
      }
    });
    s.on('error', (e) => { console.error(e.message); process.exit(1); });
    s.on('close', () => {
      if (--open === 0) {
        console.log(JSON.stringify({ exchanges }));
        setTimeout(() => {}, ${2 * o.intervalS * 1000});
      }
    });
  }`;

/** The edges bench chaos must find out of its two clients, as `client_edges` lists them. */
export function expectedClientEdges(): string[] {
  return [
    `churn client -> churn server :${CHURN_PORT} (tuple)`,
    `steady client -> steady server :${STEADY_PORT} (tuple)`,
  ];
}

const MB = 2 ** 20;
const round1 = (x: number) => Math.round(x * 10) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The numbers of the agent's exit summary (cli/commands/agent.ts). */
export function parseAgentExitSummary(output: string) {
  const m =
    /stopped after (\d+) batches: (\d+) stored, (\d+) already stored, (\d+) rejected, (\d+) not acknowledged \(lost at exit\), (\d+) dropped from a full spool/.exec(
      output,
    );
  if (!m) throw new Error(`the agent did not print its exit summary: ${output.slice(-400)}`);
  const [made, stored, duplicates, rejected, unacknowledged, spoolDropped] = m
    .slice(1)
    .map(Number) as [number, number, number, number, number, number];
  return { made, stored, duplicates, rejected, unacknowledged, spoolDropped };
}

function storeCounts(dataDir: string, node: string) {
  const db = new Database(join(dataDir, 'tollgate.db'), { readonly: true });
  try {
    const one = (sql: string, ...params: unknown[]) =>
      (db.prepare(sql).get(...params) as { n: number }).n;
    return {
      batches: one('SELECT COUNT(*) AS n FROM batches WHERE agent_id = ?', node),
      ends: one('SELECT COUNT(*) AS n FROM ends'),
      processes: one('SELECT COUNT(*) AS n FROM processes'),
    };
  } finally {
    db.close();
  }
}

export async function benchChaos(
  options: ChaosBenchOptions = DEFAULT_CHAOS_BENCH,
  log: (line: string) => void = () => {},
): Promise<ChaosBenchResult> {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: false, app: false },
    { name: 'server', service: 'server', meshed: false, app: false },
  ]);
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-bench-chaos-'));
  const grpcListen = `127.0.0.1:${await freePort()}`;
  let collector: CollectorProcess | undefined;
  let agent: AgentProcess | undefined;
  const peak = { agent: 0, collector: 0, runner: 0 };
  const sample = () => {
    peak.agent = Math.max(peak.agent, agent?.peakRss() ?? 0);
    peak.collector = Math.max(peak.collector, collector?.peakRss() ?? 0);
  };
  let sampler: NodeJS.Timeout | undefined;
  try {
    collector = await startCollectorProcess({ dataDir, grpcListen });
    agent = await startAgentProcess(collector.grpcTarget, options.intervalS);
    const runners = childrenOf(agent.pid);
    const mapMemory = () =>
      runners.flatMap((pid) => bpfMapsOf(pid)).reduce((n, m) => n + m.bytes, 0);
    const runnerRss = () => {
      for (const pid of runners) peak.runner = Math.max(peak.runner, readPeakRss(pid) ?? 0);
    };
    sampler = setInterval(() => {
      sample();
      runnerRss();
    }, 250);

    const server = lab.exec('server', 'steady server', process.execPath, [
      '-e',
      fixedExchangeServerScript(STEADY_PORT, SIZES),
    ]);
    await waitForLine(server, /^ready$/, 'steady server');
    const churnServer = lab.exec('server', 'churn server', process.execPath, [
      '-e',
      churnServerScript(CHURN_PORT),
    ]);
    await waitForLine(churnServer, /^ready$/, 'churn server');
    const address = lab.pod('server').address;
    const mapBytesBefore = mapMemory();
    const started = Date.now();

    log(
      `${options.connections} long-lived connections at ${options.rate}/s for ${options.durationS} s, ${options.churnConnections} short connections`,
    );
    const steady = lab.exec('client', 'steady client', process.execPath, [
      '-e',
      steadyClient(address, options),
    ]);
    const steadyDone = waitForLine(steady, /^\{/, 'steady client', (options.durationS + 60) * 1000);
    const churnStarted = Date.now();
    const churn = lab.exec('client', 'churn client', process.execPath, [
      '-e',
      churnClientScript({
        address,
        port: CHURN_PORT,
        count: options.churnConnections,
        concurrency: options.churnConcurrency,
        deadlineMs: 900_000,
      }),
    ]);
    const churnDone = waitForLine(churn, /^\{/, 'churn client', 960_000).then((line) => ({
      ...(JSON.parse(line) as { finished: number; failed: number }),
      seconds: (Date.now() - churnStarted) / 1000,
    }));

    // The chaos, spread evenly over the long-lived load.
    const events: ('kill' | 'stall')[] = Array.from(
      { length: options.collectorKills },
      () => 'kill',
    );
    if (options.stallS > 0) events.splice(Math.min(1, events.length), 0, 'stall');
    let kills = 0;
    for (const [i, event] of events.entries()) {
      const at = started + ((i + 1) * options.durationS * 1000) / (events.length + 1);
      await sleep(Math.max(0, at - Date.now()));
      sample();
      if (event === 'stall') {
        log(`collector stopped (SIGSTOP) for ${options.stallS} s`);
        collector.signal('SIGSTOP');
        await sleep(options.stallS * 1000);
        collector.signal('SIGCONT');
        continue;
      }
      const down = options.downS[kills % options.downS.length] ?? 0;
      log(`collector killed (SIGKILL), down for ${down} s`);
      collector.signal('SIGKILL');
      await collector.exited;
      kills++;
      await sleep(down * 1000);
      collector = await startCollectorProcess({ dataDir, grpcListen });
    }

    const exchanges = (JSON.parse(await steadyDone) as { exchanges: number }).exchanges;
    const churned = await churnDone;
    log(`churn: ${churned.finished} connections in ${churned.seconds.toFixed(0)} s`);
    const mapBytesAfter = mapMemory();
    const socketStatesAfter = mapEntries('sockets');
    // Both ends of every long-lived connection, and a few sockets of the machine's own.
    const socketStatesBound = 2 * options.connections + 64;
    // The last records reach a batch an interval later; the processes are still up.
    await sleep(3 * options.intervalS * 1000);
    sample();
    runnerRss();
    clearInterval(sampler);

    // The agent stops first: a graceful stop drains the kernel maps and ships every batch
    // it made, so the topology read next holds all of it (not what happened to arrive).
    const node = (await agent.status()).node;
    await agent.stop();
    const summary = parseAgentExitSummary(agent.output());
    agent = undefined;
    const programsLeft = tollgatePrograms().length;

    const finished = Date.now();
    const response = await fetch(
      `${collector.httpUrl}/api/topology?from=${started - 5000}&to=${finished + 5000}`,
    );
    if (!response.ok) throw new Error(`topology: HTTP ${response.status}`);
    const topology = (await response.json()) as Topology;
    await collector.stop();
    collector = undefined;
    const store = storeCounts(dataDir, node);

    const steadyEdge = edgeOf(topology, steady.pid!, STEADY_PORT);
    const counters: BytesCheck[] = [];
    const expect = (what: string, expected: number, reported: number | undefined) =>
      counters.push({ what, expected, reported: reported ?? -1 });
    expect('client sent', exchanges * REQUEST_BYTES, steadyEdge?.client?.bytesSent);
    expect('client received', exchanges * RESPONSE_BYTES, steadyEdge?.client?.bytesReceived);
    expect('server received', exchanges * REQUEST_BYTES, steadyEdge?.server?.bytesReceived);
    expect('server sent', exchanges * RESPONSE_BYTES, steadyEdge?.server?.bytesSent);
    const churnEdge = edgeOf(topology, churn.pid!, CHURN_PORT);
    const connects = churnEdge?.client?.connects ?? 0;
    const accepts = churnEdge?.server?.accepts ?? 0;
    // The topology of the two clients: one edge each, to its own server, joined on the
    // connections' tuples. Ephemeral ports are shared between the two (a million
    // connections reuse each one many times), so a join on ports alone would cross them.
    const names = new Map([
      [steady.pid, 'steady client'],
      [churn.pid, 'churn client'],
      [server.pid, 'steady server'],
      [churnServer.pid, 'churn server'],
    ]);
    const clientEdges = labelledEdges(
      topology,
      names,
      (source) => source === 'steady client' || source === 'churn client',
    ).map((e) => e.label);
    const topologyExact = JSON.stringify(clientEdges) === JSON.stringify(expectedClientEdges());

    const bytesExact = counters.every((c) => c.expected === c.reported);
    const churnExact =
      churned.failed === 0 && connects === churned.finished && accepts === churned.finished;
    const lost = summary.made - store.batches;
    return {
      batches_sent: summary.made,
      batches_acked: summary.stored + summary.duplicates + summary.rejected,
      batches_stored: store.batches,
      duplicates_dropped: summary.duplicates,
      lost,
      max_agent_rss_mb: round1(peak.agent / MB),
      max_collector_rss_mb: round1(peak.collector / MB),
      rejected: summary.rejected,
      spool_dropped: summary.spoolDropped,
      collector_kills: kills,
      collector_stall_s: options.stallS,
      long_lived: { exchanges, bytes_exact: bytesExact, counters },
      client_edges: clientEdges,
      churn: {
        connections: churned.finished,
        failed: churned.failed,
        connects_reported: connects,
        accepts_reported: accepts,
        exact: churnExact,
        kernel_map_bytes_before: mapBytesBefore,
        kernel_map_bytes_after: mapBytesAfter,
        socket_states_after: socketStatesAfter,
        socket_states_bound: socketStatesBound,
        connections_per_s: Math.round(churned.finished / churned.seconds),
      },
      store: { ends: store.ends, processes: store.processes },
      max_runner_rss_mb: round1(peak.runner / MB),
      programs_left: programsLeft,
      duration_s: Math.round((finished - started) / 1000),
      targets: {
        met: {
          nothing_lost: lost === 0 && summary.rejected === 0 && summary.spoolDropped === 0,
          bytes_exact: bytesExact,
          churn_exact: churnExact,
          socket_states_bounded: socketStatesAfter <= socketStatesBound,
          topology_exact: topologyExact,
        },
      },
    };
  } finally {
    clearInterval(sampler);
    await agent?.stop(5000);
    await collector?.stop(5000);
    await lab.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export function renderChaosBench(r: ChaosBenchResult): string {
  const m = r.targets.met;
  const mark = (ok: boolean) => (ok ? 'ok' : 'MISSED');
  return [
    `chaos: ${r.collector_kills} collector SIGKILLs and a ${r.collector_stall_s} s stall in ${r.duration_s} s`,
    `  batches          ${r.batches_sent} made, ${r.batches_acked} acknowledged, ${r.batches_stored} stored, ${r.duplicates_dropped} duplicates dropped, ${r.lost} lost  [${mark(m.nothing_lost)}]`,
    `  long-lived bytes ${r.long_lived.exchanges} exchanges, exact: ${r.long_lived.bytes_exact}  [${mark(m.bytes_exact)}]`,
    `  churn            ${r.churn.connections} connections (${r.churn.connections_per_s}/s): ${r.churn.connects_reported} connects, ${r.churn.accepts_reported} accepts reported  [${mark(m.churn_exact)}]`,
    `  kernel maps      ${r.churn.kernel_map_bytes_before} bytes before, ${r.churn.kernel_map_bytes_after} after; ${r.churn.socket_states_after} socket states left (at most ${r.churn.socket_states_bound})  [${mark(m.socket_states_bounded)}]`,
    `  peak memory      agent ${r.max_agent_rss_mb} MB, runner ${r.max_runner_rss_mb} MB, collector ${r.max_collector_rss_mb} MB`,
    `  topology         ${r.client_edges.join('; ')}  [${mark(m.topology_exact)}]`,
    `  store            ${r.store.ends} ends, ${r.store.processes} processes`,
  ].join('\n');
}
