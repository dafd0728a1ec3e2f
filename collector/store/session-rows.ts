// Profiling sessions in SQLite: one row per session with what it was started with (the
// spec, JSON), its state and, once stopped or imported, its frozen result (the
// SessionExport as protobuf), so a session outlives the retention of the raw data it
// was computed from. Load reports arrive inside agent batches and are written in the
// batch's own transaction, so a replayed batch cannot count a report twice.
import type Database from 'better-sqlite3';
import type { SessionState } from '../../proto/api.js';
import { type Batch, LoadReport } from '../../proto/gen/tollgate/v1.js';

export interface SessionRow {
  id: string;
  name: string;
  state: SessionState;
  createdMs: number;
  startMs: number;
  endMs: number | null;
  plannedEndMs: number | null;
  /** What the session was started with (JSON text, a StoredSpec: sessions/stored-session.ts). */
  spec: string;
  result: Uint8Array | null;
  error: string | null;
}

/** A row of the sessions table as either engine reads it back (postgres/pg-sessions.ts too). */
export interface RawSessionRow {
  id: string;
  name: string;
  state: SessionState;
  created_ms: number;
  start_ms: number;
  end_ms: number | null;
  planned_end_ms: number | null;
  spec: string;
  result: Buffer | null;
  error: string | null;
}

export const sessionRowOf = (r: RawSessionRow): SessionRow => ({
  id: r.id,
  name: r.name,
  state: r.state,
  createdMs: r.created_ms,
  startMs: r.start_ms,
  endMs: r.end_ms,
  plannedEndMs: r.planned_end_ms,
  spec: r.spec,
  result: r.result ? new Uint8Array(r.result) : null,
  error: r.error,
});

export class SessionRows {
  private readonly statements;

  constructor(private readonly db: Database.Database) {
    this.statements = {
      insert: db.prepare(
        `INSERT INTO sessions (id, name, state, created_ms, start_ms, end_ms, planned_end_ms, spec, result, error)
         VALUES (@id, @name, @state, @createdMs, @startMs, @endMs, @plannedEndMs, @spec, @result, @error)`,
      ),
      update: db.prepare(
        `UPDATE sessions SET state = @state, end_ms = @endMs, result = @result, error = @error
         WHERE id = @id`,
      ),
      get: db.prepare('SELECT * FROM sessions WHERE id = ?'),
      list: db.prepare(
        `SELECT id, name, state, created_ms, start_ms, end_ms, planned_end_ms, spec, NULL AS result, error
         FROM sessions ORDER BY start_ms DESC, id`,
      ),
      remove: db.prepare('DELETE FROM sessions WHERE id = ?'),
      addLoad: db.prepare(
        `INSERT OR IGNORE INTO session_loads (session_id, agent_id, boot_id, sequence, report)
         SELECT @sessionId, @agentId, @bootId, @sequence, @report
         WHERE EXISTS (SELECT 1 FROM sessions WHERE id = @sessionId)`,
      ),
      loadAgents: db.prepare(
        'SELECT COUNT(DISTINCT agent_id) AS n FROM session_loads WHERE session_id = ?',
      ),
      loads: db.prepare(
        'SELECT agent_id, report FROM session_loads WHERE session_id = ? ORDER BY agent_id, boot_id, sequence',
      ),
    };
  }

  insert(row: SessionRow): void {
    this.statements.insert.run({ ...row, result: row.result ? Buffer.from(row.result) : null });
  }

  /** Moves a session to a state; the result and error replace what was there. */
  update(id: string, fields: Pick<SessionRow, 'state' | 'endMs' | 'result' | 'error'>): void {
    this.statements.update.run({
      id,
      ...fields,
      result: fields.result ? Buffer.from(fields.result) : null,
    });
  }

  get(id: string): SessionRow | undefined {
    const row = this.statements.get.get(id) as RawSessionRow | undefined;
    return row ? sessionRowOf(row) : undefined;
  }

  /** Every session, newest first, without results (they can be large). */
  list(): SessionRow[] {
    return (this.statements.list.all() as RawSessionRow[]).map(sessionRowOf);
  }

  remove(id: string): boolean {
    return this.statements.remove.run(id).changes > 0;
  }

  /** Called inside a batch's transaction. Reports for unknown sessions are dropped. */
  addLoadReports(batch: Batch): void {
    for (const report of batch.loadReports) {
      this.statements.addLoad.run({
        sessionId: report.sessionId,
        agentId: batch.agentId,
        bootId: batch.bootId,
        sequence: batch.sequence,
        report: Buffer.from(LoadReport.encode(report)),
      });
    }
  }

  /** How many agents have reported on a session's load so far. */
  loadReportAgents(id: string): number {
    return (this.statements.loadAgents.get(id) as { n: number }).n;
  }

  loadReports(id: string): { agentId: string; report: LoadReport }[] {
    return (this.statements.loads.all(id) as { agent_id: string; report: Buffer }[]).map((r) => ({
      agentId: r.agent_id,
      report: LoadReport.decode(r.report),
    }));
  }

  /** Runs `work` in one transaction (an import writes its row and nothing else). */
  transaction<T>(work: () => T): T {
    return this.db.transaction(work)();
  }
}
