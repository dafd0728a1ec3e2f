// The rows that say what the series are of, read back from PostgreSQL in the shapes the
// API's queries use (identity-rows.ts gives the shapes, the rows' mappings into them and
// the SQLite reads).
import type pg from 'pg';
import type { MeshSigns } from '../../../proto/api.js';
import type { PeerNameRecord } from '../../model/topology.js';
import {
  type AgentInfo,
  type AgentsRow,
  agentInfoOf,
  type EndInfo,
  type EndsRow,
  endInfoOf,
  type HopSeriesInfo,
  type HopSeriesRow,
  hopSeriesInfoOf,
  type LinksRow,
  linkOf,
  type PeerNamesRow,
  type PodSignsRow,
  type ProcessesRow,
  type ProcessInfo,
  peerNamesOf,
  podSignsOf,
  processInfoOf,
} from '../identity-rows.js';

type Db = pg.Pool | pg.ClientBase;

async function rowsOf<T extends pg.QueryResultRow>(db: Db, table: string, ids?: readonly number[]) {
  return ids
    ? (await db.query<T>(`SELECT * FROM ${table} WHERE id = ANY($1::bigint[]) ORDER BY id`, [ids]))
        .rows
    : (await db.query<T>(`SELECT * FROM ${table} ORDER BY id`)).rows;
}

export async function ends(db: Db, ids?: readonly number[]): Promise<EndInfo[]> {
  return (await rowsOf<EndsRow>(db, 'ends', ids)).map(endInfoOf);
}

export async function hopSeries(db: Db, ids?: readonly number[]): Promise<HopSeriesInfo[]> {
  return (await rowsOf<HopSeriesRow>(db, 'hop_series', ids)).map(hopSeriesInfoOf);
}

export async function processes(db: Db, ids?: readonly number[]): Promise<ProcessInfo[]> {
  return (await rowsOf<ProcessesRow>(db, 'processes', ids)).map(processInfoOf);
}

export async function links(db: Db, endIds: readonly number[]) {
  if (endIds.length === 0) return [];
  const rows = await db.query<LinksRow>(
    'SELECT client_end, server_end FROM links WHERE client_end = ANY($1::bigint[]) ORDER BY 1, 2',
    [endIds],
  );
  return rows.rows.map(linkOf);
}

export async function peerNames(
  db: Db,
  addresses: readonly string[],
): Promise<Map<string, PeerNameRecord>> {
  const rows = await db.query<PeerNamesRow>(
    'SELECT address, kind, namespace, name FROM peer_names WHERE address = ANY($1::text[])',
    [[...new Set(addresses)]],
  );
  return peerNamesOf(rows.rows);
}

export async function podSigns(db: Db, pods: readonly string[]): Promise<Map<string, MeshSigns>> {
  const rows = await db.query<PodSignsRow>('SELECT * FROM pod_signs WHERE pod = ANY($1::text[])', [
    [...new Set(pods)],
  ]);
  return podSignsOf(rows.rows);
}

export async function agents(db: Db): Promise<AgentInfo[]> {
  const rows = await db.query<AgentsRow>('SELECT * FROM agents ORDER BY agent_id COLLATE "C"');
  return rows.rows.map(agentInfoOf);
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
