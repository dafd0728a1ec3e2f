// Load orders stay inside the cluster and within one rate budget. The outside targets
// are the ones an attacker holding the admin token would pick: a public address, a
// public name, the cloud metadata service, the node's own loopback (also spelled as a
// hex number). The budget is checked against loads whose windows are known by hand.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Queries } from '../../collector/queries.js';
import { LoadPolicyError, LoadTargets } from '../../collector/sessions/load-policy.js';
import { SessionError, SessionManager } from '../../collector/sessions/session-manager.js';
import { SqliteCollectorStore } from '../../collector/store/sqlite-collector-store.js';
import { Store } from '../../collector/store/store.js';
import type { LoadOrder, SessionTarget } from '../../proto/gen/tollgate/v1.js';
import { startCollector } from './fixture.js';

test('by default a load may go to Service names and private ranges, nowhere else', () => {
  const targets = new LoadTargets();
  for (const url of [
    'http://reviews.shop.svc.cluster.local:9080/ratings',
    'http://reviews.shop.svc/',
    'http://10.96.0.12/',
    'http://172.20.1.2:8080/',
    'http://192.168.4.5/',
    'http://100.64.3.2/',
    'http://[fd00::12]:80/',
  ])
    assert.equal(targets.refusal(url), undefined, url);
  for (const url of [
    'http://93.184.216.34/',
    'http://example.com/',
    'http://169.254.169.254/latest/meta-data/',
    'http://127.0.0.1:10248/healthz',
    'http://0x7f000001/',
    'http://[::1]/',
    'http://localhost/',
    'http://10.0.0.1.nip.io/',
    'http://svc.attacker.example/',
    'http://172.32.0.1/',
  ])
    assert.match(targets.refusal(url) ?? '', /outside the cluster and not allowed/, url);
  assert.match(targets.refusal('ftp://10.0.0.1/') ?? '', /not an http:\/\/ URL/);
});

test("an operator's list replaces the default", () => {
  const targets = new LoadTargets([
    '198.18.0.0/15',
    'api.internal',
    '*.lab.example',
    '2001:db8::1',
  ]);
  for (const url of [
    'http://198.19.255.1/',
    'http://api.internal:8080/',
    'http://a.b.lab.example/',
    'http://[2001:db8::1]/',
  ])
    assert.equal(targets.refusal(url), undefined, url);
  for (const url of ['http://10.0.0.1/', 'http://x.api.internal/', 'http://lab.example/'])
    assert.ok(targets.refusal(url), url);
  for (const bad of ['10.0.0.0/33', '1.2.3.4/8/1', 'http://x', '*.', 'a b'])
    assert.throws(() => new LoadTargets([bad]), LoadPolicyError, bad);
});

test('an outside load URL is refused by the API and nothing starts', async (t) => {
  const collector = await startCollector(t);
  const response = await fetch(`${collector.httpUrl}/api/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'exfiltrate',
      load: {
        urls: ['http://10.0.0.5/', 'http://169.254.169.254/'],
        rps: 10,
        connections: 1,
        durationS: 1,
      },
    }),
  });
  assert.equal(response.status, 400);
  assert.match(
    ((await response.json()) as { message: string }).message,
    /load target 169\.254\.169\.254 is outside the cluster/,
  );
  assert.deepEqual(await collector.sessions.list(), []);
});

test('all running loads share one rate budget, stopped sessions included, deleted ones not before their end', async (t) => {
  const store = new SqliteCollectorStore(Store.open(':memory:'));
  const orders: LoadOrder[] = [];
  const manager = await SessionManager.open({
    store,
    queries: new Queries(store),
    agents: {
      connectedAgents: () => ['node-a', 'node-b'],
      setTarget: (_: { selections: SessionTarget[]; generation: number }) => {},
      sendLoadOrder: (_agent: string, order: LoadOrder) => {
        orders.push(order);
        return true;
      },
    },
    loadLeadMs: 1000,
    finishTimeoutMs: 0,
    loadPolicy: { budgetRps: 1000 },
  });
  t.after(async () => {
    await manager.close();
    await store.close();
  });
  const load = (rps: number) => ({
    urls: ['http://10.0.0.5/'],
    rps,
    connections: 2,
    durationS: 10,
  });
  const t0 = 1_000_000_000_000;
  const first = await manager.start({ name: 'a', load: load(600), durationS: 60 }, t0);
  assert.deepEqual(
    orders.map((o) => o.rps),
    [300, 300],
    'split over the two agents',
  );
  await assert.rejects(
    () => manager.start({ name: 'b', load: load(500) }, t0 + 100),
    (e: unknown) =>
      e instanceof SessionError &&
      e.status === 409 &&
      /over the collector's budget: 600 of 1000/.test(e.message),
  );
  await manager.start({ name: 'c', load: load(400) }, t0 + 200);
  assert.equal(orders.length, 4);
  // Stopping 'a' does not stop its load on the agents, so it still counts...
  await manager.stop(first.id, t0 + 300);
  await assert.rejects(() => manager.start({ name: 'd', load: load(1) }, t0 + 400), SessionError);
  // Nor can deleting it take its load off the books while the agents still run it.
  await assert.rejects(
    () => manager.remove(first.id, t0 + 500),
    (e: unknown) =>
      e instanceof SessionError &&
      e.status === 409 &&
      /load runs on the agents until/.test(e.message),
  );
  // ...until its window (lead 1 s + 10 s) has passed: then 'c' alone runs (until t0+11.2 s).
  await manager.start({ name: 'e', load: load(600) }, t0 + 11_000);
  assert.equal(orders.length, 6);
  await manager.remove(first.id, t0 + 11_000);
  // A load only described (run by something else) takes nothing from the budget.
  await manager.start(
    { name: 'f', load: { generator: 'wrk', rps: 50_000, connections: 64, durationS: 10 } },
    t0 + 11_100,
  );
  assert.equal(orders.length, 6);
});
