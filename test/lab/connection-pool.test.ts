// The load generator's transport against real servers on loopback: exact counts, never
// more connections than allowed, and every way a request can end counted once.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { ConnectionPool, type Outcome } from '../../daemonset/load/connection-pool.js';

async function listen(t: { after(fn: () => void): void }, server: Server): Promise<URL> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x?y=1`);
}

/** Sends n requests at once through a pool and resolves with their outcomes. */
function sendAll(pool: ConnectionPool, n: number): Promise<Outcome[]> {
  return new Promise((resolve) => {
    const outcomes: Outcome[] = [];
    for (let i = 0; i < n; i++)
      pool.send(performance.now(), (o) => {
        outcomes.push(o);
        if (outcomes.length === n) resolve(outcomes);
      });
  });
}

const count = (outcomes: Outcome[], what: Outcome) => outcomes.filter((o) => o === what).length;

test('500 requests over 4 keep-alive connections: all ok, 4 connections, the URL as given', async (t) => {
  const sockets = new Set<unknown>();
  const paths = new Set<string>();
  let served = 0;
  const server = createServer((req, res) => {
    sockets.add(req.socket);
    paths.add(`${req.url} ${req.headers.host}`);
    // Alternate sized and chunked bodies.
    if (served++ % 2 === 0) res.end('sized');
    else {
      res.write('chunk');
      res.end('ed');
    }
  });
  const url = await listen(t, server);
  const pool = new ConnectionPool(url, 4, 5000);
  t.after(() => pool.destroy());
  const outcomes = await sendAll(pool, 500);
  assert.equal(count(outcomes, 'ok'), 500);
  assert.equal(sockets.size, 4);
  assert.deepEqual([...paths], [`/x?y=1 ${url.host}`]);
});

test('a server that closes after each response: every request still ok, on new connections', async (t) => {
  const sockets = new Set<unknown>();
  const server = createServer((req, res) => {
    sockets.add(req.socket);
    res.setHeader('connection', 'close');
    res.end('bye');
  });
  const pool = new ConnectionPool(await listen(t, server), 2, 5000);
  t.after(() => pool.destroy());
  const outcomes = await sendAll(pool, 40);
  assert.equal(count(outcomes, 'ok'), 40);
  assert.equal(sockets.size, 40);
});

test('non-200 answers are errors; a refused port is errors; a silent server is timeouts', async (t) => {
  const failing = createServer((_req, res) => res.writeHead(503).end());
  const pool = new ConnectionPool(await listen(t, failing), 2, 5000);
  t.after(() => pool.destroy());
  assert.equal(count(await sendAll(pool, 10), 'error'), 10);

  const closed = createServer();
  const url = await listen(t, closed);
  await new Promise((r) => closed.close(r));
  const refused = new ConnectionPool(url, 2, 5000);
  t.after(() => refused.destroy());
  assert.equal(count(await sendAll(refused, 10), 'error'), 10);

  const silent = createServer(() => {});
  const slow = new ConnectionPool(await listen(t, silent), 2, 200);
  t.after(() => {
    slow.destroy();
    silent.closeAllConnections();
  });
  const started = performance.now();
  const outcomes = await sendAll(slow, 6);
  assert.equal(count(outcomes, 'timeout'), 6);
  assert.ok(performance.now() - started < 2000, 'timed out by the pool, not the test');
});

test('destroy ends what is waiting and in flight, once each', async (t) => {
  const silent = createServer(() => {});
  const pool = new ConnectionPool(await listen(t, silent), 1, 60_000);
  t.after(() => silent.closeAllConnections());
  const ended = sendAll(pool, 3);
  await new Promise((r) => setTimeout(r, 50));
  pool.destroy();
  assert.deepEqual(await ended, ['timeout', 'timeout', 'timeout']);
  assert.deepEqual(await sendAll(pool, 1), ['error']);
});
