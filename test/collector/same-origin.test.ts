// Another site's page cannot use the collector through the user's browser: a request
// whose Host is a rebound name (DNS rebinding) is refused, and so is one whose Origin is
// another site's, including the WebSocket handshake of /api/live that would stream every
// process's command line. Requests addressed to the collector by IP, localhost or an
// allowed name, from its own pages or from clients that are not browsers, are answered.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import WebSocket from 'ws';
import { Collector } from '../../collector/collector.js';
import { refusal } from '../../collector/http/same-origin.js';
import { startCollector } from './fixture.js';

/** GET with the given headers (node:http lets Host be set, as a browser after rebinding would). */
function get(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Whether a WebSocket handshake with this Origin is accepted: 'open' or the refusal's status. */
function handshake(url: string, origin: string): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { origin });
    ws.on('open', () => {
      ws.close();
      resolve('open');
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(String(res.statusCode));
      ws.terminate();
    });
    ws.on('error', () => {});
  });
}

test('the rules, by hand', () => {
  assert.equal(refusal({ host: '127.0.0.1:7470' }), undefined);
  assert.equal(refusal({ host: 'localhost:7470' }), undefined);
  assert.equal(refusal({ host: '[::1]:7470' }), undefined);
  assert.equal(refusal({ host: '10.0.0.5:7470' }), undefined, 'a pod IP, as Prometheus scrapes');
  assert.match(refusal({ host: 'rebind.attacker.example:7470' }) ?? '', /is not this collector's/);
  assert.equal(refusal({ host: 'tollgate.svc:7470' }, ['tollgate.svc']), undefined);
  assert.equal(refusal({ host: 'anything:7470' }, ['*']), undefined);
  assert.equal(
    refusal({ host: '127.0.0.1:7470', origin: 'http://127.0.0.1:7470' }),
    undefined,
    'its own page',
  );
  for (const origin of [
    'http://attacker.example',
    'http://127.0.0.1:8080',
    'null',
    'file://',
    'chrome-extension://abc',
  ])
    assert.match(refusal({ host: '127.0.0.1:7470', origin }) ?? '', /another site/, origin);
  // Even with the check of names off, another site's page is refused.
  assert.match(refusal({ host: 'x:1', origin: 'http://y:1' }, ['*']) ?? '', /another site/);
  assert.match(refusal({}) ?? '', /must name its host/);
});

test('a real collector: rebound names and other sites refused, its own pages and plain clients answered', async (t) => {
  const collector = await startCollector(t, { allowedHosts: ['tollgate-collector.tollgate.svc'] });
  const base = collector.httpUrl;
  const port = new URL(base).port;
  const api = `${base}/api/topology?window=60`;
  assert.equal((await get(api, {})).status, 200, 'a client that is not a browser');
  assert.equal((await get(api, { host: `localhost:${port}` })).status, 200);
  assert.equal((await get(api, { host: `tollgate-collector.tollgate.svc:${port}` })).status, 200);
  const rebound = await get(api, { host: `rebind.attacker.example:${port}` });
  assert.equal(rebound.status, 403, 'DNS rebinding');
  assert.match(JSON.parse(rebound.body).message, /is not this collector's/);
  assert.equal((await get(`${base}/metrics`, { host: `evil.example:${port}` })).status, 403);
  const foreign = await get(api, { origin: 'http://attacker.example' });
  assert.equal(foreign.status, 403, 'a cross-site fetch');
  assert.equal((await get(api, { origin: base })).status, 200, 'its own page');

  const live = `${base.replace('http', 'ws')}/api/live`;
  assert.equal(await handshake(live, 'http://attacker.example'), '403');
  assert.equal(await handshake(live, base), 'open');
});

test('refused handshakes are closed by the collector: a wrong token, then a clean stop', async () => {
  const collector = await Collector.start({
    database: ':memory:',
    grpc: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    credentials: { read: 'same-origin-token' },
  });
  const base = collector.httpUrl;
  const live = `${base.replace('http', 'ws')}/api/live`;
  try {
    assert.equal(await handshake(live, base), '401', 'no token');
    assert.equal(await handshake(`${live}?token=same-origin-token`, base), 'open');
  } finally {
    // A refused handshake's socket left open holds the server: the stop would not end.
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([
      collector.stop().then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), 5000);
      }),
    ]);
    clearTimeout(timer);
    assert.ok(stopped, 'the collector stopped within 5 s');
  }
});
