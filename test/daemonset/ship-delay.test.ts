// Each node's moment to send its batch: stable, within its bound, and spread over it
// across a cluster's names; held batches go in order, and a flush sends them at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DelayedSender,
  SHIP_SPREAD_MAX_MS,
  shipDelayMs,
} from '../../daemonset/shipping/ship-delay.js';

test('a node keeps its delay, within half the interval and the cap', () => {
  assert.equal(shipDelayMs('node-a', 1000), shipDelayMs('node-a', 1000));
  for (const [interval, bound] of [
    [1000, 500],
    [200, 100],
    [10_000, SHIP_SPREAD_MAX_MS],
  ] as const)
    for (let i = 0; i < 200; i++) {
      const d = shipDelayMs(`ip-10-0-${i}-7.ec2.internal`, interval);
      assert.ok(Number.isInteger(d) && d >= 0 && d < bound, `${d} ms of ${interval}`);
    }
  assert.equal(shipDelayMs('node-a', 0), 0);
});

test("a cluster's nodes spread over the whole bound, not bunched", () => {
  // 1,000 names of the kind a cloud gives its nodes: five equal slices of the 500 ms each
  // expect 200 (binomial spread about 13); a hash that bunched them would miss by far more.
  const slices = [0, 0, 0, 0, 0];
  for (let i = 0; i < 1000; i++) {
    const d = shipDelayMs(`gke-prod-pool-1-${(i * 7919).toString(36)}-${i % 13}`, 1000);
    slices[Math.floor(d / 100)]! += 1;
  }
  for (const n of slices) assert.ok(n > 150 && n < 250, `slices ${slices.join(', ')}`);
});

test('held batches go after the delay, in order; a flush sends the rest at once', async () => {
  const sent: { item: number; at: number }[] = [];
  const start = performance.now();
  const sender = new DelayedSender<number>(80, (item) =>
    sent.push({ item, at: performance.now() - start }),
  );
  sender.push(1);
  sender.push(2);
  assert.equal(sent.length, 0, 'nothing before the delay');
  assert.equal(sender.pending, 2);
  await sleep(200);
  assert.deepEqual(
    sent.map((s) => s.item),
    [1, 2],
  );
  // Node may fire a timer up to a millisecond early by the loop's cached clock; far from 0 all the same.
  for (const s of sent) assert.ok(s.at >= 70, `sent ${s.at.toFixed(1)} ms after the push`);

  sender.push(3);
  sender.push(4);
  sender.flush();
  assert.deepEqual(
    sent.map((s) => s.item),
    [1, 2, 3, 4],
  );
  assert.equal(sender.pending, 0);
  await sleep(150);
  assert.equal(sent.length, 4, 'a flushed batch is not sent again when its timer would have fired');

  const atOnce: number[] = [];
  const now = new DelayedSender<number>(0, (item) => atOnce.push(item));
  now.push(5);
  assert.deepEqual(atOnce, [5]);
});
