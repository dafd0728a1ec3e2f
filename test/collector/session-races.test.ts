// The session manager's changes of state, asked for at the same moment: with a store that
// answers asynchronously, each must still find the store as the one before it left it.
// Two stops of one session end it once; starts beyond the running limit or the load
// budget are refused however many come at once; a delete cannot slip past a stop; a
// planned end that a stop got to first does nothing and says nothing.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { Queries } from '../../collector/queries.js';
import { SessionError, SessionManager } from '../../collector/sessions/session-manager.js';
import { SESSION_LIMITS } from '../../collector/sessions/spec-validation.js';
import { SqliteCollectorStore } from '../../collector/store/sqlite-collector-store.js';
import { Store } from '../../collector/store/store.js';
import type { LoadOrder, SessionTarget } from '../../proto/gen/tollgate/v1.js';

async function manager(t: TestContext) {
  const store = new SqliteCollectorStore(Store.open(':memory:'));
  const targets: { selections: SessionTarget[]; generation: number }[] = [];
  const orders: LoadOrder[] = [];
  const sessions = await SessionManager.open({
    store,
    queries: new Queries(store),
    agents: {
      connectedAgents: () => ['node-a'],
      setTarget: (target) => targets.push(target),
      sendLoadOrder: (_agent, order) => {
        orders.push(order);
        return true;
      },
    },
    finishTimeoutMs: 0,
    loadPolicy: { budgetRps: 1000 },
  });
  t.after(async () => {
    await sessions.close();
    await store.close();
  });
  return { store, sessions, targets, orders };
}

const refusal = (results: PromiseSettledResult<unknown>[]) =>
  results.flatMap((r) =>
    r.status === 'rejected'
      ? [r.reason instanceof SessionError ? `${r.reason.status} ${r.reason.message}` : r.reason]
      : [],
  );

test('two stops of one session at once: one stops it, the other is told it is not running', async (t) => {
  const { store, sessions, targets } = await manager(t);
  const updates = t.mock.method(store.sessions, 'update');
  const { id } = await sessions.start({ name: 'a', target: { namespaces: ['shop'] } });
  assert.deepEqual(targets.at(-1)?.selections.length, 1, 'the agents trace the target');
  const results = await Promise.allSettled([sessions.stop(id), sessions.stop(id)]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  assert.deepEqual(refusal(results), [`409 session ${id} is finishing, not running`]);
  assert.equal((await sessions.get(id)).state, 'stopped');
  assert.deepEqual(
    updates.mock.calls.map((c) => c.arguments[1].state),
    ['finishing', 'stopped'],
    'moved to finishing once, frozen once',
  );
  assert.deepEqual(targets.at(-1)?.selections, [], 'everything traced again');
  assert.ok(
    targets.every((x, i) => i === 0 || x.generation > targets[i - 1]!.generation),
    'each target newer than the last',
  );
});

test('starts at once beyond the running limit: the limit holds', async (t) => {
  const { sessions } = await manager(t);
  const results = await Promise.allSettled(
    Array.from({ length: SESSION_LIMITS.running + 3 }, (_, k) => sessions.start({ name: `s${k}` })),
  );
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, SESSION_LIMITS.running);
  assert.deepEqual(
    refusal(results),
    Array(3).fill(`409 ${SESSION_LIMITS.running} sessions are running; stop one first`),
  );
  assert.equal((await sessions.list()).length, SESSION_LIMITS.running);
});

test('loads asked for at once: the rate budget holds', async (t) => {
  const { sessions, orders } = await manager(t);
  const load = { urls: ['http://10.0.0.5/'], rps: 600, connections: 1, durationS: 10 };
  const results = await Promise.allSettled([
    sessions.start({ name: 'a', load }),
    sessions.start({ name: 'b', load }),
  ]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  assert.equal(refusal(results).length, 1);
  assert.match(
    String(refusal(results)[0]),
    /^409 load of 600 requests\/s is over the collector's budget: 600 of 1000/,
  );
  assert.deepEqual(
    orders.map((o) => o.rps),
    [600],
    'one load ordered',
  );
});

test('a delete asked for with a stop cannot remove the session under it', async (t) => {
  const { sessions } = await manager(t);
  const { id } = await sessions.start({ name: 'a' });
  const [stopped, removed] = await Promise.allSettled([sessions.stop(id), sessions.remove(id)]);
  assert.equal(stopped.status, 'fulfilled');
  assert.deepEqual(refusal([removed]), [`409 session ${id} is finishing; stop it first`]);
  assert.equal((await sessions.get(id)).state, 'stopped');
  await sessions.remove(id);
  await assert.rejects(sessions.get(id), /no session/);
});

test('a planned end that a stop got to first does nothing, and says nothing', async (t) => {
  const { store, sessions } = await manager(t);
  const errors = t.mock.method(console, 'error', () => {});
  const updates = t.mock.method(store.sessions, 'update');
  // Started a minute ago for one second: its planned end is due at once.
  const { id } = await sessions.start({ name: 'a', durationS: 1 }, Date.now() - 60_000);
  // The store reads slowly from now on, so the due timer fires while the stop, asked for
  // first, is still reading the session: its end then comes after the stop's.
  const get = store.sessions.get.bind(store.sessions);
  t.mock.method(store.sessions, 'get', async (sessionId: string) => {
    await new Promise((r) => setTimeout(r, 20));
    return get(sessionId);
  });
  const stopped = await sessions.stop(id);
  assert.equal(stopped.state, 'stopped');
  await sessions.close();
  assert.deepEqual(
    updates.mock.calls.map((c) => c.arguments[1].state),
    ['finishing', 'stopped'],
  );
  assert.equal(errors.mock.callCount(), 0, errors.mock.calls.map((c) => c.arguments).join('; '));
});

test('an import of an id that exists is refused and changes nothing', async (t) => {
  const { sessions } = await manager(t);
  const { id } = await sessions.start({ name: 'a' });
  await sessions.stop(id);
  const file = await sessions.export(id, 'json');
  await assert.rejects(sessions.import(file, 'json'), (e: unknown) => {
    assert.ok(e instanceof SessionError);
    assert.equal(e.status, 409);
    assert.equal(e.message, `a session with id ${id} exists already`);
    return true;
  });
  const [row] = await sessions.list();
  assert.equal(row?.state, 'stopped', 'the session is as it was');
  assert.equal((await sessions.list()).length, 1);
});
