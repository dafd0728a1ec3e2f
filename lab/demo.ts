// `tollgate demo`: builds the bookinfo lab, loads the meshed and the unmeshed chain side
// by side, samples every app and sidecar before and after, and summarises; once, or round
// after round until stopped (the CLI in a terminal, until Ctrl-C). The lab is torn down
// whatever happens.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadOptions } from '../daemonset/load/load.js';
import { type ProcessResources, readProcessResources } from '../daemonset/proc-resources.js';
import { newLocalCredentials, startEmbedded, viewerLink } from '../embedded/embedded.js';
import { waterfall } from '../web/src/model/waterfall.js';
import {
  bookinfoPods,
  LOADGEN_POD,
  MESHED_ENTRY,
  MESHED_PATH,
  MESHED_SIDECAR_HOPS,
  PLAIN_ENTRY,
} from './bookinfo.js';
import { type DemoSummary, type PodMeasurement, summarize } from './demo-summary.js';
import { Lab, type LabPod } from './lab.js';

export interface DemoOptions {
  /** Seconds of load per summary. */
  durationS: number;
  rate: number;
  /**
   * Stops the run early (the round under way is left unfinished) and tears everything
   * down; the caller then owns SIGINT, SIGTERM and SIGHUP. Without it the lab handles them.
   */
  signal?: AbortSignal;
  /** Round after round, each summary handed here, until `signal` aborts. Without it, one round. */
  onSummary?: (summary: DemoSummary) => void;
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

/** The last summary; null when stopped before the first round ended. */
export async function runDemo(options: DemoOptions): Promise<DemoSummary | null> {
  options.log('building the lab: 9 pods in network namespaces, haproxy sidecars in 4 of them');
  const lab = await Lab.create(bookinfoPods(), { handleSignals: !options.signal });
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
    const pods = [...lab.pods.values()].filter((p) => p.appPid !== undefined);
    const snapshot = (p: LabPod) => ({
      app: sample(p.appPid, `app of ${p.name}`),
      sidecar: p.meshed ? sample(p.sidecarPid, `sidecar of ${p.name}`) : undefined,
    });
    const embedded = tollgate;
    const round = async (last: boolean): Promise<DemoSummary> => {
      const before = new Map(pods.map((p) => [p.name, snapshot(p)]));
      const load = (service: string): LoadOptions => ({
        url: lab.serviceUrls(service)[0]!,
        rate: options.rate,
        durationS: options.durationS,
        connections: 8,
        timeoutMs: 5000,
      });
      options.log(
        `lab ${lab.id} up; ${options.rate} req/s for ${options.durationS} s into frontend ` +
          `(${MESHED_SIDECAR_HOPS} sidecar hops) and into plain-frontend (none), at the same time`,
      );
      const loadStartMs = Date.now();
      const [meshed, unmeshed] = await Promise.all([
        lab.load(LOADGEN_POD, load(MESHED_ENTRY)),
        lab.load(LOADGEN_POD, load(PLAIN_ENTRY)),
      ]);
      // Let the last interval reach the collector, then read what Tollgate measured.
      await new Promise((r) => setTimeout(r, 2 * intervalMs));
      const agentStatus = embedded.agent.status();
      if (last) await embedded.agent.stop();
      const range = { fromMs: loadStartMs - intervalMs, toMs: Date.now() + intervalMs };
      const profile = embedded.collector.queries.view(range);
      // The meshed chain's pods as the collector names them (by network namespace here).
      const podId = (name: string) =>
        profile.topology.pods.find((p) => p.name === lab.pods.get(name)?.netns)?.id;
      const chainPods = [LOADGEN_POD, MESHED_ENTRY, 'catalog-1', 'ratings'].map(podId);
      const requestWaterfall = chainPods.every((id) => id !== undefined)
        ? waterfall({
            pods: chainPods as string[],
            edges: profile.topology.edges,
            processes: new Map(profile.topology.processes.map((p) => [p.id, p])),
            costs: new Map(profile.costs.map((c) => [c.pod, c])),
          })
        : null;
      const agentView = embedded.collector.queries.agents(range)[0];
      const measurements: PodMeasurement[] = [];
      for (const p of pods) {
        const after = snapshot(p);
        const start = before.get(p.name)!;
        measurements.push({
          name: p.name,
          meshed: p.meshed,
          requests: (await lab.appStats(p.name)).requests,
          app: { before: start.app, after: after.app },
          ...(start.sidecar && after.sidecar
            ? { sidecar: { before: start.sidecar, after: after.sidecar } }
            : {}),
          profile: profile.costs.find((c) => c.name === p.netns),
        });
      }
      return summarize(
        lab.id,
        meshed,
        unmeshed,
        measurements,
        {
          millicores: agentView?.millicores ?? null,
          rssMb: agentView?.rssMb ?? null,
          lostEvents:
            agentStatus.lost.kernelMapFull +
            agentStatus.lost.kernelBufferFull +
            agentStatus.shipper.spoolDropped +
            agentStatus.shipper.rejected,
        },
        webUrl,
        MESHED_PATH,
        requestWaterfall,
      );
    };
    const stopped = new Promise<null>((resolve) => {
      if (options.signal?.aborted) resolve(null);
      options.signal?.addEventListener('abort', () => resolve(null), { once: true });
    });
    let latest: DemoSummary | null = null;
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
