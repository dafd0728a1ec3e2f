// The advisory locks collectors sharing one database take, by role. PostgreSQL's
// two-key form: Tollgate's own class, then the role, so no other application's locks
// on the same database collide with these.
export const LOCK_CLASS = 0x746f6c6c; // 'toll'

export const LOCK = {
  /** The schema's migration: one collector at a time, the others wait for it. */
  schema: 1,
  /**
   * The series rows against their rollups: every commit holds it shared, a rollup pass
   * exclusively, so a raw row is either in the source a rollup folds or sees the rollup
   * mark and goes to the rollup as late (late-rows.ts): never neither.
   */
  rollupData: 2,
  /** Who rolls up and prunes now: tried, not waited for; the others skip that pass. */
  maintenance: 3,
  /** Merges of late rows into rollup rows: read, merged and written by one commit at a time. */
  lateMerge: 4,
  /**
   * Connection tuples written and matched by one commit at a time, to its end: each
   * commit then sees the tuples of the commits before it, whichever replica made them.
   */
  tupleJoin: 6,
  /** Changes of the profiling sessions' state, by one collector at a time (pg-session-cluster.ts). */
  sessions: 7,
  /** Partitions made by one collector at a time (two making the same one would collide). */
  partitions: 5,
} as const;

/** SQL that takes a lock for the transaction: `pg_advisory_xact_lock(class, role)`. */
export function xactLock(role: number, shared = false): string {
  return `SELECT pg_advisory_xact_lock${shared ? '_shared' : ''}(${LOCK_CLASS}, ${role})`;
}
