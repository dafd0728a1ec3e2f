// Writes a group of validated batches into PostgreSQL inside the caller's transaction,
// a statement per table for the whole group rather than per report: over a network
// a round trip per row would be most of the cost. Each batch's identity is claimed
// first, so a batch another collector is storing at the same moment waits for that
// commit and then reads as a duplicate: stored once, whichever replica got it. Rows of
// every table go in sorted by key, so two collectors' groups lock shared rows (ends,
// processes) in the same order and cannot deadlock on them.
import type pg from 'pg';
import { type Batch, LoadReport } from '../../../proto/gen/tollgate/v1.js';
import { clockStepBack } from '../../model/batch-interval.js';
import { processId, tupleScope } from '../../model/ids.js';
import type { CommitStatus } from '../collector-store.js';
import { TUPLE_WINDOW_MS } from '../connection-join.js';
import {
  type AgentCpuLast,
  agentCpuDelta,
  type ProcessCpuLast,
  processCpuDelta,
} from '../cpu-deltas.js';
import { type EndsRow, type HopSeriesRow, SIDE_CODE } from '../identity-rows.js';
import type { LateRows } from '../late-rows.js';
import {
  agentCostRow,
  endIdentity,
  endRow,
  hopDirection,
  hopRow,
  type PodSignsUpsert,
  podSignsUpsert,
  resourceRow,
  socketPodId,
} from '../report-rows.js';
import { SERIES, type SeriesKind } from '../series.js';
import { bucketStart, type Tier } from '../tiers.js';
import { LOCK, xactLock } from './pg-locks.js';
import { insertRaw, mergeInto, type SeriesRow } from './pg-series.js';

/** A batch's times as its rows are keyed (as the SQLite writer keys them). */
export function batchTimes(batch: Batch, nowMs: number): { seen: number; bucket: number } {
  const seen = batch.intervalEndUnixMs || nowMs;
  // One that ends before it starts (the agent's clock stepped back) is kept at its end.
  const start = clockStepBack(batch) ? seen : batch.intervalStartUnixMs || seen;
  return { seen, bucket: bucketStart(start, 1000) };
}

const batchKey = (b: Pick<Batch, 'agentId' | 'bootId' | 'sequence'>) =>
  `${b.agentId}\t${b.bootId}\t${b.sequence}`;

/** Entries of a map sorted by key: the order every statement writes its rows in. */
const sorted = <T>(map: Map<string, T>): T[] =>
  [...map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);

/** Reads how far each tier is rolled up. */
export async function readRolledTo(
  db: pg.ClientBase | pg.Pool,
): Promise<Map<Tier['name'], number>> {
  const rows = await db.query<{ tier: Tier['name']; rolled_to_ms: number }>(
    'SELECT tier, rolled_to_ms FROM rollups',
  );
  return new Map(rows.rows.map((r) => [r.tier, r.rolled_to_ms]));
}

export async function writeGroup(
  client: pg.ClientBase,
  batches: readonly Batch[],
  nowMs: number,
  late: LateRows,
): Promise<CommitStatus[]> {
  // The rollup marks, held still for this transaction (pg-locks.ts, rollupData).
  await client.query(xactLock(LOCK.rollupData, true));
  const rolledTo = await readRolledTo(client);

  // In key order, as every table here: two collectors claiming the same replays (an
  // agent that moved) then wait for each other rather than deadlock.
  const byKey = [...batches].sort((a, b) =>
    batchKey(a) < batchKey(b) ? -1 : batchKey(a) > batchKey(b) ? 1 : 0,
  );
  const claimed = await client.query<{ agent_id: string; boot_id: string; sequence: number }>(
    `INSERT INTO batches (agent_id, boot_id, sequence, stored_ms, interval_end_ms, records)
     SELECT a, b, s, $4, e, r FROM unnest($1::text[], $2::text[], $3::bigint[], $5::bigint[], $6::int[])
       AS v (a, b, s, e, r)
     ON CONFLICT DO NOTHING RETURNING agent_id, boot_id, sequence`,
    [
      byKey.map((b) => b.agentId),
      byKey.map((b) => b.bootId),
      byKey.map((b) => b.sequence),
      nowMs,
      byKey.map((b) => batchTimes(b, nowMs).seen),
      byKey.map((b) => b.edges.length + b.hops.length + b.resources.length),
    ],
  );
  // The first of a group's copies of one batch is the one stored.
  const unclaimed = new Set(
    claimed.rows.map((r) => batchKey({ ...r, agentId: r.agent_id, bootId: r.boot_id })),
  );
  const statuses = batches.map(
    (b): CommitStatus => (unclaimed.delete(batchKey(b)) ? 'stored' : 'duplicate'),
  );
  const stored = batches.filter((_, i) => statuses[i] === 'stored');
  if (stored.length === 0) return statuses;

  const agents = await writeAgents(client, stored, nowMs);
  const processes = await writeProcesses(client, stored, nowMs);
  await writeNames(client, stored, nowMs);

  const rows = new Map<SeriesKind['name'], SeriesRow[]>(SERIES.map((k) => [k.name, []]));
  const addRow = (name: SeriesKind['name'], row: SeriesRow) => {
    rows.get(name)!.push(row);
    late.add(name, row.sid, row.bucket, row.row, rolledTo);
  };
  const ends = await writeEnds(client, stored, processes, nowMs);
  const hops = await writeHopSeries(client, stored, processes);
  for (const batch of stored) {
    const { bucket } = batchTimes(batch, nowMs);
    const processOf = (ref: Batch['edges'][number]['process']) =>
      processes.get(processId(batch.node, ref))!.id;
    for (const edge of batch.edges)
      addRow('end', {
        bucket,
        sid: ends.get(endKey(processOf(edge.process), edge))!,
        row: endRow(edge),
      });
    for (const hop of batch.hops)
      addRow('hop', {
        bucket,
        sid: hops.get(hopKey(processOf(hop.process), hop))!,
        row: hopRow(hop),
      });
  }
  for (const row of await resourceRows(client, stored, processes, nowMs)) addRow('resource', row);
  for (const row of await agentRows(client, stored, agents, nowMs)) addRow('agent', row);
  for (const kind of SERIES) await insertRaw(client, kind, rows.get(kind.name)!);

  await writeLoadReports(client, stored);

  // Late rows into the rollups they missed, by one commit at a time (pg-locks.ts).
  const lateRows = late.take();
  if (lateRows.length > 0) {
    await client.query(xactLock(LOCK.lateMerge));
    const byTable = new Map<string, typeof lateRows>();
    for (const l of lateRows) {
      const key = `${l.kind.name}\0${l.tier.name}`;
      let list = byTable.get(key);
      if (!list) {
        list = [];
        byTable.set(key, list);
      }
      list.push(l);
    }
    for (const list of byTable.values())
      await mergeInto(client, list[0]!.kind, list[0]!.tier, list);
  }
  // Last, as it holds the other collectors' joins back until this commit is done.
  await joinConnections(client, stored, processes, ends, nowMs);
  return statuses;
}

type Processes = Map<string, { id: number; netnsInode: number }>;

async function writeAgents(
  client: pg.ClientBase,
  stored: readonly Batch[],
  nowMs: number,
): Promise<Map<string, number>> {
  const latest = new Map<string, Batch>();
  for (const b of stored) latest.set(b.agentId, b);
  const list = sorted(latest);
  const result = await client.query<{ id: number; agent_id: string }>(
    `INSERT INTO agents (agent_id, node, boot_id, version, node_info, cost, first_seen_ms, last_seen_ms)
     SELECT a, n, b, '', '{}', c, $5, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
       AS v (a, n, b, c)
     ON CONFLICT (agent_id) DO UPDATE SET node = excluded.node, boot_id = excluded.boot_id,
       cost = COALESCE(excluded.cost, agents.cost), last_seen_ms = excluded.last_seen_ms
     RETURNING id, agent_id`,
    [
      list.map((b) => b.agentId),
      list.map((b) => b.node),
      list.map((b) => b.bootId),
      list.map((b) => (b.agentCost ? JSON.stringify(b.agentCost) : null)),
      nowMs,
    ],
  );
  return new Map(result.rows.map((r) => [r.agent_id, r.id]));
}

async function writeProcesses(
  client: pg.ClientBase,
  stored: readonly Batch[],
  nowMs: number,
): Promise<Processes> {
  const all = new Map<
    string,
    {
      key: string;
      node: string;
      pid: number;
      start: number;
      identity: string;
      first: number;
      last: number;
      netnsInode: number;
    }
  >();
  for (const batch of stored) {
    const { seen } = batchTimes(batch, nowMs);
    for (const identity of batch.processes) {
      const key = processId(batch.node, identity.ref);
      const before = all.get(key);
      all.set(key, {
        key,
        node: batch.node,
        pid: identity.ref?.pid ?? 0,
        start: identity.ref?.startTimeTicks ?? 0,
        identity: JSON.stringify(identity),
        first: Math.min(seen, before?.first ?? seen),
        last: Math.max(seen, before?.last ?? seen),
        netnsInode: identity.netnsInode,
      });
    }
  }
  const list = sorted(all);
  const result = await client.query<{ id: number; key: string }>(
    `INSERT INTO processes (key, node, pid, start_ticks, identity, first_seen_ms, last_seen_ms)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[], $7::bigint[])
     ON CONFLICT (key) DO UPDATE SET identity = excluded.identity,
       last_seen_ms = GREATEST(processes.last_seen_ms, excluded.last_seen_ms),
       first_seen_ms = LEAST(processes.first_seen_ms, excluded.first_seen_ms)
     RETURNING id, key`,
    [
      list.map((p) => p.key),
      list.map((p) => p.node),
      list.map((p) => p.pid),
      list.map((p) => p.start),
      list.map((p) => p.identity),
      list.map((p) => p.first),
      list.map((p) => p.last),
    ],
  );
  const ids = new Map(result.rows.map((r) => [r.key, r.id]));
  const out: Processes = new Map();
  for (const p of list) out.set(p.key, { id: ids.get(p.key)!, netnsInode: p.netnsInode });
  // Validation refused batches that refer to processes they do not describe; say so if not.
  for (const batch of stored) {
    const described = new Set(batch.processes.map((p) => processId(batch.node, p.ref)));
    for (const report of [...batch.edges, ...batch.hops, ...batch.resources])
      if (!described.has(processId(batch.node, report.process)))
        throw new Error(`batch refers to process ${report.process?.pid} it does not describe`);
  }
  return out;
}

/** Names of remote addresses and pods' mesh signs: every batch repeats them; the latest wins. */
async function writeNames(client: pg.ClientBase, stored: readonly Batch[], nowMs: number) {
  const peers = new Map<
    string,
    { address: string; kind: string; namespace: string; name: string; seen: number }
  >();
  const signs = new Map<string, PodSignsUpsert>();
  for (const batch of stored) {
    const { seen } = batchTimes(batch, nowMs);
    for (const peer of batch.peers)
      peers.set(peer.address, {
        address: peer.address,
        kind: peer.kind === 'PEER_KIND_SERVICE' ? 'service' : 'pod',
        namespace: peer.namespace,
        name: peer.name,
        seen,
      });
    for (const s of batch.podSigns) {
      const row = podSignsUpsert(s, seen);
      if ((signs.get(row.pod)?.seen ?? -Infinity) > seen) continue;
      signs.set(row.pod, row);
    }
  }
  if (peers.size > 0) {
    const list = sorted(peers);
    // Only a changed name is written: seen_ms says since when the address has had it.
    await client.query(
      `INSERT INTO peer_names (address, kind, namespace, name, seen_ms)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
       ON CONFLICT (address) DO UPDATE SET kind = excluded.kind, namespace = excluded.namespace,
         name = excluded.name, seen_ms = excluded.seen_ms
       WHERE (peer_names.kind, peer_names.namespace, peer_names.name)
         IS DISTINCT FROM (excluded.kind, excluded.namespace, excluded.name)`,
      [
        list.map((p) => p.address),
        list.map((p) => p.kind),
        list.map((p) => p.namespace),
        list.map((p) => p.name),
        list.map((p) => p.seen),
      ],
    );
  }
  if (signs.size > 0) {
    const list = sorted(signs);
    await client.query(
      `INSERT INTO pod_signs (pod, namespace_labels, labels, owner_kind, owner_name, sidecar_containers, seen_ms)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])
       ON CONFLICT (pod) DO UPDATE SET namespace_labels = excluded.namespace_labels,
         labels = excluded.labels, owner_kind = excluded.owner_kind, owner_name = excluded.owner_name,
         sidecar_containers = excluded.sidecar_containers, seen_ms = excluded.seen_ms
       WHERE excluded.seen_ms >= pod_signs.seen_ms`,
      [
        list.map((s) => s.pod),
        list.map((s) => s.namespaceLabels),
        list.map((s) => s.labels),
        list.map((s) => s.ownerKind),
        list.map((s) => s.ownerName),
        list.map((s) => s.sidecarContainers),
        list.map((s) => s.seen),
      ],
    );
  }
}

function endKey(process: number, edge: Batch['edges'][number]): string {
  const e = endIdentity(edge);
  return `${process}\t${e.side}\t${e.local}\t${e.remote}\t${e.port}\t${e.socketPod}`;
}

/** Every connection end of the group, made where new and seen again where not: ids by endKey. */
async function writeEnds(
  client: pg.ClientBase,
  stored: readonly Batch[],
  processes: Processes,
  nowMs: number,
): Promise<Map<string, number>> {
  const all = new Map<
    string,
    { key: string; process: number; seen: number } & ReturnType<typeof endIdentity>
  >();
  for (const batch of stored) {
    const { seen } = batchTimes(batch, nowMs);
    for (const edge of batch.edges) {
      const process = processes.get(processId(batch.node, edge.process))!.id;
      const key = endKey(process, edge);
      all.set(key, {
        key,
        process,
        ...endIdentity(edge),
        seen: Math.max(seen, all.get(key)?.seen ?? seen),
      });
    }
  }
  if (all.size === 0) return new Map();
  const list = sorted(all);
  const result = await client.query<EndsRow>(
    `INSERT INTO ends (process, side, local_addr, remote_addr, port, socket_pod, last_seen_ms)
     SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::text[], $4::text[], $5::int[], $6::text[], $7::bigint[])
     ON CONFLICT (process, side, local_addr, remote_addr, port, socket_pod)
       DO UPDATE SET last_seen_ms = GREATEST(ends.last_seen_ms, excluded.last_seen_ms)
     RETURNING id, process, side, local_addr, remote_addr, port, socket_pod`,
    [
      list.map((e) => e.process),
      list.map((e) => e.side),
      list.map((e) => e.local),
      list.map((e) => e.remote),
      list.map((e) => e.port),
      list.map((e) => e.socketPod),
      list.map((e) => e.seen),
    ],
  );
  return new Map(
    result.rows.map((r) => [
      `${r.process}\t${r.side}\t${r.local_addr}\t${r.remote_addr}\t${r.port}\t${r.socket_pod}`,
      r.id,
    ]),
  );
}

function hopKey(process: number, hop: Batch['hops'][number]): string {
  return `${process}\t${hopDirection(hop)}\t${socketPodId(hop.socketPod)}`;
}

async function writeHopSeries(
  client: pg.ClientBase,
  stored: readonly Batch[],
  processes: Processes,
): Promise<Map<string, number>> {
  const all = new Map<string, { process: number; direction: number; socketPod: string }>();
  for (const batch of stored)
    for (const hop of batch.hops) {
      const process = processes.get(processId(batch.node, hop.process))!.id;
      all.set(hopKey(process, hop), {
        process,
        direction: hopDirection(hop),
        socketPod: socketPodId(hop.socketPod),
      });
    }
  if (all.size === 0) return new Map();
  const list = sorted(all);
  const result = await client.query<HopSeriesRow>(
    `INSERT INTO hop_series (process, direction, socket_pod)
     SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::text[])
     ON CONFLICT (process, direction, socket_pod) DO UPDATE SET direction = excluded.direction
     RETURNING id, process, direction, socket_pod`,
    [list.map((h) => h.process), list.map((h) => h.direction), list.map((h) => h.socketPod)],
  );
  return new Map(result.rows.map((r) => [`${r.process}\t${r.direction}\t${r.socket_pod}`, r.id]));
}

/**
 * Resource samples as rows: CPU as the difference from the process's previous sample
 * (cpu-deltas.ts), read and moved under a row lock, samples of one process in a group
 * taken in the order they came.
 */
async function resourceRows(
  client: pg.ClientBase,
  stored: readonly Batch[],
  processes: Processes,
  nowMs: number,
): Promise<SeriesRow[]> {
  const samples = stored.flatMap((batch) =>
    batch.resources.map((sample) => ({
      batch,
      sample,
      process: processes.get(processId(batch.node, sample.process))!.id,
    })),
  );
  if (samples.length === 0) return [];
  const ids = [...new Set(samples.map((s) => s.process))].sort((a, b) => a - b);
  const found = await client.query<{ process: number; cpu_ns: number; sample_ms: number }>(
    'SELECT process, cpu_ns, sample_ms FROM resource_last WHERE process = ANY($1::bigint[]) ORDER BY process FOR UPDATE',
    [ids],
  );
  const last = new Map<number, ProcessCpuLast>(
    found.rows.map((r) => [r.process, { cpuNs: r.cpu_ns, sampleMs: r.sample_ms }]),
  );
  const moved = new Set<number>();
  const rows: SeriesRow[] = [];
  for (const { batch, sample, process } of samples) {
    const { seen, bucket } = batchTimes(batch, nowMs);
    const cpu = sample.cpuUserNs + sample.cpuSystemNs;
    const delta = processCpuDelta(cpu, seen, last.get(process), sample.startedInInterval);
    rows.push({ bucket, sid: process, row: resourceRow(sample, delta.cpuNs) });
    if (delta.advance) {
      last.set(process, { cpuNs: cpu, sampleMs: seen });
      moved.add(process);
    }
  }
  const list = [...moved].sort((a, b) => a - b);
  await client.query(
    `INSERT INTO resource_last (process, cpu_ns, sample_ms)
     SELECT * FROM unnest($1::bigint[], $2::float8[], $3::bigint[])
     ON CONFLICT (process) DO UPDATE SET cpu_ns = excluded.cpu_ns, sample_ms = excluded.sample_ms`,
    [list, list.map((p) => last.get(p)!.cpuNs), list.map((p) => last.get(p)!.sampleMs)],
  );
  return rows;
}

/** Agents' own cost reports as rows, CPU as the difference from the previous report. */
async function agentRows(
  client: pg.ClientBase,
  stored: readonly Batch[],
  agents: Map<string, number>,
  nowMs: number,
): Promise<SeriesRow[]> {
  const reports = stored.filter((b) => b.agentCost);
  if (reports.length === 0) return [];
  const ids = [...new Set(reports.map((b) => agents.get(b.agentId)!))].sort((a, b) => a - b);
  const found = await client.query<{
    agent: number;
    boot_id: string;
    agent_cpu_ns: number;
    runner_cpu_ns: number;
  }>(
    'SELECT agent, boot_id, agent_cpu_ns, runner_cpu_ns FROM agent_last WHERE agent = ANY($1::bigint[]) ORDER BY agent FOR UPDATE',
    [ids],
  );
  const last = new Map<number, AgentCpuLast>(
    found.rows.map((r) => [
      r.agent,
      { bootId: r.boot_id, agentCpuNs: r.agent_cpu_ns, runnerCpuNs: r.runner_cpu_ns },
    ]),
  );
  const rows: SeriesRow[] = [];
  for (const batch of reports) {
    const cost = batch.agentCost!;
    const agent = agents.get(batch.agentId)!;
    const delta = agentCpuDelta(cost, batch.bootId, last.get(agent));
    rows.push({
      bucket: batchTimes(batch, nowMs).bucket,
      sid: agent,
      row: agentCostRow(cost, delta),
    });
    last.set(agent, {
      bootId: batch.bootId,
      agentCpuNs: cost.agentCpuNs,
      runnerCpuNs: cost.runnerCpuNs,
    });
  }
  await client.query(
    `INSERT INTO agent_last (agent, boot_id, agent_cpu_ns, runner_cpu_ns)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::float8[])
     ON CONFLICT (agent) DO UPDATE SET boot_id = excluded.boot_id,
       agent_cpu_ns = excluded.agent_cpu_ns, runner_cpu_ns = excluded.runner_cpu_ns`,
    [
      ids,
      ids.map((a) => last.get(a)!.bootId),
      ids.map((a) => last.get(a)!.agentCpuNs),
      ids.map((a) => last.get(a)!.runnerCpuNs),
    ],
  );
  return rows;
}

/**
 * Joins the two ends of sampled connections (connection-join.ts says how): the group's
 * tuples are remembered, then each is matched with the other side's, in this group or
 * from before, and every match is a link. Both ends in one group find each other.
 */
async function joinConnections(
  client: pg.ClientBase,
  stored: readonly Batch[],
  processes: Processes,
  ends: Map<string, number>,
  nowMs: number,
): Promise<void> {
  const tuples = new Map<
    string,
    {
      scope: string;
      address: string;
      port: number;
      isn: number;
      side: number;
      end: number;
      seen: number;
    }
  >();
  for (const batch of stored) {
    const { seen } = batchTimes(batch, nowMs);
    for (const edge of batch.edges) {
      const process = processes.get(processId(batch.node, edge.process))!;
      const end = ends.get(endKey(process.id, edge))!;
      const side = endIdentity(edge).side;
      for (const tuple of edge.connections) {
        const address = tuple.client?.address ?? '';
        const port = tuple.client?.port ?? 0;
        if (!address || !port) continue;
        const scope = tupleScope(address, batch.node, process.netnsInode);
        const t = { scope, address, port, isn: tuple.clientIsn, side, end, seen };
        tuples.set(`${scope}\t${address}\t${port}\t${t.isn}\t${side}`, t);
      }
    }
  }
  if (tuples.size === 0) return;
  // One collector's joins at a time (pg-locks.ts): two replicas writing a connection's two
  // ends at once would each miss the other's uncommitted tuples, and neither would link them.
  await client.query(xactLock(LOCK.tupleJoin));
  const list = sorted(tuples);
  const values = [
    list.map((t) => t.scope),
    list.map((t) => t.address),
    list.map((t) => t.port),
    list.map((t) => t.isn),
    list.map((t) => t.side),
    list.map((t) => t.end),
    list.map((t) => t.seen),
  ];
  const unnest =
    'unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::smallint[], $6::bigint[], $7::bigint[])';
  await client.query(
    `INSERT INTO tuples (scope, address, port, client_isn, side, end_id, seen_ms) SELECT * FROM ${unnest}
     ON CONFLICT (scope, address, port, client_isn, side) DO UPDATE SET
       end_id = excluded.end_id, seen_ms = excluded.seen_ms`,
    values,
  );
  const matches = await client.query<{ side: number; mine: number; other: number; seen: number }>(
    `SELECT v.side, v.end_id AS mine, t.end_id AS other, v.seen FROM ${unnest}
       AS v (scope, address, port, isn, side, end_id, seen)
     JOIN tuples t ON t.scope = v.scope AND t.address = v.address AND t.port = v.port
       AND t.client_isn = v.isn AND t.side = 3 - v.side
     WHERE abs(t.seen_ms - v.seen) <= $8`,
    [...values, TUPLE_WINDOW_MS],
  );
  const links = new Map<string, { client: number; server: number; first: number; last: number }>();
  for (const m of matches.rows) {
    const client = m.side === SIDE_CODE.CONNECTION_SIDE_CLIENT;
    const [c, s] = client ? [m.mine, m.other] : [m.other, m.mine];
    const key = `${String(c).padStart(16, '0')}\t${String(s).padStart(16, '0')}`;
    const before = links.get(key);
    links.set(key, {
      client: c,
      server: s,
      first: Math.min(m.seen, before?.first ?? m.seen),
      last: Math.max(m.seen, before?.last ?? m.seen),
    });
  }
  if (links.size === 0) return;
  const linkList = sorted(links);
  await client.query(
    `INSERT INTO links (client_end, server_end, first_seen_ms, last_seen_ms)
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[])
     ON CONFLICT (client_end, server_end) DO UPDATE SET
       last_seen_ms = GREATEST(links.last_seen_ms, excluded.last_seen_ms)`,
    [
      linkList.map((l) => l.client),
      linkList.map((l) => l.server),
      linkList.map((l) => l.first),
      linkList.map((l) => l.last),
    ],
  );
}

/** Load reports, kept once per batch, and only for sessions that exist. */
async function writeLoadReports(client: pg.ClientBase, stored: readonly Batch[]): Promise<void> {
  const reports = stored.flatMap((batch) => batch.loadReports.map((report) => ({ batch, report })));
  if (reports.length === 0) return;
  await client.query(
    `INSERT INTO session_loads (session_id, agent_id, boot_id, sequence, report)
     SELECT v.* FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[])
       AS v (s, a, b, q, r)
     WHERE EXISTS (SELECT 1 FROM sessions WHERE id = v.s)
     ON CONFLICT DO NOTHING`,
    [
      reports.map((r) => r.report.sessionId),
      reports.map((r) => r.batch.agentId),
      reports.map((r) => r.batch.bootId),
      reports.map((r) => r.batch.sequence),
      reports.map((r) => Buffer.from(LoadReport.encode(r.report))),
    ],
  );
}
