// The store's SQL statements outside the series tables, each prepared once: the fixed ones
// by name, and those whose text is built at run time through a cache. Kept apart from the
// logic that runs them, which then reads as what it does rather than how SQLite says it.
import type Database from 'better-sqlite3';

export function prepareStatements(db: Database.Database) {
  return {
    isStored: db.prepare(
      'SELECT 1 FROM batches WHERE agent_id = ? AND boot_id = ? AND sequence = ?',
    ),
    insertBatch: db.prepare(
      'INSERT INTO batches (agent_id, boot_id, sequence, stored_ms, interval_end_ms, records) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    upsertAgent: db.prepare(
      `INSERT INTO agents (agent_id, node, boot_id, version, node_info, cost, first_seen_ms, last_seen_ms)
       VALUES (@agentId, @node, @bootId, @version, @nodeInfo, @cost, @now, @now)
       ON CONFLICT (agent_id) DO UPDATE SET node = @node, boot_id = @bootId,
         version = CASE WHEN @version = '' THEN version ELSE @version END,
         node_info = CASE WHEN @nodeInfo = '{}' THEN node_info ELSE @nodeInfo END,
         cost = COALESCE(@cost, cost), last_seen_ms = @now
       RETURNING id`,
    ),
    upsertProcess: db.prepare(
      `INSERT INTO processes (key, node, pid, start_ticks, identity, first_seen_ms, last_seen_ms)
       VALUES (@key, @node, @pid, @start, @identity, @seen, @seen)
       ON CONFLICT (key) DO UPDATE SET identity = @identity,
         last_seen_ms = MAX(last_seen_ms, @seen), first_seen_ms = MIN(first_seen_ms, @seen)
       RETURNING id`,
    ),
    // Every batch repeats its peers (batches are self-contained); only a changed name
    // is written, and seen_ms says since when the address has had it.
    upsertPeerName: db.prepare(
      `INSERT INTO peer_names (address, kind, namespace, name, seen_ms) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (address) DO UPDATE SET kind = excluded.kind, namespace = excluded.namespace,
         name = excluded.name, seen_ms = excluded.seen_ms
       WHERE (kind, namespace, name) IS NOT (excluded.kind, excluded.namespace, excluded.name)`,
    ),
    // Every batch repeats its pods' signs; seen_ms says when they were last shipped.
    upsertPodSigns: db.prepare(
      `INSERT INTO pod_signs (pod, namespace_labels, labels, owner_kind, owner_name, sidecar_containers, seen_ms)
       VALUES (@pod, @namespaceLabels, @labels, @ownerKind, @ownerName, @sidecarContainers, @seen)
       ON CONFLICT (pod) DO UPDATE SET namespace_labels = @namespaceLabels, labels = @labels,
         owner_kind = @ownerKind, owner_name = @ownerName,
         sidecar_containers = @sidecarContainers, seen_ms = @seen
       WHERE @seen >= seen_ms`,
    ),
    upsertEnd: db.prepare(
      `INSERT INTO ends (process, side, local_addr, remote_addr, port, socket_pod, last_seen_ms)
       VALUES (@process, @side, @local, @remote, @port, @socketPod, @seen)
       ON CONFLICT (process, side, local_addr, remote_addr, port, socket_pod)
         DO UPDATE SET last_seen_ms = MAX(last_seen_ms, @seen)
       RETURNING id`,
    ),
    upsertHopSeries: db.prepare(
      `INSERT INTO hop_series (process, direction, socket_pod) VALUES (?, ?, ?)
       ON CONFLICT (process, direction, socket_pod) DO UPDATE SET direction = direction
       RETURNING id`,
    ),
    resourceLast: db.prepare(
      'SELECT cpu_ns AS cpuNs, sample_ms AS sampleMs FROM resource_last WHERE process = ?',
    ),
    setResourceLast: db.prepare(
      `INSERT INTO resource_last (process, cpu_ns, sample_ms) VALUES (?, ?, ?)
       ON CONFLICT (process) DO UPDATE SET cpu_ns = excluded.cpu_ns, sample_ms = excluded.sample_ms`,
    ),
    agentLast: db.prepare(
      `SELECT boot_id AS bootId, agent_cpu_ns AS agentCpuNs, runner_cpu_ns AS runnerCpuNs
       FROM agent_last WHERE agent = ?`,
    ),
    setAgentLast: db.prepare(
      `INSERT INTO agent_last (agent, boot_id, agent_cpu_ns, runner_cpu_ns) VALUES (?, ?, ?, ?)
       ON CONFLICT (agent) DO UPDATE SET boot_id = excluded.boot_id,
         agent_cpu_ns = excluded.agent_cpu_ns, runner_cpu_ns = excluded.runner_cpu_ns`,
    ),
    insertTupleLog: db.prepare('INSERT INTO tuple_log (seen_ms, tuples, body) VALUES (?, ?, ?)'),
    tupleLogNewestFirst: db.prepare(
      'SELECT seen_ms, tuples, body FROM tuple_log ORDER BY rowid DESC',
    ),
    upsertLink: db.prepare(
      `INSERT INTO links (client_end, server_end, first_seen_ms, last_seen_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (client_end, server_end) DO UPDATE SET
         last_seen_ms = MAX(last_seen_ms, excluded.last_seen_ms)`,
    ),
    rolledTo: db.prepare('SELECT tier, rolled_to_ms FROM rollups'),
    setRolledTo: db.prepare(
      `INSERT INTO rollups (tier, rolled_to_ms) VALUES (?, ?)
       ON CONFLICT (tier) DO UPDATE SET rolled_to_ms = excluded.rolled_to_ms`,
    ),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

/** Statements whose text is built at run time (per table, per list length), prepared once. */
export class Sql {
  private readonly prepared = new Map<string, Database.Statement>();

  constructor(readonly db: Database.Database) {}

  prepare(text: string): Database.Statement {
    let statement = this.prepared.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.prepared.set(text, statement);
    }
    return statement;
  }

  /** The rows of `prefix (?, ?, ...)` for every id. */
  selectIn(prefix: string, ids: readonly (number | string)[]): unknown[] {
    const out: unknown[] = [];
    // SQLite caps bound parameters; chunk long lists.
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      out.push(...this.prepare(`${prefix} (${chunk.map(() => '?').join(', ')})`).all(...chunk));
    }
    return out;
  }
}
