// A session's store row read back: the spec it was started with, as the manager stores
// it (with the agents its load went to), and the summary the API shows for the row.
// Apart from the manager because load placement and result freezing read rows too.
import type { SessionSummary, StartSpec } from '../../proto/api.js';
import type { SessionRow } from '../store/session-rows.js';

/** What a session was started with, as stored (and the agents its load went to). */
export interface StoredSpec extends StartSpec {
  loadAgents: string[];
}

export function storedSpec(row: SessionRow): StoredSpec {
  return JSON.parse(row.spec) as StoredSpec;
}

export function sessionSummary(row: SessionRow): SessionSummary {
  const spec = storedSpec(row);
  return {
    id: row.id,
    name: row.name,
    state: row.state,
    labels: spec.labels ?? {},
    target: spec.target ?? {},
    startMs: row.startMs,
    endMs: row.endMs,
    plannedEndMs: row.plannedEndMs,
    readOnly: row.state === 'imported',
    error: row.error,
    load: spec.load ?? null,
    loadAgents: spec.loadAgents ?? [],
  };
}
