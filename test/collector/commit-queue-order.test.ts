// The commit queue gives its store one transaction at a time, groups in the order the
// batches came, now that a store answers asynchronously. A store in memory whose commits
// the test releases one by one is the ground truth: it records every group it was given
// and how many were under way at once; what it stored is counted back from it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { CommitQueue } from '../../collector/ingest/commit-queue.js';
import type { CommitStatus } from '../../collector/store/collector-store.js';
import { SqliteCollectorStore } from '../../collector/store/sqlite-collector-store.js';
import { Store } from '../../collector/store/store.js';
import { Batch } from '../../proto/gen/tollgate/v1.js';
import { meshBatch } from './mesh-batches.js';

/** A store whose commits wait until the test releases them, one each. */
class HeldStore extends SqliteCollectorStore {
  inFlight = 0;
  maxInFlight = 0;
  /** The sequences of each group, in the order the commits were asked for. */
  readonly groups: number[][] = [];
  /** Commits to fail when released, by their place in `groups`. */
  readonly failing = new Set<number>();
  private readonly held: (() => void)[] = [];

  constructor() {
    super(Store.open(':memory:'));
  }

  override async commit(batches: readonly Batch[], nowMs?: number): Promise<CommitStatus[]> {
    const place = this.groups.push(batches.map((b) => b.sequence)) - 1;
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise<void>((resolve) => this.held.push(resolve));
      if (this.failing.has(place)) throw new Error(`group ${place} failed`);
      return await super.commit(batches, nowMs);
    } finally {
      this.inFlight -= 1;
    }
  }

  get waiting(): number {
    return this.held.length;
  }

  /** Lets the oldest held commit go on, then lets the queue react. */
  async release(): Promise<void> {
    const next = this.held.shift();
    assert.ok(next, 'a commit is held');
    next();
    for (let i = 0; i < 5; i++) await turn();
  }
}

const t0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
const batch = (sequence: number): Batch =>
  Batch.decode(
    Batch.encode({
      ...meshBatch(sequence, t0 + sequence * 1000),
      agentId: 'a',
      bootId: 'b',
      sequence,
    }),
  );

test('one commit at a time, groups in the order the batches came; flush waits for the last', async (t) => {
  const store = new HeldStore();
  t.after(() => store.close());
  // Groups of two at most; nothing leaves on a timer (the test flushes).
  const queue = new CommitQueue(store, { maxGroup: 2, lingerMs: 600_000 });
  const settled: { sequence: number; status: CommitStatus }[] = [];
  const submit = (sequence: number) =>
    queue.submit(batch(sequence), 1).then((status) => settled.push({ sequence, status }));
  const all: Promise<unknown>[] = [];
  // Two batches fill a group: its commit starts at once and is held.
  for (const s of [1, 2]) all.push(submit(s));
  await turn();
  assert.deepEqual(store.groups, [[1, 2]]);
  // More come while it is held: none of them goes to the store yet, flush or not.
  for (const s of [3, 4, 5]) all.push(submit(s));
  let flushed = false;
  const flush = queue.flush().then(() => {
    flushed = true;
  });
  await turn();
  assert.equal(store.groups.length, 1, 'nothing more while a commit is under way');
  assert.equal(queue.depth, 5, 'the group in its transaction counts as held');

  await store.release();
  assert.deepEqual(settled.map((s) => s.sequence).sort(), [1, 2], 'the first group acknowledged');
  assert.deepEqual(
    store.groups,
    [
      [1, 2],
      [3, 4],
    ],
    'then the next group, in order',
  );
  await store.release();
  assert.deepEqual(store.groups, [[1, 2], [3, 4], [5]]);
  assert.equal(flushed, false, 'flush waits for the last batch submitted before it');
  await store.release();
  await flush;
  await Promise.all(all);

  assert.equal(store.maxInFlight, 1, 'never two transactions at once');
  assert.deepEqual(
    settled.map((s) => s.sequence),
    [1, 2, 3, 4, 5],
  );
  assert.ok(settled.every((s) => s.status === 'stored'));
  assert.equal(await store.batchCount(), 5, 'the store holds each once');
  assert.equal(queue.committed, 5);
  assert.equal(queue.depth, 0);
  assert.equal(queue.depthBytes, 0);

  // A replay is a duplicate, through the same path.
  const again = queue.submit(batch(3), 1);
  const flushedAgain = queue.flush();
  await turn();
  await store.release();
  assert.equal(await again, 'duplicate');
  await flushedAgain;
  assert.equal(queue.duplicates, 1);
});

test('the bound counts the group being committed; drain comes only with room', async (t) => {
  const store = new HeldStore();
  t.after(() => store.close());
  const queue = new CommitQueue(store, { maxGroup: 2, lingerMs: 600_000, highWater: 3 });
  let drains = 0;
  queue.on('drain', () => {
    drains += 1;
  });
  const all = [1, 2, 3, 4].map((s) => queue.submit(batch(s), 1));
  await turn();
  // [1, 2] is being committed and [3, 4] waits: four held, over the bound of three.
  assert.equal(store.waiting, 1);
  assert.equal(queue.hasRoom(), false);
  await store.release();
  // [1, 2] is done, [3, 4] in its transaction: two held, room again, and a drain said so.
  assert.equal(queue.depth, 2);
  assert.equal(queue.hasRoom(), true);
  assert.equal(drains, 1);
  await store.release();
  await Promise.all(all);
  assert.equal(drains, 2);
  assert.equal(queue.depth, 0);
});

test('a failed commit fails its own group only; the next one commits', async (t) => {
  const store = new HeldStore();
  t.after(() => store.close());
  store.failing.add(0);
  const queue = new CommitQueue(store, { maxGroup: 2, lingerMs: 600_000 });
  const outcomes = [1, 2, 3].map((s) =>
    queue.submit(batch(s), 1).then(
      (status) => status,
      (error: Error) => error.message,
    ),
  );
  const flush = queue.flush();
  await turn();
  await store.release();
  await store.release();
  await flush;
  assert.deepEqual(await Promise.all(outcomes), ['group 0 failed', 'group 0 failed', 'stored']);
  assert.equal(await store.batchCount(), 1, 'nothing of the failed group stored');
  assert.equal(queue.committed, 1);
  assert.equal(queue.depth, 0);
  assert.equal(store.maxInFlight, 1);
});
