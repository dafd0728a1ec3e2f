// The rollups stay below what is still arriving: a collector behind keeps its rows on the
// raw path instead of getting them late into rollups already made (which costs several
// raw rows each, and made a collector behind slower the further behind it was), reads
// give the same totals, and the hold-back is bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RollupPacing } from '../../collector/store/rollup-pacing.js';
import { Store } from '../../collector/store/store.js';
import { Batch as BatchCodec } from '../../proto/gen/tollgate/v1.js';
import { meshBatch } from './mesh-batches.js';

test('the rollups reach now less the grace, or what 9 in 10 batches still arriving began at', () => {
  const pacing = new RollupPacing({ graceMs: 10_000, maxHoldBackMs: 3_600_000 });
  const now = 10_000_000;
  assert.equal(pacing.rollUpTo(now), now - 10_000, 'nothing stored: the grace');
  for (let k = 0; k < 10; k++) pacing.noteStored(now - 2_000 + k * 100);
  assert.equal(pacing.rollUpTo(now), now - 10_000, 'kept up: the grace');
  for (let k = 0; k < 10; k++) pacing.noteStored(now - 70_000 + k * 1_000);
  assert.equal(pacing.rollUpTo(now), now - 70_000, 'behind by a minute: the oldest arriving');
  // One straggler of 20 (an old spool replayed) does not hold the rest back.
  pacing.noteStored(now - 3 * 3_600_000);
  for (let k = 0; k < 19; k++) pacing.noteStored(now - 30_000 + k * 1_000);
  assert.equal(pacing.rollUpTo(now), now - 30_000, 'the second oldest of 20: the 10th percentile');
  for (let k = 0; k < 10; k++) pacing.noteStored(now - 2 * 3_600_000);
  assert.equal(pacing.rollUpTo(now), now - 3_600_000, 'held back an hour at most');
  assert.equal(pacing.rollUpTo(now), now - 10_000, 'each pass forgets the batches noted before');
});

const asBatch = (i: number, startMs: number) =>
  BatchCodec.decode(
    BatchCodec.encode({ agentId: 'a', bootId: 'b', sequence: i, ...meshBatch(i, startMs) }),
  );

/** Ten minutes of batches a second apart, each stored a minute after its interval, a maintenance pass every 10 s. */
function behindByAMinute(store: Store, t: number): number {
  for (let k = 0; k < 600; k++) {
    const storedAt = t + k * 1000 + 61_000;
    store.commit([asBatch(k + 1, t + k * 1000)], storedAt);
    if (k % 10 === 9) store.maintain(storedAt);
  }
  const budget = { rows: 1e9 };
  const read = store.read('end', t, t + 700_000, t + 700_000, budget);
  return [...read.values()].reduce((n, a) => n + a.sums.exchanges!, 0);
}

test('a store behind by a minute rolls up below what is arriving: no row late, the same totals', () => {
  const t = Math.floor(Date.now() / 600_000) * 600_000 - 3_600_000;
  const paced = Store.open(':memory:', { rollupGraceMs: 10_000 });
  // The same without a hold-back: what the store did before, for comparison.
  const unpaced = Store.open(':memory:', { rollupGraceMs: 10_000, rollupMaxHoldBackMs: 0 });
  const exchanges = [paced, unpaced].map((store) => behindByAMinute(store, t));
  assert.equal(paced.lateRows, 0, 'paced: every row on the raw path');
  assert.ok(unpaced.lateRows > 500 * 7, `unpaced: ${unpaced.lateRows} rows late`);
  assert.deepEqual(
    exchanges,
    [600 * 7 * 50, 600 * 7 * 50],
    'seven ends of 50 per batch, both ways',
  );
  paced.close();
  unpaced.close();
});
