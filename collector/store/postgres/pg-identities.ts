// The rows that say what the series are of, read back from PostgreSQL in the shapes the
// API's queries use (identity-rows.ts gives the shapes and the SQLite reads).
import type pg from 'pg';
import type { MeshSigns } from '../../../proto/api.js';
import type { ProcessIdentity } from '../../../proto/gen/tollgate/v1.js';
import type { PeerNameRecord } from '../../model/topology.js';
import {
  type AgentInfo,
  DIRECTION_CODE,
  type EndInfo,
  type HopSeriesInfo,
  type ProcessInfo,
  SIDE_CODE,
} from '../identity-rows.js';

type Db = pg.Pool | pg.ClientBase;

async function rowsOf<T extends pg.QueryResultRow>(db: Db, table: string, ids?: readonly number[]) {
  return ids
    ? (await db.query<T>(`SELECT * FROM ${table} WHERE id = ANY($1::bigint[]) ORDER BY id`, [ids]))
        .rows
    : (await db.query<T>(`SELECT * FROM ${table} ORDER BY id`)).rows;
}

export async function ends(db: Db, ids?: readonly number[]): Promise<EndInfo[]> {
  const rows = await rowsOf<{
    id: number;
    process: number;
    side: number;
    local_addr: string;
    remote_addr: string;
    port: number;
    socket_pod: string;
  }>(db, 'ends', ids);
  return rows.map((r) => ({
    id: r.id,
    process: r.process,
    side: r.side === SIDE_CODE.CONNECTION_SIDE_CLIENT ? 'client' : 'server',
    localAddress: r.local_addr,
    remoteAddress: r.remote_addr,
    port: r.port,
    socketPod: r.socket_pod || null,
  }));
}

export async function hopSeries(db: Db, ids?: readonly number[]): Promise<HopSeriesInfo[]> {
  const rows = await rowsOf<{ id: number; process: number; direction: number; socket_pod: string }>(
    db,
    'hop_series',
    ids,
  );
  return rows.map((r) => ({
    id: r.id,
    process: r.process,
    direction: r.direction === DIRECTION_CODE.DIRECTION_INBOUND ? 'inbound' : 'outbound',
    socketPod: r.socket_pod || null,
  }));
}

export async function processes(db: Db, ids?: readonly number[]): Promise<ProcessInfo[]> {
  const rows = await rowsOf<{
    id: number;
    key: string;
    node: string;
    identity: string;
    first_seen_ms: number;
    last_seen_ms: number;
  }>(db, 'processes', ids);
  return rows.map((r) => ({
    id: r.id,
    key: r.key,
    node: r.node,
    identity: JSON.parse(r.identity) as ProcessIdentity,
    firstSeenMs: r.first_seen_ms,
    lastSeenMs: r.last_seen_ms,
  }));
}

export async function links(db: Db, endIds: readonly number[]) {
  if (endIds.length === 0) return [];
  const rows = await db.query<{ client_end: number; server_end: number }>(
    'SELECT client_end, server_end FROM links WHERE client_end = ANY($1::bigint[]) ORDER BY 1, 2',
    [endIds],
  );
  return rows.rows.map((r) => ({ clientEnd: r.client_end, serverEnd: r.server_end }));
}

export async function peerNames(
  db: Db,
  addresses: readonly string[],
): Promise<Map<string, PeerNameRecord>> {
  const rows = await db.query<{
    address: string;
    kind: 'pod' | 'service';
    namespace: string;
    name: string;
  }>('SELECT address, kind, namespace, name FROM peer_names WHERE address = ANY($1::text[])', [
    [...new Set(addresses)],
  ]);
  return new Map(
    rows.rows.map((r) => [r.address, { kind: r.kind, namespace: r.namespace, name: r.name }]),
  );
}

export async function podSigns(db: Db, pods: readonly string[]): Promise<Map<string, MeshSigns>> {
  const rows = await db.query<{
    pod: string;
    namespace_labels: string;
    labels: string;
    owner_kind: string;
    owner_name: string;
    sidecar_containers: string;
  }>('SELECT * FROM pod_signs WHERE pod = ANY($1::text[])', [[...new Set(pods)]]);
  return new Map(
    rows.rows.map((r) => [
      r.pod,
      {
        namespaceLabels: JSON.parse(r.namespace_labels) as Record<string, string>,
        labels: JSON.parse(r.labels) as Record<string, string>,
        owner: r.owner_kind ? { kind: r.owner_kind, name: r.owner_name } : null,
        sidecarContainers: JSON.parse(r.sidecar_containers) as string[],
      },
    ]),
  );
}

export async function agents(db: Db): Promise<AgentInfo[]> {
  const rows = await db.query<{
    id: number;
    agent_id: string;
    node: string;
    boot_id: string;
    version: string;
    node_info: string;
    cost: string | null;
    first_seen_ms: number;
    last_seen_ms: number;
  }>('SELECT * FROM agents ORDER BY agent_id COLLATE "C"');
  return rows.rows.map((r) => ({
    id: r.id,
    agentId: r.agent_id,
    node: r.node,
    bootId: r.boot_id,
    version: r.version,
    nodeInfo: JSON.parse(r.node_info),
    cost: r.cost ? JSON.parse(r.cost) : null,
    firstSeenMs: r.first_seen_ms,
    lastSeenMs: r.last_seen_ms,
  }));
}

/** Records an agent's hello: its version and node facts. */
export async function hello(
  db: Db,
  agent: { agentId: string; node: string; bootId: string; version: string; nodeInfo: unknown },
  nowMs: number,
): Promise<void> {
  await db.query(
    `INSERT INTO agents (agent_id, node, boot_id, version, node_info, cost, first_seen_ms, last_seen_ms)
     VALUES ($1, $2, $3, $4, $5, NULL, $6, $6)
     ON CONFLICT (agent_id) DO UPDATE SET node = excluded.node, boot_id = excluded.boot_id,
       version = CASE WHEN excluded.version = '' THEN agents.version ELSE excluded.version END,
       node_info = CASE WHEN excluded.node_info = '{}' THEN agents.node_info ELSE excluded.node_info END,
       last_seen_ms = excluded.last_seen_ms`,
    [
      agent.agentId,
      agent.node,
      agent.bootId,
      agent.version,
      JSON.stringify(agent.nodeInfo ?? {}),
      nowMs,
    ],
  );
}
