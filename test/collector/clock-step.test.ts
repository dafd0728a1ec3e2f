// An agent whose clock steps back during an interval sends a batch that ends before it
// starts. Its data is real: the collector stores it (at its end, on the clock the agent's
// next intervals follow), acknowledges it once, and counts it where an operator looks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Queries } from '../../collector/queries.js';
import { Shipper } from '../../daemonset/shipping/shipper.js';
import { TOLLGATE_VERSION } from '../../proto/version.js';
import { startCollector } from './fixture.js';
import { meshBatch, NODE, PER_INTERVAL } from './mesh-batches.js';

test('a batch that ends before it starts (the clock stepped back) is stored at its end and counted', async (t) => {
  const collector = await startCollector(t);
  const shipper = new Shipper({
    target: collector.grpcAddress,
    hello: { agentId: 'agent-1', node: NODE, agentVersion: TOLLGATE_VERSION },
  });
  t.after(() => shipper.stop());
  shipper.start();
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
  shipper.send(meshBatch(1, t0));
  // The second interval began at t0 + 1 s; the clock then stepped back 3 s, so it ended,
  // by that clock, at t0 - 1 s.
  shipper.send({ ...meshBatch(2, t0 + 1000), intervalEndUnixMs: t0 - 1000 });
  assert.ok(await shipper.flush(10_000), 'both acknowledged');
  assert.equal(shipper.stats().stored, 2);
  assert.equal(shipper.stats().rejected, 0);

  // Both intervals' exchanges are in the store: the first at t0, the second at its end.
  const exchanges = async (fromMs: number, toMs: number) =>
    (await new Queries(collector.store).view({ fromMs, toMs }, t0 + 10_000)).topology.edges.reduce(
      (n, e) => n + (e.client?.exchanges ?? 0),
      0,
    );
  const edgesWithClient = (
    await new Queries(collector.store).view({ fromMs: t0 - 2000, toMs: t0 + 2000 }, t0 + 10_000)
  ).topology.edges.filter((e) => e.client).length;
  assert.equal(await exchanges(t0 - 2000, t0 + 2000), 2 * PER_INTERVAL.exchanges * edgesWithClient);
  assert.equal(
    await exchanges(t0 - 1000, t0),
    PER_INTERVAL.exchanges * edgesWithClient,
    'the second at its end',
  );

  const metrics = await (await fetch(`${collector.httpUrl}/metrics`)).text();
  assert.match(metrics, /^tollgate_collector_clock_step_batches_total 1$/m);
  assert.match(metrics, /^tollgate_collector_batches_total\{outcome="stored"\} 2$/m);
});
