// `tollgate demo`: builds the bookinfo lab, loads its chains in turns (the meshed one,
// with sidecars or in the ambient mesh, and the plain one; or for compare all three),
// samples every app and mesh proxy before and after, and summarises; once, or round after
// round until stopped (the CLI in a terminal, until Ctrl-C). The lab is torn down
// whatever happens.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadOptions, LoadResult } from '../daemonset/load/load.js';
import { interleavedTurns, spanS } from '../daemonset/load/schedule.js';
import { type ProcessResources, readProcessResources } from '../daemonset/proc-resources.js';
import { newLocalCredentials, startEmbedded, viewerLink } from '../embedded/embedded.js';
import type { PodCost, Topology } from '../proto/api.js';
import { type Waterfall, waterfall } from '../web/src/model/waterfall.js';
import {
  bookinfoPods,
  type ChainLayout,
  type ChainMesh,
  type ChainPrefix,
  chainEntry,
  demoChains,
  LOADGEN_POD,
  meshPath,
} from './bookinfo.js';
import { type CompareSummary, compareSummary } from './demo-compare-summary.js';
import {
  type DemoSummary,
  type NodeProxyMeasurement,
  type PodMeasurement,
  summarize,
} from './demo-summary.js';
import { Lab, type LabPod, NODE_PROXY_POD } from './lab.js';

export type DemoMode = 'sidecar' | 'ambient' | 'compare';
export const DEMO_MODES: readonly DemoMode[] = ['sidecar', 'ambient', 'compare'];

export type AnyDemoSummary = DemoSummary | CompareSummary;

/**
 * The chains take turns of about this long, interleaved, rather than all loaded at once:
 * at once, the mesh's CPU slows the unmeshed chain too, which shrinks the end-to-end
 * difference the sidecars' sum is checked against (on a slow day of this 2-core VM the
 * sum of their means came out 40-77% over it, 3-25% in turns; docs/demo-runs.md).
 */
const DEMO_TURN_S = 1.5;
/** Between turns, for the replies still out (the chains' p99 is tens of ms under load). */
const DEMO_GAP_S = 0.25;
/** Time for the load generators' processes to come up before their schedules start. */
const GENERATOR_START_MS = 2500;

export interface DemoOptions {
  /** The meshed chain with sidecars (the default) or in the ambient mesh, or all three ways. */
  mode?: DemoMode;
  /** Seconds of load per summary. */
  durationS: number;
  rate: number;
  /**
   * Stops the run early (the round under way is left unfinished) and tears everything
   * down; the caller then owns SIGINT, SIGTERM and SIGHUP. Without it the lab handles them.
   */
  signal?: AbortSignal;
  /** Round after round, each summary handed here, until `signal` aborts. Without it, one round. */
  onSummary?: (summary: AnyDemoSummary) => void;
  /** HTTP port of the web viewer and API while the demo runs (0: any free port). */
  port: number;
  /** Progress lines (stderr in the CLI). */
  log: (line: string) => void;
}

function sample(pid: number | undefined, what: string): ProcessResources {
  const resources = pid === undefined ? undefined : readProcessResources(pid);
  if (!resources) throw new Error(`${what} is not running`);
  return resources;
}

function describeLab(chains: ChainLayout): string {
  const pods = 1 + 4 * chains.length;
  const parts = chains.map((c) =>
    c.mesh === 'sidecar'
      ? 'haproxy sidecars in 4 of them'
      : c.mesh === 'ambient'
        ? '4 enrolled in an ambient mesh (a node proxy in a pod of its own)'
        : '4 plain',
  );
  return `${pods} pods in network namespaces, ${parts.join(', ')}`;
}

/** A chain's entry and what a request crosses there, for the log. */
function describeChain(c: ChainLayout[number]): string {
  if (c.mesh === 'plain') return `${chainEntry(c.prefix)} (no mesh)`;
  const proxy = c.mesh === 'sidecar' ? 'sidecar' : 'node proxy';
  return `${chainEntry(c.prefix)} (${meshPath(c.prefix).length} ${proxy} crossings)`;
}

/** The last summary; null when stopped before the first round ended. */
export async function runDemo(options: DemoOptions): Promise<AnyDemoSummary | null> {
  const mode = options.mode ?? 'sidecar';
  const chains = demoChains(mode);
  options.log(`building the lab: ${describeLab(chains)}`);
  const lab = await Lab.create(bookinfoPods(chains), { handleSignals: !options.signal });
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-demo-'));
  let tollgate: Awaited<ReturnType<typeof startEmbedded>> | undefined;
  try {
    const intervalMs = 500;
    const credentials = newLocalCredentials();
    tollgate = await startEmbedded({
      database: join(dataDir, 'tollgate.db'),
      httpPort: options.port,
      grpcPort: 0,
      intervalMs,
      credentials,
    });
    const webUrl = tollgate.collector.httpUrl;
    options.log(`tollgate up: web viewer on ${viewerLink(webUrl, credentials)}`);
    // The apps' pods (not the load generator's, nor the mesh's own, such as the node proxy's).
    const pods = [...lab.pods.values()].filter((p) => p.appPid !== undefined);
    const snapshot = (p: LabPod) => ({
      app: sample(p.appPid, `app of ${p.name}`),
      sidecar: p.mesh === 'sidecar' ? sample(p.sidecarPid, `sidecar of ${p.name}`) : undefined,
    });
    // The node proxy serves every ambient pod: sampled once, not once per pod. Its worker
    // is the process that serves; the demo enrolls its pods at creation, so it never
    // reloads (which would start a new worker) during a round.
    const nodeProxyPid = () => lab.nodeProxyProcess()?.workerPid;
    const embedded = tollgate;
    // The chains take turns, interleaved (see DEMO_TURN_S): each loaded for the round's
    // duration in all, one at a time.
    const turns = interleavedTurns(chains.length, options.durationS, DEMO_TURN_S, DEMO_GAP_S);
    const round = async (last: boolean): Promise<AnyDemoSummary> => {
      const before = new Map(pods.map((p) => [p.name, snapshot(p)]));
      const proxyPid = nodeProxyPid();
      const proxyBefore = proxyPid === undefined ? undefined : sample(proxyPid, 'the node proxy');
      // Each generator is a process of its own: they start in step, once all are up.
      const startAtMs = Date.now() + GENERATOR_START_MS;
      const load = (prefix: ChainPrefix, k: number): LoadOptions => ({
        // The entry pod's service is named as the pod.
        url: lab.serviceUrls(chainEntry(prefix))[0]!,
        rate: options.rate,
        durationS: options.durationS,
        turnsS: turns[k]!,
        startAtMs,
        connections: 8,
        timeoutMs: 5000,
        // The end-to-end figures count from each request's issue (demo-summary's issued).
        countFromIssue: true,
      });
      const [from, to] = turns[0]![0]!;
      const lastEndS = Math.max(...turns.map((t) => spanS(options.durationS, t)));
      options.log(
        `lab ${lab.id} up; ${options.rate} req/s for ${options.durationS} s into each of ` +
          `${chains.map(describeChain).join(', ')}, taking turns of ${(to - from).toFixed(1)} s ` +
          `(${Math.ceil(GENERATOR_START_MS / 1000 + lastEndS)} s in all)`,
      );
      const loadStartMs = Date.now();
      const results = await Promise.all(
        chains.map((c, k) => lab.load(LOADGEN_POD, load(c.prefix, k))),
      );
      for (const [k, r] of results.entries())
        if ((r.startLateMs ?? 0) > DEMO_GAP_S * 1000)
          options.log(
            `the load of ${describeChain(chains[k]!)} started ${Math.round(r.startLateMs!)} ms late: its turns overlapped the other chains'`,
          );
      const loads = new Map<ChainMesh, LoadResult>(chains.map((c, i) => [c.mesh, results[i]!]));
      // Let the last interval reach the collector, then read what Tollgate measured.
      await new Promise((r) => setTimeout(r, 2 * intervalMs));
      const agentStatus = embedded.agent.status();
      if (last) await embedded.agent.stop();
      const range = { fromMs: loadStartMs - intervalMs, toMs: Date.now() + intervalMs };
      const profile = await embedded.collector.queries.view(range);
      const agentView = (await embedded.collector.queries.agents(range))[0];
      const measurements: PodMeasurement[] = [];
      for (const p of pods) {
        const after = snapshot(p);
        const start = before.get(p.name)!;
        measurements.push({
          name: p.name,
          builtAs: p.mesh ?? 'plain',
          requests: (await lab.appStats(p.name)).requests,
          app: { before: start.app, after: after.app },
          ...(start.sidecar && after.sidecar
            ? { sidecar: { before: start.sidecar, after: after.sidecar } }
            : {}),
          profile: profile.costs.find((c) => c.name === p.netns),
        });
      }
      let nodeProxy: NodeProxyMeasurement | undefined;
      if (proxyPid !== undefined && proxyBefore) {
        if (nodeProxyPid() !== proxyPid)
          throw new Error('the node proxy reloaded during the round');
        nodeProxy = {
          pod: NODE_PROXY_POD,
          pid: proxyPid,
          usage: { before: proxyBefore, after: sample(proxyPid, 'the node proxy') },
        };
      }
      const agent = {
        millicores: agentView?.millicores ?? null,
        rssMb: agentView?.rssMb ?? null,
        lostEvents:
          agentStatus.lost.kernelMapFull +
          agentStatus.lost.kernelBufferFull +
          agentStatus.shipper.spoolDropped +
          agentStatus.shipper.rejected,
      };
      if (mode === 'compare') {
        const run = (mesh: ChainMesh) => {
          const prefix = chains.find((c) => c.mesh === mesh)!.prefix;
          return {
            prefix,
            load: loads.get(mesh)!,
            pods: measurements.filter((m) => m.builtAs === mesh),
            path: mesh === 'plain' ? [] : meshPath(prefix),
            entry: chainEntry(prefix),
          };
        };
        if (!nodeProxy) throw new Error('the ambient chain has no node proxy');
        return compareSummary({
          lab: lab.id,
          runs: { plain: run('plain'), sidecar: run('sidecar'), ambient: run('ambient') },
          nodeProxy,
          agent,
          webUrl,
        });
      }
      return summarize({
        lab: lab.id,
        mesh: mode,
        meshed: loads.get(mode)!,
        unmeshed: loads.get('plain')!,
        pods: measurements,
        agent,
        webUrl,
        path: meshPath(''),
        entry: chainEntry(''),
        nodeProxy,
        // The viewer's waterfall follows a request through pods' own proxies: sidecar mode.
        waterfall: mode === 'sidecar' ? requestWaterfall(profile, lab) : null,
      });
    };
    const stopped = new Promise<null>((resolve) => {
      if (options.signal?.aborted) resolve(null);
      options.signal?.addEventListener('abort', () => resolve(null), { once: true });
    });
    let latest: AnyDemoSummary | null = null;
    do {
      const next = round(!options.onSummary);
      // Stopped mid-round: the round fails as the lab goes; nothing waits for it.
      next.catch(() => {});
      const summary = await Promise.race([next, stopped]);
      if (!summary) break;
      latest = summary;
      options.onSummary?.(summary);
    } while (options.onSummary && !options.signal?.aborted);
    return latest;
  } finally {
    await tollgate
      ?.stop()
      .catch((error: Error) => options.log(`stopping tollgate: ${error.message}`));
    rmSync(dataDir, { recursive: true, force: true });
    const problems = lab.destroy();
    for (const problem of problems) options.log(`cleanup: ${problem}`);
  }
}

/** Where a request of the meshed chain's time goes, as the viewer draws it. */
function requestWaterfall(
  profile: { topology: Topology; costs: readonly PodCost[] },
  lab: Lab,
): Waterfall | null {
  // The meshed chain's pods as the collector names them (by network namespace here).
  const podId = (name: string) =>
    profile.topology.pods.find((p) => p.name === lab.pods.get(name)?.netns)?.id;
  const chainPods = [LOADGEN_POD, chainEntry(''), 'catalog-1', 'ratings'].map(podId);
  return chainPods.every((id) => id !== undefined)
    ? waterfall({
        pods: chainPods as string[],
        edges: profile.topology.edges,
        processes: new Map(profile.topology.processes.map((p) => [p.id, p])),
        costs: new Map(profile.costs.map((c) => [c.pod, c])),
      })
    : null;
}
