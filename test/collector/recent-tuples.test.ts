// The join's memory of recent tuples: the other side found within the window only, a
// connection told apart by its client's address and scope even where port and ISN are
// the same, the first noted dropped first when full (counted when still inside the
// window), and expired by age.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentTuples, type TupleKey } from '../../collector/store/recent-tuples.js';

const key = (address: string, port = 41_000, isn = 7, scope = ''): TupleKey => ({
  scope,
  address,
  port,
  isn,
});

test('the other side is found within the window of its sighting, either side of it', () => {
  const recent = new RecentTuples(60_000, 10);
  assert.equal(recent.meet(key('10.0.0.1'), 0, 7, 100_000), undefined, 'nothing to meet yet');
  assert.equal(recent.meet(key('10.0.0.1'), 1, 8, 160_000)?.endId, 7);
  assert.equal(recent.meet(key('10.0.0.1'), 0, 9, 100_000)?.endId, 8, 'the server end, 60 s on');
  assert.equal(recent.meet(key('10.0.0.1'), 1, 8, 160_001), undefined, 'past the window');
  assert.equal(recent.size, 1);
});

test('same port and ISN, another client address or scope: another connection', () => {
  const recent = new RecentTuples(60_000, 10);
  recent.meet(key('10.0.0.1'), 0, 1, 0);
  recent.meet(key('10.0.0.2'), 0, 2, 0);
  recent.meet(key('127.0.0.1', 41_000, 7, 'node-a/4026531840'), 0, 3, 0);
  assert.equal(recent.meet(key('10.0.0.2'), 1, 20, 0)?.endId, 2);
  assert.equal(recent.meet(key('127.0.0.1', 41_000, 7, 'node-b/4026531840'), 1, 30, 0), undefined);
  assert.equal(recent.meet(key('127.0.0.1', 41_000, 7, 'node-a/4026531840'), 1, 31, 0)?.endId, 3);
  assert.equal(recent.meet(key('10.0.0.1', 41_000, 8), 1, 10, 0), undefined, 'another ISN');
  assert.equal(recent.meet(key('10.0.0.1', 41_001, 7), 1, 10, 0), undefined, 'another port');
  assert.equal(recent.size, 6);
});

test('full, the first noted goes first, and is counted only while still in the window', () => {
  const recent = new RecentTuples(60_000, 3);
  recent.meet(key('a'), 0, 1, 0);
  recent.meet(key('b', 2), 0, 2, 70_000);
  recent.meet(key('c', 3), 0, 3, 80_000);
  recent.meet(key('d', 4), 0, 4, 100_000); // evicts a (0 s: past the window of 100 s), not counted
  assert.equal(recent.evicted, 0);
  recent.meet(key('b', 2), 0, 5, 110_000); // noted again: keeps its place
  recent.meet(key('e', 5), 0, 6, 120_000); // evicts b (110 s, inside the window of 120 s)
  assert.equal(recent.size, 3);
  assert.equal(recent.evicted, 1);
  assert.equal(recent.meet(key('c', 3), 1, 51, 120_000)?.endId, 3);
  assert.equal(recent.meet(key('b', 2), 1, 50, 120_000), undefined, 'b is gone');
});

test('expire drops what was last seen before the time it is given', () => {
  const recent = new RecentTuples(60_000, 10);
  recent.meet(key('a'), 0, 1, 0);
  recent.meet(key('b', 2), 0, 2, 50_000);
  recent.expire(40_000);
  assert.equal(recent.size, 1);
  assert.equal(recent.meet(key('b', 2), 1, 3, 100_000)?.endId, 2);
});
