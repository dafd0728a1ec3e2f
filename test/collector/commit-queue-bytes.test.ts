// The commit queue is bounded by bytes as well as by batches: one batch may be a
// kilobyte or 16 MiB, so a count alone bounds nothing. With the store's commits held
// back, an agent's stream pauses once the batches waiting reach the byte bound (here a
// few batches' worth, far below the count bound) and resumes when they are committed;
// every batch is stored in the end and acknowledged once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Shipper } from '../../daemonset/shipping/shipper.js';
import { Batch } from '../../proto/gen/tollgate/v1.js';
import { TOLLGATE_VERSION } from '../../proto/version.js';
import { startCollector } from './fixture.js';
import { meshBatch, NODE } from './mesh-batches.js';

const BATCHES = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('batches waiting for their commit are bounded by bytes: the stream pauses, then resumes', async (t) => {
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
  const batches = Array.from({ length: BATCHES }, (_, k) => meshBatch(k + 1, t0 + k * 1000));
  const sizes = batches.map(
    (b, k) => Batch.encode({ agentId: 'agent-1', bootId: 'b', sequence: k + 1, ...b }).length,
  );
  const largest = Math.max(...sizes);
  // About four batches' worth; the count bound (1,024) is never near.
  const bound = 4 * largest;
  const collector = await startCollector(t, {
    // Nothing commits on its own: the test decides when the store catches up.
    queue: { highWaterBytes: bound, lingerMs: 600_000, maxGroup: 10_000 },
  });
  const shipper = new Shipper({
    target: collector.grpcAddress,
    hello: { agentId: 'agent-1', node: NODE, agentVersion: TOLLGATE_VERSION },
  });
  t.after(() => shipper.stop());
  shipper.start();
  for (const b of batches) shipper.send(b);

  // The queue fills to the bound and no further: the stream paused after the batch that
  // crossed it. Wait for the stream to reach the bound (it must connect first, which a
  // loaded machine can take longer than one poll over), then for the depth to hold
  // still over half a second: nothing commits meanwhile, so a depth that keeps rising
  // would be a stream that never paused.
  for (let i = 0; i < 150 && collector.queue.depthBytes < bound; i++) await sleep(100);
  let depth = collector.queue.depth;
  for (let still = 0, i = 0; still < 5 && i < 100; i++) {
    await sleep(100);
    still = collector.queue.depth === depth ? still + 1 : 0;
    depth = collector.queue.depth;
  }
  t.diagnostic(
    `${collector.queue.depth} batches, ${collector.queue.depthBytes} bytes waiting; bound ${bound}, largest ${largest}`,
  );
  assert.ok(collector.queue.depthBytes >= bound, 'filled up to the bound');
  assert.ok(
    collector.queue.depthBytes < bound + largest,
    `at most one batch past it: ${collector.queue.depthBytes}`,
  );
  assert.ok(collector.queue.depth < BATCHES, 'the rest wait at the agent');

  // Committing frees the room; the stream resumes until everything is stored.
  const acked = shipper.flush(20_000);
  for (let i = 0; i < 200 && collector.queue.depth + collector.queue.committed < BATCHES; i++) {
    await collector.queue.flush();
    await sleep(50);
  }
  await collector.queue.flush();
  assert.ok(await acked, 'every batch acknowledged');
  assert.equal(collector.queue.committed, BATCHES);
  assert.equal(collector.queue.duplicates, 0);
  assert.equal(collector.queue.depthBytes, 0);
});
