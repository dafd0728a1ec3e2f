// The throwaway PostgreSQL of the store's tests (lab/postgres-server.ts): each database its
// own, its data kept over a restart, and nothing left once it is stopped, neither the
// postmaster nor its directory.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import pg from 'pg';
import { startPostgres } from '../../lab/postgres-server.js';

async function query<T>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('databases are apart, a restart keeps their rows, a stop leaves nothing', async (t) => {
  const server = await startPostgres(t);
  const pid = server.pid;
  assert.ok(pid > 0 && isRunning(pid), `postmaster ${pid} running`);
  assert.ok(existsSync(server.dir));

  const one = await server.createDatabase('one');
  const two = await server.createDatabase('two');
  for (const url of [one, two]) await query(url, 'CREATE TABLE notes (id int, text text)');
  await query(one, 'INSERT INTO notes VALUES ($1, $2)', [1, 'only in one']);
  assert.deepEqual(await query(one, 'SELECT id, text FROM notes'), [
    { id: 1, text: 'only in one' },
  ]);
  assert.deepEqual(await query(two, 'SELECT id, text FROM notes'), []);
  // Listening on loopback TCP with a password, not through Debian's cluster.
  const [where] = await query<{ addr: string; port: number }>(
    one,
    'SELECT host(inet_server_addr()) AS addr, inet_server_port() AS port',
  );
  assert.deepEqual(where, { addr: '127.0.0.1', port: server.port });
  await assert.rejects(
    query(one.replace(/:[^:@/]+@/, ':wrong@'), 'SELECT 1'),
    /password authentication failed/,
  );

  await server.restart();
  assert.notEqual(server.pid, pid, 'a new postmaster');
  assert.ok(!isRunning(pid), 'the old one is gone');
  assert.deepEqual(await query(one, 'SELECT id, text FROM notes'), [
    { id: 1, text: 'only in one' },
  ]);

  const restarted = server.pid;
  await server.stop();
  assert.ok(!isRunning(restarted), `postmaster ${restarted} gone`);
  assert.equal(server.pid, 0);
  assert.ok(!existsSync(server.dir), `${server.dir} removed`);
  await server.stop(); // again: nothing to do
});
