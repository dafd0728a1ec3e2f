// The rows that say what the series are of (agents, processes, connection ends, hop
// series, their links, the names of remote addresses and the pods' mesh signs), read back
// in the shapes the API's queries use, and the codes these tables store for sides and
// directions. The rows' types and their mappings into those shapes serve every engine
// (postgres/pg-identities.ts reads the same tables); the reads here are SQLite's.
import type { MeshSigns } from '../../proto/api.js';
import type { AgentCost, ProcessIdentity } from '../../proto/gen/tollgate/v1.js';
import type { PeerNameRecord } from '../model/topology.js';
import type { Sql } from './statements.js';

export const SIDE_CODE = { CONNECTION_SIDE_CLIENT: 1, CONNECTION_SIDE_SERVER: 2 } as const;
export const DIRECTION_CODE = { DIRECTION_INBOUND: 1, DIRECTION_OUTBOUND: 2 } as const;

export interface EndInfo {
  id: number;
  process: number;
  side: 'client' | 'server';
  localAddress: string;
  remoteAddress: string;
  port: number;
  /** The pod (its topology id) a node proxy's sockets here serve; null for every other end. */
  socketPod: string | null;
}

export interface HopSeriesInfo {
  id: number;
  process: number;
  direction: 'inbound' | 'outbound';
  /** As EndInfo.socketPod: the pod a node proxy's hops here go through. */
  socketPod: string | null;
}

export interface ProcessInfo {
  id: number;
  key: string;
  node: string;
  identity: ProcessIdentity;
  firstSeenMs: number;
  lastSeenMs: number;
}

export interface AgentInfo {
  id: number;
  agentId: string;
  node: string;
  bootId: string;
  version: string;
  nodeInfo: unknown;
  /** The agent's latest AgentCost, as it sent it. */
  cost: AgentCost | null;
  firstSeenMs: number;
  lastSeenMs: number;
}

/** A row of the ends table, as either engine reads it back. */
export interface EndsRow {
  id: number;
  process: number;
  side: number;
  local_addr: string;
  remote_addr: string;
  port: number;
  socket_pod: string;
}

export function endInfoOf(r: EndsRow): EndInfo {
  return {
    id: r.id,
    process: r.process,
    side: r.side === SIDE_CODE.CONNECTION_SIDE_CLIENT ? 'client' : 'server',
    localAddress: r.local_addr,
    remoteAddress: r.remote_addr,
    port: r.port,
    socketPod: r.socket_pod || null,
  };
}

/** A row of the hop_series table. */
export interface HopSeriesRow {
  id: number;
  process: number;
  direction: number;
  socket_pod: string;
}

export function hopSeriesInfoOf(r: HopSeriesRow): HopSeriesInfo {
  return {
    id: r.id,
    process: r.process,
    direction: r.direction === DIRECTION_CODE.DIRECTION_INBOUND ? 'inbound' : 'outbound',
    socketPod: r.socket_pod || null,
  };
}

/** A row of the processes table (the columns the API reads). */
export interface ProcessesRow {
  id: number;
  key: string;
  node: string;
  identity: string;
  first_seen_ms: number;
  last_seen_ms: number;
}

export function processInfoOf(r: ProcessesRow): ProcessInfo {
  return {
    id: r.id,
    key: r.key,
    node: r.node,
    identity: JSON.parse(r.identity) as ProcessIdentity,
    firstSeenMs: r.first_seen_ms,
    lastSeenMs: r.last_seen_ms,
  };
}

/** A row of the links table (the columns the API reads). */
export interface LinksRow {
  client_end: number;
  server_end: number;
}

export function linkOf(r: LinksRow): { clientEnd: number; serverEnd: number } {
  return { clientEnd: r.client_end, serverEnd: r.server_end };
}

/** A row of the peer_names table (the columns the API reads). */
export interface PeerNamesRow {
  address: string;
  kind: 'pod' | 'service';
  namespace: string;
  name: string;
}

/** Peer names by address. */
export function peerNamesOf(rows: readonly PeerNamesRow[]): Map<string, PeerNameRecord> {
  return new Map(
    rows.map((r) => [r.address, { kind: r.kind, namespace: r.namespace, name: r.name }]),
  );
}

/** A row of the pod_signs table (the columns the API reads). */
export interface PodSignsRow {
  pod: string;
  namespace_labels: string;
  labels: string;
  owner_kind: string;
  owner_name: string;
  sidecar_containers: string;
}

/** Mesh signs by pod id. */
export function podSignsOf(rows: readonly PodSignsRow[]): Map<string, MeshSigns> {
  return new Map(
    rows.map((r) => [
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

/** A row of the agents table. */
export interface AgentsRow {
  id: number;
  agent_id: string;
  node: string;
  boot_id: string;
  version: string;
  node_info: string;
  cost: string | null;
  first_seen_ms: number;
  last_seen_ms: number;
}

export function agentInfoOf(r: AgentsRow): AgentInfo {
  return {
    id: r.id,
    agentId: r.agent_id,
    node: r.node,
    bootId: r.boot_id,
    version: r.version,
    nodeInfo: JSON.parse(r.node_info),
    cost: r.cost ? JSON.parse(r.cost) : null,
    firstSeenMs: r.first_seen_ms,
    lastSeenMs: r.last_seen_ms,
  };
}

/** A table's rows with these ids, or all of them. */
function rowsOf(sql: Sql, table: string, ids?: readonly number[]): unknown[] {
  return ids
    ? sql.selectIn(`SELECT * FROM ${table} WHERE id IN`, ids)
    : sql.prepare(`SELECT * FROM ${table}`).all();
}

export function ends(sql: Sql, ids?: readonly number[]): EndInfo[] {
  return (rowsOf(sql, 'ends', ids) as EndsRow[]).map(endInfoOf);
}

export function hopSeries(sql: Sql, ids?: readonly number[]): HopSeriesInfo[] {
  return (rowsOf(sql, 'hop_series', ids) as HopSeriesRow[]).map(hopSeriesInfoOf);
}

export function processes(sql: Sql, ids?: readonly number[]): ProcessInfo[] {
  return (rowsOf(sql, 'processes', ids) as ProcessesRow[]).map(processInfoOf);
}

/** Joined ends: each client end with the server ends its sampled connections reached. */
export function links(
  sql: Sql,
  endIds: readonly number[],
): { clientEnd: number; serverEnd: number }[] {
  if (endIds.length === 0) return [];
  const rows = sql.selectIn(
    'SELECT client_end, server_end FROM links WHERE client_end IN',
    endIds,
  ) as LinksRow[];
  return rows.map(linkOf);
}

/** What the agents named these remote addresses after, most recently. */
export function peerNames(sql: Sql, addresses: readonly string[]): Map<string, PeerNameRecord> {
  return peerNamesOf(
    sql.selectIn('SELECT address, kind, namespace, name FROM peer_names WHERE address IN', [
      ...new Set(addresses),
    ]) as PeerNamesRow[],
  );
}

/** The mesh signs their agents last shipped for these pods (by pod id), where any. */
export function podSigns(sql: Sql, pods: readonly string[]): Map<string, MeshSigns> {
  return podSignsOf(
    sql.selectIn('SELECT * FROM pod_signs WHERE pod IN', [...new Set(pods)]) as PodSignsRow[],
  );
}

export function agents(sql: Sql): AgentInfo[] {
  return (sql.prepare('SELECT * FROM agents ORDER BY agent_id').all() as AgentsRow[]).map(
    agentInfoOf,
  );
}
