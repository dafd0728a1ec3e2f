// The collector's connections to PostgreSQL: one pool per store, its 64-bit integers
// read as numbers (ids, times and counts here stay below 2^53; pg gives them as strings
// by default), and the password never in a message: errors name the server, not the URL.
import pg from 'pg';

/** The type ids of int8 and numeric (SUM over bigint) in pg_type. */
const INT8_OID = 20;
const NUMERIC_OID = 1700;

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (text: string) => Number(text);
    return format === 'binary'
      ? pg.types.getTypeParser(oid, 'binary')
      : pg.types.getTypeParser(oid, 'text');
  },
} as pg.CustomTypesConfig;

/**
 * Bounds on what one collector can hold up for the others. A collector whose node dies or
 * is cut off mid-transaction holds its locks (a connection join, the rollups' shared
 * lock) until the server notices: without these, hours (the kernel's keepalive). Its
 * transaction is ended after a minute idle, its connection found dead within a minute,
 * and no wait for a lock lasts more than 30 s (the commit fails, and its agents replay).
 */
export const SESSION_SETTINGS = [
  '-c idle_in_transaction_session_timeout=60000',
  '-c lock_timeout=30000',
  '-c tcp_keepalives_idle=20',
  '-c tcp_keepalives_interval=10',
  '-c tcp_keepalives_count=3',
].join(' ');

export interface PoolOptions {
  /** Connections at most (a writer needs few: commits run one at a time). */
  max?: number;
  /** Why this pool exists, as the server's pg_stat_activity shows it. */
  applicationName: string;
}

export function openPool(url: string, options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 4,
    application_name: options.applicationName,
    types,
    // A server that does not answer fails the caller, who retries (agents spool).
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    options: SESSION_SETTINGS,
  });
  // A connection's error (the server restarted) must not end the process. An idle one's
  // comes through the pool, which drops it; one in use says so on its client, and its
  // caller's next query fails, and the pool drops it when it comes back (pg marks a failed
  // client unusable). Either way the pool opens another when next asked.
  const report = (error: Error) =>
    console.error(`tollgate collector: a PostgreSQL connection failed: ${error.message}`);
  pool.on('error', report);
  pool.on('connect', (client) => client.on('error', report));
  return pool;
}

/** The server a URL names, without its password, for messages. */
export function describeServer(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username ? `${u.username}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'the PostgreSQL server';
  }
}

/** Runs `work` in one transaction on one connection of the pool. */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    // A connection that cannot even roll back is broken: the pool drops it, below.
    await client.query('ROLLBACK').catch((e: Error) => {
      broken = e;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
