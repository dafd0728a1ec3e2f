// A stopped session's result, frozen: the SessionExport made from the store's data of the
// session's window and target (results.ts does the maths), its agents' load reports
// merged, and the mesh, data plane and environment it ran in, stored with the row; or,
// when it cannot be made, the row marked failed with why. The manager decides when to
// freeze.
import { type LoadResult, SessionExport } from '../../proto/gen/tollgate/v1.js';
import { emptyHistogram, merge, type SparseHistogram } from '../../proto/histogram.js';
import { compileTarget } from '../../proto/target.js';
import { TOLLGATE_VERSION } from '../../proto/version.js';
import type { Queries } from '../queries.js';
import type { CollectorStore } from '../store/collector-store.js';
import type { SessionRow } from '../store/session-rows.js';
import { detectMesh, environment, meshConfig, meshDataplane } from './environment.js';
import { sessionResults } from './results.js';
import { FORMAT_VERSION, SMP_VERSION } from './session-file.js';
import { fullTarget } from './spec-validation.js';
import type { StoredSpec } from './stored-session.js';

export interface ResultSources {
  store: CollectorStore;
  queries: Queries;
}

/** Computes the session's result up to `endMs` and stores it: stopped, or failed. */
export async function freezeResult(
  sources: ResultSources,
  row: SessionRow,
  spec: StoredSpec,
  endMs: number,
): Promise<void> {
  try {
    const result = await computeResult(sources, row, spec, endMs);
    await sources.store.sessions.update(row.id, {
      state: 'stopped',
      endMs,
      result: SessionExport.encode(result),
      error: null,
    });
  } catch (error) {
    await sources.store.sessions.update(row.id, {
      state: 'failed',
      endMs,
      result: null,
      error: (error as Error).message,
    });
  }
}

async function computeResult(
  { store, queries }: ResultSources,
  row: SessionRow,
  spec: StoredSpec,
  endMs: number,
): Promise<SessionExport> {
  const target = fullTarget(spec.target);
  const compiled = compileTarget(target);
  const view = await queries.view({ fromMs: row.startMs, toMs: endMs }, endMs);
  const reports = await store.sessions.loadReports(row.id);
  let latency: SparseHistogram = emptyHistogram();
  let requests = 0;
  let errors = 0;
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (const { report } of reports) {
    if (report.latency) latency = merge(latency, report.latency as SparseHistogram);
    requests += report.requests;
    errors += report.errors;
    if (report.startUnixMs > 0) first = Math.min(first, report.startUnixMs);
    last = Math.max(last, report.endUnixMs);
  }
  const load: LoadResult | undefined =
    spec.loadAgents.length > 0
      ? {
          latency,
          requests,
          errors,
          agentsOrdered: spec.loadAgents.length,
          agentsReported: new Set(reports.map((r) => r.agentId)).size,
        }
      : undefined;
  const results = sessionResults({
    view,
    target: compiled,
    load,
    loadSeconds: last > first ? (last - first) / 1000 : undefined,
  });
  // The mesh from the proxies carrying the target's traffic: sidecars, and the shared
  // node proxies and waypoints (which vote for the mesh but are no sidecars).
  const carriersOf = (shared: boolean) => [
    ...new Set(
      results.carriers.filter((c) => (c.kind !== 'sidecar') === shared).map((c) => c.process),
    ),
  ];
  const seen = (await store.agents()).filter((a) => a.lastSeenMs >= row.startMs);
  return {
    formatVersion: FORMAT_VERSION,
    smpVersion: SMP_VERSION,
    id: row.id,
    name: row.name,
    labels: spec.labels ?? {},
    startUnixMs: row.startMs,
    endUnixMs: endMs,
    target,
    meshConfig: meshConfig(detectMesh(carriersOf(false), carriersOf(true)), spec.mesh),
    environment: environment({
      agents: seen,
      workloads: results.workloads,
      version: TOLLGATE_VERSION,
      given: { kubernetesVersion: spec.kubernetesVersion },
    }),
    load: {
      generator: spec.load
        ? spec.load.urls?.length
          ? 'tollgate'
          : (spec.load.generator ?? '')
        : '',
      rps: spec.load?.rps ?? 0,
      connections: spec.load?.connections ?? 0,
      durationS: spec.load?.durationS ?? 0,
    },
    latenciesMs: results.latenciesMs,
    actualQps: results.actualQps,
    sidecars: results.sidecars,
    tollgate: {
      pods: results.pods,
      edges: results.edges,
      load,
      latencySource: results.latencySource,
      dataplane: meshDataplane(results.pods, results.carriers),
    },
  };
}
