// Profiling sessions in PostgreSQL, as session-rows.ts keeps them in SQLite: shared by
// every collector on the database, so a session started through one replica is stopped,
// listed and exported through any. Load reports are written with their batch (pg-group-writer.ts).
import type pg from 'pg';
import { LoadReport } from '../../../proto/gen/tollgate/v1.js';
import type { SessionStore } from '../collector-store.js';
import { type RawSessionRow, type SessionRow, sessionRowOf } from '../session-rows.js';

const bytes = (b: Uint8Array | null) =>
  b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : null;

export class PgSessions implements SessionStore {
  constructor(private readonly pool: pg.Pool) {}

  async insert(row: SessionRow): Promise<boolean> {
    const result = await this.pool.query(
      `INSERT INTO sessions (id, name, state, created_ms, start_ms, end_ms, planned_end_ms, spec, result, error)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING`,
      [
        row.id,
        row.name,
        row.state,
        row.createdMs,
        row.startMs,
        row.endMs,
        row.plannedEndMs,
        row.spec,
        bytes(row.result),
        row.error,
      ],
    );
    return result.rowCount === 1;
  }

  async update(id: string, fields: Pick<SessionRow, 'state' | 'endMs' | 'result' | 'error'>) {
    await this.pool.query(
      'UPDATE sessions SET state = $2, end_ms = $3, result = $4, error = $5 WHERE id = $1',
      [id, fields.state, fields.endMs, bytes(fields.result), fields.error],
    );
  }

  async get(id: string): Promise<SessionRow | undefined> {
    const row = (await this.pool.query<RawSessionRow>('SELECT * FROM sessions WHERE id = $1', [id]))
      .rows[0];
    return row ? sessionRowOf(row) : undefined;
  }

  async list(): Promise<SessionRow[]> {
    const rows = await this.pool.query<RawSessionRow>(
      `SELECT id, name, state, created_ms, start_ms, end_ms, planned_end_ms, spec, NULL AS result, error
       FROM sessions ORDER BY start_ms DESC, id COLLATE "C"`,
    );
    return rows.rows.map(sessionRowOf);
  }

  async remove(id: string): Promise<boolean> {
    return (await this.pool.query('DELETE FROM sessions WHERE id = $1', [id])).rowCount === 1;
  }

  async loadReportAgents(id: string): Promise<number> {
    const rows = await this.pool.query<{ n: number }>(
      'SELECT COUNT(DISTINCT agent_id) AS n FROM session_loads WHERE session_id = $1',
      [id],
    );
    return rows.rows[0]?.n ?? 0;
  }

  async loadReports(id: string): Promise<{ agentId: string; report: LoadReport }[]> {
    const rows = await this.pool.query<{ agent_id: string; report: Buffer }>(
      'SELECT agent_id, report FROM session_loads WHERE session_id = $1 ORDER BY agent_id COLLATE "C", boot_id COLLATE "C", sequence',
      [id],
    );
    return rows.rows.map((r) => ({ agentId: r.agent_id, report: LoadReport.decode(r.report) }));
  }
}
