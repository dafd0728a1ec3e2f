// Writes one validated batch into SQLite: its agent, processes, peer names and pods' mesh
// signs, a series row for each edge, hop, resource sample and agent cost report
// (report-rows.ts; packed into one raw row per kind, packed-rows.ts), the connection
// tuples that join ends, and the batch's identity that drops its replays. The caller
// holds the transaction.
import type {
  AgentCost,
  Batch,
  EdgeReport,
  HopReport,
  ProcessIdentity,
  ResourceSample,
} from '../../proto/gen/tollgate/v1.js';
import { clockStepBack } from '../model/batch-interval.js';
import { processId } from '../model/ids.js';
import type { Row } from './aggregate.js';
import { ConnectionJoin } from './connection-join.js';
import {
  type AgentCpuLast,
  agentCpuDelta,
  type ProcessCpuLast,
  processCpuDelta,
} from './cpu-deltas.js';
import { RawPacker } from './packed-rows.js';
import {
  agentCostRow,
  endHistograms,
  endIdentity,
  endRow,
  endValues,
  hopDirection,
  hopRow,
  podSignsUpsert,
  resourceRow,
  socketPodId,
} from './report-rows.js';
import type { Rollups } from './rollup.js';
import { SERIES, type SeriesKind } from './series.js';
import type { SeriesTables } from './series-tables.js';
import type { SessionRows } from './session-rows.js';
import type { Statements } from './statements.js';
import { bucketStart } from './tiers.js';

type StoredProcess = { id: number; identity: ProcessIdentity };

/**
 * How stale an end's last_seen_ms may be: an end seen again within this long of the
 * sighting last written is not written again. Only retention reads it (hours and more),
 * and skipping the upsert of an end already known is a third of an edge report's cost.
 */
export const END_SEEN_RESOLUTION_MS = 60_000;

/** Ends remembered (their id and the sighting last written) before the memory starts afresh. */
const END_CACHE_LIMIT = 200_000;

export class BatchWriter {
  /**
   * Ends written, by their identity: the id and last_seen_ms the store holds. Only true of
   * committed transactions and rows retention has not deleted: the store calls `forget`
   * when a commit fails and after pruning.
   */
  private readonly ends = new Map<string, { id: number; seen: number }>();

  /** The join of connections' two ends (connection-join.ts). */
  private readonly join: ConnectionJoin;

  /** The batch being written's raw rows, by kind: one packed row each at its end. */
  private readonly packers = new Map<SeriesKind['name'], RawPacker>(
    SERIES.map((kind) => [kind.name, new RawPacker(kind)]),
  );
  /** An edge report's counters in column order, refilled for each (endValues). */
  private readonly endNumbers: number[] = [];

  constructor(
    private readonly statements: Statements,
    private readonly series: SeriesTables,
    private readonly rollups: Rollups,
    private readonly sessions: SessionRows,
    joinTuples?: number,
  ) {
    this.join = new ConnectionJoin(statements, joinTuples);
  }

  /**
   * Forgets what it remembers of the stored rows after pruning (see `ends`; and the
   * join's links and its tuples past the window: those in it belong to ends seen in it,
   * which pruning keeps).
   */
  forget(nowMs: number): void {
    this.ends.clear();
    this.join.pruned(nowMs);
  }

  /** Tuples the join's memory dropped inside their window (ConnectionJoin.evicted). */
  get tuplesEvicted(): number {
    return this.join.evicted;
  }

  /** Forgets what it remembers of rows a failed commit took with it: ends, tuples and links. */
  rolledBack(): void {
    this.ends.clear();
    this.join.forget();
  }

  write(batch: Batch, nowMs: number): void {
    const s = this.statements;
    // A batch that failed part way left its rows here.
    for (const packer of this.packers.values()) packer.reset();
    this.sessions.addLoadReports(batch);
    const seen = batch.intervalEndUnixMs || nowMs;
    // Rows are keyed by the interval's start; one that ends before it starts (the agent's
    // clock stepped back) is kept at its end, on the clock its next intervals follow.
    const start = clockStepBack(batch) ? seen : batch.intervalStartUnixMs || seen;
    const bucket = bucketStart(start, 1000);
    const cost = batch.agentCost;
    const agent = (
      s.upsertAgent.get({
        agentId: batch.agentId,
        node: batch.node,
        bootId: batch.bootId,
        version: '',
        nodeInfo: '{}',
        cost: cost ? JSON.stringify(cost) : null,
        now: nowMs,
      }) as { id: number }
    ).id;

    // By pid, then start time: looked up once per report, where a process id string made
    // for each was a cost of its own.
    const processes = new Map<number, Map<number, StoredProcess>>();
    for (const identity of batch.processes) {
      const key = processId(batch.node, identity.ref);
      const row = s.upsertProcess.get({
        key,
        node: batch.node,
        pid: identity.ref?.pid ?? 0,
        start: identity.ref?.startTimeTicks ?? 0,
        identity: JSON.stringify(identity),
        seen,
      }) as { id: number };
      const pid = identity.ref?.pid ?? 0;
      let byStart = processes.get(pid);
      if (!byStart) {
        byStart = new Map();
        processes.set(pid, byStart);
      }
      byStart.set(identity.ref?.startTimeTicks ?? 0, { id: row.id, identity });
    }
    const processOf = (ref: ProcessIdentity['ref']) => {
      const found = processes.get(ref?.pid ?? 0)?.get(ref?.startTimeTicks ?? 0);
      if (!found) throw new Error(`batch refers to process ${ref?.pid} it does not describe`);
      return found;
    };

    for (const peer of batch.peers)
      s.upsertPeerName.run(
        peer.address,
        peer.kind === 'PEER_KIND_SERVICE' ? 'service' : 'pod',
        peer.namespace,
        peer.name,
        seen,
      );
    for (const signs of batch.podSigns) s.upsertPodSigns.run(podSignsUpsert(signs, seen));
    for (const edge of batch.edges)
      this.writeEdge(batch.node, edge, processOf(edge.process), bucket, seen);
    for (const hop of batch.hops) this.writeHop(hop, processOf(hop.process).id, bucket);
    for (const sample of batch.resources)
      this.writeResource(sample, processOf(sample.process).id, bucket, seen);
    if (cost) this.writeAgentCost(agent, batch.bootId, cost, bucket);
    this.join.endBatch(seen);
    for (const packer of this.packers.values()) this.series.insert(bucket, batch.node, packer);
    s.insertBatch.run(
      batch.agentId,
      batch.bootId,
      batch.sequence,
      nowMs,
      seen,
      batch.edges.length + batch.hops.length + batch.resources.length,
    );
  }

  private writeEdge(
    node: string,
    edge: EdgeReport,
    process: StoredProcess,
    bucket: number,
    seen: number,
  ): void {
    const { side, local, remote, port, socketPod } = endIdentity(edge);
    const endKey = `${process.id}\t${side}\t${local}\t${remote}\t${port}\t${socketPod}`;
    let end = this.ends.get(endKey);
    if (!end || seen - end.seen >= END_SEEN_RESOLUTION_MS) {
      const { id } = this.statements.upsertEnd.get({
        process: process.id,
        side,
        local,
        remote,
        port,
        socketPod,
        seen,
      }) as { id: number };
      if (this.ends.size >= END_CACHE_LIMIT) this.ends.clear();
      end = { id, seen: Math.max(seen, end?.seen ?? seen) };
      this.ends.set(endKey, end);
    }
    const endId = end.id;
    // The edge's numbers straight into its packed row: a row object of 30 columns per
    // report was a tenth of ingest's time. Only a late one needs it, for its rollups.
    endValues(edge, this.endNumbers);
    this.packers.get('end')!.addValues(endId, this.endNumbers, endHistograms(edge));
    if (this.rollups.isLate(bucket)) this.rollups.addLate('end', endId, bucket, endRow(edge));
    this.join.join(edge, { id: endId, side, node, netnsInode: process.identity.netnsInode }, seen);
  }

  private writeHop(hop: HopReport, process: number, bucket: number): void {
    const sid = (
      this.statements.upsertHopSeries.get(
        process,
        hopDirection(hop),
        socketPodId(hop.socketPod),
      ) as {
        id: number;
      }
    ).id;
    this.writeSeries('hop', sid, bucket, hopRow(hop));
  }

  private writeResource(sample: ResourceSample, process: number, bucket: number, seen: number) {
    const s = this.statements;
    const cpu = sample.cpuUserNs + sample.cpuSystemNs;
    const last = s.resourceLast.get(process) as ProcessCpuLast | undefined;
    const delta = processCpuDelta(cpu, seen, last, sample.startedInInterval);
    this.writeSeries('resource', process, bucket, resourceRow(sample, delta.cpuNs));
    if (delta.advance) s.setResourceLast.run(process, cpu, seen);
  }

  private writeAgentCost(agent: number, bootId: string, cost: AgentCost, bucket: number): void {
    const s = this.statements;
    const delta = agentCpuDelta(cost, bootId, s.agentLast.get(agent) as AgentCpuLast | undefined);
    this.writeSeries('agent', agent, bucket, agentCostRow(cost, delta));
    s.setAgentLast.run(agent, bootId, cost.agentCpuNs, cost.runnerCpuNs);
  }

  /**
   * A raw row, kept for its batch's packed row of its kind (written at the batch's end),
   * and for a late batch also gathered for the rollups its bucket was already rolled into.
   */
  private writeSeries(name: SeriesKind['name'], sid: number, bucket: number, row: Row): void {
    this.packers.get(name)!.addRow(sid, row);
    this.rollups.addLate(name, sid, bucket, row);
  }
}
