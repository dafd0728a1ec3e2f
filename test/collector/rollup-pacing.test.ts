// The rollups wait while the collector is behind: most batches stored since the last pass
// older than half the grace. Then its rows stay raw (the fast path) instead of arriving
// late into rollups already made, and reads give the same totals; the wait is bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RollupPacing } from '../../collector/store/rollup-pacing.js';
import { Store } from '../../collector/store/store.js';
import { Batch as BatchCodec } from '../../proto/gen/tollgate/v1.js';
import { meshBatch } from './mesh-batches.js';

test('the rollups wait while most of what was stored is behind, at most maxDeferMs', () => {
  const pacing = new RollupPacing({ graceMs: 10_000, maxDeferMs: 60_000 });
  assert.equal(pacing.shouldRollUp(0), true, 'nothing stored: roll up');
  for (const lag of [200, 300, 7_000]) pacing.noteStored(lag);
  assert.equal(pacing.shouldRollUp(10_000), true, 'one of three behind');
  for (const lag of [6_000, 20_000, 100]) pacing.noteStored(lag);
  assert.equal(pacing.shouldRollUp(20_000), false, 'two of three past half the grace');
  for (const lag of [6_000, 6_000]) pacing.noteStored(lag);
  assert.equal(pacing.shouldRollUp(69_999), false, 'still behind, waited 59,999 ms');
  for (const lag of [6_000, 6_000]) pacing.noteStored(lag);
  assert.equal(pacing.shouldRollUp(70_000), true, 'still behind, but waited 60 s');
  assert.equal(pacing.shouldRollUp(71_000), true, 'nothing stored since: roll up');
});

const asBatch = (i: number, startMs: number) =>
  BatchCodec.decode(
    BatchCodec.encode({ agentId: 'a', bootId: 'b', sequence: i, ...meshBatch(i, startMs) }),
  );

test('behind, a store keeps its rows raw and reads them the same; caught up, it rolls them up', () => {
  const store = Store.open(':memory:', { rollupGraceMs: 10_000, rollupMaxDeferMs: 3_600_000 });
  const t = Math.floor(Date.now() / 600_000) * 600_000 - 3_600_000;
  const spent = (to: number) => {
    const budget = { rows: 1e9 };
    const read = store.read('end', t, to, to, budget);
    const exchanges = [...read.values()].reduce((n, a) => n + a.sums.exchanges!, 0);
    return { rows: 1e9 - budget.rows, exchanges };
  };
  store.maintain(t);
  // Ten minutes of batches a second apart, each stored 7 s after its interval (past half
  // the grace: a collector behind), a maintenance pass every 10 s as the collector runs.
  for (let k = 0; k < 600; k++) {
    store.commit([asBatch(k + 1, t + k * 1000)], t + k * 1000 + 8000);
    if (k % 10 === 9) store.maintain(t + k * 1000 + 8000);
  }
  const behind = spent(t + 608_000);
  // Caught up (a batch on time), the rollups go ahead: the same totals from fewer rows.
  store.commit([asBatch(601, t + 600_000)], t + 601_500);
  store.maintain(t + 601_500);
  const caughtUp = spent(t + 608_000);
  assert.equal(behind.rows, 601 * 7 - 7, 'behind: every raw row read, none rolled up');
  assert.equal(caughtUp.exchanges - behind.exchanges, 7 * 50, 'the last batch, seven ends of 50');
  assert.ok(caughtUp.rows < behind.rows / 5, `caught up: ${caughtUp.rows} rows read`);
  store.close();
});
