// Answers the API's questions from the store: reads a range's rows, hands them to the
// pure model (topology, sidecar cost) and shapes the result. No HTTP here.

import type { AgentView, EdgeDetail, PodCost, PodDetail, Topology } from '../proto/api.js';
import { emptyHistogram, merge } from '../proto/histogram.js';
import { podId } from './model/ids.js';
import { type HopRecord, podCosts, podMeshHops } from './model/sidecar-cost.js';
import {
  buildTopology,
  type EdgeEnds,
  type EndRecord,
  type ProcessRecord,
  summarize,
} from './model/topology.js';
import type { Aggregate } from './store/aggregate.js';
import type { CollectorStore } from './store/collector-store.js';
import type { ReadBudget } from './store/read-budget.js';

export interface TimeRange {
  fromMs: number;
  toMs: number;
}

export interface RangeView {
  topology: Topology;
  costs: PodCost[];
  edgeEnds: EdgeEnds;
  hops: HopRecord[];
  ends: EndRecord[];
  /** Each process's CPU and memory over the range, by process id. */
  resources: Map<string, Aggregate>;
}

/** Stored rows one request may read (RangeTooLarge past it). */
export const DEFAULT_MAX_ROWS_PER_REQUEST = 5_000_000;

export class Queries {
  constructor(
    private readonly store: CollectorStore,
    private readonly maxRowsPerRequest = DEFAULT_MAX_ROWS_PER_REQUEST,
  ) {}

  private budget(): ReadBudget {
    return { rows: this.maxRowsPerRequest, limit: this.maxRowsPerRequest };
  }

  /** The topology of a range with each pod's sidecar cost. */
  async view(range: TimeRange, nowMs = Date.now(), budget = this.budget()): Promise<RangeView> {
    const endRows = await this.store.read('end', range.fromMs, range.toMs, nowMs, budget);
    const hopRows = await this.store.read('hop', range.fromMs, range.toMs, nowMs, budget);
    const resourceRows = await this.store.read('resource', range.fromMs, range.toMs, nowMs, budget);
    const endInfo = await this.store.ends([...endRows.keys()]);
    const hopInfo = await this.store.hopSeries([...hopRows.keys()]);
    const processIds = new Set<number>([
      ...endInfo.map((e) => e.process),
      ...hopInfo.map((h) => h.process),
      ...resourceRows.keys(),
    ]);
    const processRows = await this.store.processes([...processIds]);
    const keyOf = new Map(processRows.map((p) => [p.id, p.key]));
    const processes: ProcessRecord[] = processRows.map((p) => ({
      key: p.key,
      node: p.node,
      identity: p.identity,
    }));
    const ends: EndRecord[] = endInfo.map((e) => ({
      id: e.id,
      processKey: keyOf.get(e.process)!,
      side: e.side,
      localAddress: e.localAddress,
      remoteAddress: e.remoteAddress,
      port: e.port,
      socketPod: e.socketPod,
      metrics: endRows.get(e.id)!,
    }));
    const links = await this.store.links(endInfo.map((e) => e.id));
    const peerNames = await this.store.peerNames(endInfo.map((e) => e.remoteAddress));
    const podSigns = await this.store.podSigns(
      processes.flatMap(({ identity: { pod } }) =>
        pod?.name ? [podId(pod.namespace, pod.name)] : [],
      ),
    );
    const { topology, edgeEnds } = buildTopology({
      ...range,
      processes,
      ends,
      links,
      peerNames,
      podSigns,
    });
    const hops: HopRecord[] = hopInfo.map((h) => ({
      processKey: keyOf.get(h.process)!,
      direction: h.direction,
      socketPod: h.socketPod,
      metrics: hopRows.get(h.id)!,
    }));
    const resources = new Map<string, Aggregate>();
    for (const [id, aggregate] of resourceRows) resources.set(keyOf.get(id)!, aggregate);
    const multiplexedEnds = new Set(
      topology.edges
        .filter((e) => e.multiplexed)
        .flatMap((e) => {
          const both = edgeEnds.get(e.id);
          return [...(both?.client ?? []), ...(both?.server ?? [])].map((end) => end.id);
        }),
    );
    const costs = podCosts({
      ...range,
      pods: topology.pods,
      processes: topology.processes,
      ends,
      hops,
      resources,
      multiplexedEnds,
    });
    return { topology, costs, edgeEnds, hops, ends, resources };
  }

  /** A pod's detail, or undefined when the range has no such pod. */
  async pod(
    namespace: string,
    name: string,
    range: TimeRange,
    nowMs = Date.now(),
  ): Promise<PodDetail | undefined> {
    const v = await this.view(range, nowMs);
    const pod = v.topology.pods.find((p) => p.namespace === namespace && p.name === name);
    const cost = v.costs.find((c) => c.pod === pod?.id);
    if (!pod || !cost) return undefined;
    const processes = new Map(v.topology.processes.map((p) => [p.id, p]));
    const added = (direction: HopRecord['direction']) =>
      podMeshHops(pod, processes, v)
        .filter((h) => h.direction === direction)
        .reduce((h, x) => merge(h, x.metrics.hists.added!), emptyHistogram());
    return {
      pod,
      cost,
      processes: v.topology.processes.filter((p) => p.pod === pod.id),
      addedHistograms: { inbound: added('inbound'), outbound: added('outbound') },
    };
  }

  async edge(
    id: string,
    range: TimeRange,
    stepMs: number,
    nowMs = Date.now(),
  ): Promise<EdgeDetail | undefined> {
    const budget = this.budget();
    const view = await this.view(range, nowMs, budget);
    const edge = view.topology.edges.find((e) => e.id === id);
    const ends = view.edgeEnds.get(id);
    if (!edge || !ends) return undefined;
    const hist = (list: readonly EndRecord[], column: string) =>
      list.reduce((h, e) => merge(h, e.metrics.hists[column]!), emptyHistogram());
    const overTime = async (list: readonly EndRecord[]) =>
      new Map(
        (
          await this.store.readSeries(
            'end',
            list.map((e) => e.id),
            range.fromMs,
            range.toMs,
            stepMs,
            nowMs,
            budget,
          )
        ).map((s) => [s.startMs, s.aggregate]),
      );
    const clientSteps = await overTime(ends.client);
    const serverSteps = await overTime(ends.server);
    const starts = [...new Set([...clientSteps.keys(), ...serverSteps.keys()])].sort(
      (a, b) => a - b,
    );
    const asEnd = (a: Aggregate | undefined, like: EndRecord | undefined): EndRecord[] =>
      a && like ? [{ ...like, metrics: a }] : [];
    // A multiplexed edge's send-to-reply times are no request's latency: none shown.
    const exchange = (list: readonly EndRecord[]) =>
      edge.multiplexed ? emptyHistogram() : hist(list, 'exchange_latency');
    return {
      edge,
      histograms: {
        clientExchange: exchange(ends.client),
        serverExchange: exchange(ends.server),
        connect: hist(ends.client, 'connect_latency'),
        srtt: hist([...ends.client, ...ends.server], 'srtt'),
      },
      series: starts.map((startMs) => ({
        startMs,
        client: summarize(asEnd(clientSteps.get(startMs), ends.client[0]), false, edge.multiplexed),
        server: summarize(asEnd(serverSteps.get(startMs), ends.server[0]), false, edge.multiplexed),
      })),
    };
  }

  async agents(range: TimeRange, nowMs = Date.now()): Promise<AgentView[]> {
    const rows = await this.store.read('agent', range.fromMs, range.toMs, nowMs, this.budget());
    const seconds = Math.max(1e-3, (range.toMs - range.fromMs) / 1000);
    return (await this.store.agents()).map((a) => {
      const r = rows.get(a.id);
      const mean = (column: string) =>
        r && r.sums.samples! > 0 ? r.sums[column]! / r.sums.samples! / 2 ** 20 : null;
      return {
        agentId: a.agentId,
        node: a.node,
        bootId: a.bootId,
        version: a.version,
        lastSeenMs: a.lastSeenMs,
        nodeInfo: a.nodeInfo,
        millicores: r ? r.sums.agent_cpu_ns! / 1e6 / seconds : null,
        runnerMillicores: r ? r.sums.runner_cpu_ns! / 1e6 / seconds : null,
        rssMb: mean('agent_rss_bytes_sum'),
        runnerRssMb: mean('runner_rss_bytes_sum'),
        latest: a.cost,
      };
    });
  }
}
