// Each node's moment to send its batch: stable, within its bound, and spread over it
// across a cluster's names; held batches go in order, and a flush sends them at once; a
// real agent hands its batches to the shipper that much after it built them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DelayedSender,
  SHIP_SPREAD_MAX_MS,
  shipDelayMs,
} from '../../daemonset/shipping/ship-delay.js';
import { startAgent } from './agent-fixture.js';

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

test("an agent holds each interval's batch for its delay before the shipper has it", async (t) => {
  // A real agent and runner, shipping to a port where nothing listens: a batch the agent
  // hands its shipper waits in the spool, so the spool's count says when it was handed.
  const DELAY_MS = 300;
  const { agent } = await startAgent(t, {
    collector: '127.0.0.1:1',
    intervalMs: 1000,
    shipDelayMs: DELAY_MS,
  });
  assert.equal(agent.status().shipDelay.ms, DELAY_MS);
  let builtAt: number | undefined;
  let handedAt: number | undefined;
  const deadline = performance.now() + 5000;
  while (handedAt === undefined && performance.now() < deadline) {
    const s = agent.status();
    const now = performance.now();
    if (builtAt === undefined && s.batches >= 1) {
      builtAt = now;
      assert.equal(s.shipDelay.held, 1, 'the built batch is held');
      assert.equal(s.shipper.spoolBatches, 0, 'and not yet with the shipper');
    }
    if (s.shipper.spoolBatches >= 1) {
      handedAt = now;
      assert.equal(s.shipDelay.held, 0);
    }
    await sleep(10);
  }
  assert.ok(builtAt !== undefined && handedAt !== undefined, 'a batch was built and handed over');
  const waited = handedAt - builtAt;
  t.diagnostic(`handed to the shipper ${waited.toFixed(0)} ms after it was built`);
  assert.ok(waited > DELAY_MS - 60 && waited < DELAY_MS + 200, `${waited} ms`);
});
