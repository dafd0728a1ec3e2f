// One credential per power: the agents' ingest token cannot read the API or start a
// session, the read token (viewer, Prometheus) cannot start one, and the admin token
// does both (gRPC's side: ingest-errors.test.ts). The expected answers are written out by hand, route by route, not derived
// from the collector's own table. Then the viewer's sign-in by link: the token once in
// the URL, a cookie after, the token gone from the address.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import WebSocket from 'ws';
import { cookieValue, withoutToken } from '../../collector/http/credentials-hook.js';
import { startCollector } from './fixture.js';

const TOKENS = { ingest: 'ingest-token-1', read: 'read-token-2', admin: 'admin-token-3' };

function liveHandshake(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.on('error', () => resolve(-1));
  });
}

test('each credential grants its own power and no other', async (t) => {
  const collector = await startCollector(t, { credentials: TOKENS });
  const base = collector.httpUrl;
  // [request, none, ingest, read, admin, wrong]
  const expected: [string, number[]][] = [
    ['GET /api/topology', [401, 401, 200, 200, 401]],
    ['GET /api/sessions', [401, 401, 200, 200, 401]],
    ['GET /metrics', [401, 401, 200, 200, 401]],
    ['POST /api/sessions', [401, 401, 403, 201, 401]],
    ['WS /api/live', [401, 401, 101, 101, 401]],
    ['GET /healthz', [200, 200, 200, 200, 200]],
  ];
  const given = [undefined, TOKENS.ingest, TOKENS.read, TOKENS.admin, 'wrong-token'];
  for (const [request, statuses] of expected) {
    const [method, path] = request.split(' ') as [string, string];
    for (const [i, token] of given.entries()) {
      const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
      let status: number;
      if (method === 'WS') {
        status = await liveHandshake(`${base.replace('http', 'ws')}${path}`, headers);
      } else {
        const body = method === 'POST' ? JSON.stringify({ name: `by ${i}` }) : undefined;
        if (body) headers['content-type'] = 'application/json';
        status = (await fetch(`${base}${path}`, { method, headers, body })).status;
      }
      assert.equal(status, statuses[i], `${request} with ${token ?? 'no token'}`);
    }
  }
  // The router also answers an escaped path and an absolute-form request line by the
  // route they decode to: they need that route's power just the same.
  for (const [path, expected] of [
    ['/%61pi/sessions', 401],
    [`${base}/api/sessions`, 401],
    ['/%6detrics', 401],
  ] as const) {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: new URL(base).port,
          method: path.includes('metrics') ? 'GET' : 'POST',
          path,
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ name: 'sneaked' }));
    });
    assert.equal(status, expected, path);
  }
  // Exactly one session was started: the admin's.
  assert.deepEqual(
    (await collector.sessions.list()).map((s) => s.name),
    ['by 3'],
  );
});

test('the viewer signs in by link: token in the URL once, then an HttpOnly cookie', async (t) => {
  const collector = await startCollector(t, { credentials: { admin: TOKENS.admin } });
  const base = collector.httpUrl;
  const link = await fetch(`${base}/?token=${TOKENS.admin}&view=sessions`, {
    redirect: 'manual',
  });
  assert.equal(link.status, 303);
  assert.equal(link.headers.get('location'), '/?view=sessions', 'the token leaves the address');
  const setCookie = link.headers.get('set-cookie') ?? '';
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Strict/);
  const cookie = setCookie.split(';')[0]!;
  assert.equal(cookieValue(cookie, 'tollgate_token'), TOKENS.admin);

  // With the cookie alone: reads, the live stream, and (the admin's) a session.
  assert.equal((await fetch(`${base}/api/topology`, { headers: { cookie } })).status, 200);
  assert.equal(await liveHandshake(`${base.replace('http', 'ws')}/api/live`, { cookie }), 101);
  const started = await fetch(`${base}/api/sessions`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json', origin: base },
    body: JSON.stringify({ name: 'from the viewer' }),
  });
  assert.equal(started.status, 201);
  // Another site's page cannot ride on the cookie (a browser sends its own Origin).
  const forged = await fetch(`${base}/api/sessions`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json', origin: 'http://attacker.example' },
    body: JSON.stringify({ name: 'forged' }),
  });
  assert.equal(forged.status, 403);
  assert.equal((await collector.sessions.list()).length, 1);

  // A wrong link signs nobody in; the page itself needs no token.
  const wrong = await fetch(`${base}/?token=guess`, { redirect: 'manual' });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get('set-cookie'), null);
  assert.equal((await fetch(`${base}/api/topology`)).status, 401);
});

test('the token is cut out of a URL and a cookie is read from its header', () => {
  assert.equal(withoutToken('/?token=abc'), '/');
  assert.equal(withoutToken('/x?a=1&token=abc&b=2'), '/x?a=1&b=2');
  assert.equal(withoutToken('/x?tokens=1&token'), '/x?tokens=1');
  // Never off this collector: protocol-relative and backslashed paths go home.
  assert.equal(withoutToken('//attacker.example/?token=abc'), '/');
  assert.equal(withoutToken('/\\attacker.example/?token=abc'), '/');
  assert.equal(cookieValue('a=1; tollgate_token=x%20y; b=2', 'tollgate_token'), 'x y');
  assert.equal(cookieValue('not_tollgate_token=1', 'tollgate_token'), undefined);
  assert.equal(cookieValue(undefined, 'tollgate_token'), undefined);
});
