// The join's memory of recent tuples: found within the window only, the oldest dropped
// first when full (and counted when still inside the window), expired by age.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentTuples } from '../../collector/store/recent-tuples.js';

test('a tuple is found within the window of its sighting, either side of it', () => {
  const recent = new RecentTuples(60_000, 10);
  recent.note('k', 7, 100_000);
  assert.equal(recent.find('k', 160_000)?.endId, 7);
  assert.equal(recent.find('k', 40_000)?.endId, 7);
  assert.equal(recent.find('k', 160_001), undefined);
  assert.equal(recent.find('other', 100_000), undefined);
});

test('full, the first noted goes first, and is counted only while still in the window', () => {
  const recent = new RecentTuples(60_000, 3);
  recent.note('a', 1, 0);
  recent.note('b', 2, 70_000);
  recent.note('c', 3, 80_000);
  recent.note('d', 4, 100_000); // evicts a (0 s: past the window of 100 s), not counted
  assert.equal(recent.evicted, 0);
  recent.note('b', 5, 110_000); // noted again: keeps its place
  recent.note('e', 6, 120_000); // evicts b (110 s, inside the window of 120 s)
  assert.equal(recent.size, 3);
  assert.equal(recent.find('b', 120_000), undefined);
  assert.equal(recent.find('c', 120_000)?.endId, 3);
  assert.equal(recent.evicted, 1);
});

test('expire drops what is older than the window', () => {
  const recent = new RecentTuples(60_000, 10);
  recent.note('a', 1, 0);
  recent.note('b', 2, 50_000);
  recent.expire(100_000);
  assert.equal(recent.size, 1);
  assert.equal(recent.find('b', 100_000)?.endId, 2);
});
