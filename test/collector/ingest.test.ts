// The agent's real gRPC client (the Shipper) sends synthesised batches with known
// content to a real collector; the HTTP API must return exactly that topology.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { Shipper } from '../../daemonset/shipping/shipper.js';
import type { PodCost, Topology } from '../../proto/api.js';
import { fromValues, quantile } from '../../proto/histogram.js';
import { startCollector } from './fixture.js';
import { latencies, meshBatch, NODE, PER_INTERVAL } from './mesh-batches.js';

const INTERVALS = 8;

/** A collector and the agent's real client, connected. */
async function collectorAndShipper(t: TestContext) {
  const collector = await startCollector(t);
  const shipper = new Shipper({
    target: collector.grpcAddress,
    hello: { agentId: 'agent-1', node: NODE },
  });
  t.after(() => shipper.stop());
  shipper.start();
  return { collector, shipper };
}

test('synthesised batches come back as the exact topology, ends joined', async (t) => {
  const { collector, shipper } = await collectorAndShipper(t);
  const t0 = Math.floor(Date.now() / 1000) * 1000 - INTERVALS * 1000;
  for (let i = 1; i <= INTERVALS; i++) shipper.send(meshBatch(i, t0 + (i - 1) * 1000));
  assert.ok(await shipper.flush(10_000), 'every batch acknowledged');
  assert.equal(shipper.stats().stored, INTERVALS);

  const url = `${collector.httpUrl}/api/topology?from=${t0}&to=${t0 + INTERVALS * 1000}`;
  const topology = (await (await fetch(url)).json()) as Topology & { costs: PodCost[] };

  const names = new Map(topology.processes.map((p) => [p.id, `${p.pod?.split('/')[1]}:${p.comm}`]));
  const edges = topology.edges.map(
    (e) =>
      `${names.get(e.source) ?? e.source} -> ${names.get(e.target) ?? e.target} :${e.port} (${e.joined})`,
  );
  assert.deepEqual(edges.sort(), [
    // A loopback peer no join reached: in the decoy's own network namespace.
    'ext:node-1/4003/127.0.0.1 -> pod-c:decoy :9090 (none)',
    'pod-a:frontend -> pod-a:haproxy :9080 (tuple)',
    'pod-a:haproxy -> pod-b:haproxy :9080 (tuple)',
    'pod-b:haproxy -> pod-b:catalog :9080 (tuple)',
  ]);
  assert.deepEqual(
    topology.pods.map((p) => [p.id, p.processes.length]),
    [
      ['pod:shop/pod-a', 2],
      ['pod:shop/pod-b', 2],
      ['pod:shop/pod-c', 1],
    ],
  );

  // Counters are exact, both ends present.
  const first = topology.edges.find((e) => names.get(e.source) === 'pod-a:frontend');
  const client = first?.client;
  const server = first?.server;
  assert.ok(client && server, 'both ends of the first hop');
  assert.equal(client.exchanges, INTERVALS * PER_INTERVAL.exchanges);
  assert.equal(client.bytesSent, INTERVALS * PER_INTERVAL.bytesOut);
  assert.equal(client.connects, INTERVALS * 2);
  assert.equal(server.accepts, INTERVALS * 2);
  assert.equal(server.bytesReceived, INTERVALS * PER_INTERVAL.bytesOut);

  // Merged histogram quantiles within 3% of the exact quantiles of every value sent.
  const all = Array.from({ length: INTERVALS }, (_, k) =>
    latencies(k + 1, 3_000_000, PER_INTERVAL.exchanges),
  )
    .flat()
    .sort((a, b) => a - b);
  for (const [q, got] of [
    [0.5, client.exchangeLatency.p50Ms],
    [0.9, client.exchangeLatency.p90Ms],
    [0.99, client.exchangeLatency.p99Ms],
  ] as const) {
    const exact = all[Math.ceil(q * all.length) - 1]! / 1e6;
    assert.ok(
      got !== null && Math.abs(got - exact) / exact <= 0.03,
      `p${q * 100}: ${got} ms vs exact ${exact} ms`,
    );
  }
  assert.equal(
    Number((quantile(fromValues(all), 0.5)! / 1e6).toPrecision(4)),
    client.exchangeLatency.p50Ms,
  );

  // Each sidecar's cost: added latency = request + response hop, CPU per 1k requests.
  const costs = new Map(topology.costs.map((c) => [c.name, c]));
  const a = costs.get('pod-a');
  assert.ok(a?.outbound && a.sidecar);
  assert.equal(a.proxy, 'haproxy');
  assert.equal(a.inbound, null);
  assert.equal(a.outbound.requests, INTERVALS * PER_INTERVAL.exchanges);
  const meanOf = (base: number, shift: number) =>
    Array.from({ length: INTERVALS }, (_, k) =>
      latencies(k + 1 + shift, base, PER_INTERVAL.exchanges),
    )
      .flat()
      .reduce((s, v) => s + v, 0) /
    (INTERVALS * PER_INTERVAL.exchanges) /
    1e6;
  const expectedAdded = meanOf(200_000, 0) + meanOf(100_000, 1);
  assert.ok(
    Math.abs((a.outbound.addedLatency.meanMs ?? 0) - expectedAdded) / expectedAdded < 0.01,
    `${a.outbound.addedLatency.meanMs} vs ${expectedAdded}`,
  );
  // The app (frontend) made 50 exchanges per interval; the sidecar used 20 ms of CPU per
  // interval after the first (the first sample is the baseline).
  assert.equal(a.requests, INTERVALS * PER_INTERVAL.exchanges);
  const expectedCpuMs = (((INTERVALS - 1) * 20) / (INTERVALS * PER_INTERVAL.exchanges)) * 1000;
  assert.ok(
    Math.abs((a.sidecar.cpuMsPer1kRequests ?? 0) - expectedCpuMs) < 0.01,
    `${a.sidecar.cpuMsPer1kRequests} vs ${expectedCpuMs}`,
  );
  assert.equal(a.sidecar.rssMb, 20);
  const b = costs.get('pod-b');
  assert.ok(b?.inbound);
  assert.equal(b.inbound.requests, INTERVALS * (PER_INTERVAL.exchanges + PER_INTERVAL.unpaired));
  assert.equal(b.inbound.exchanges, INTERVALS * PER_INTERVAL.exchanges);
  assert.equal(b.inbound.unpaired, INTERVALS * PER_INTERVAL.unpaired);
  assert.equal(b.inbound.handoffs, INTERVALS * PER_INTERVAL.handoffs, 'summed over the intervals');
  assert.equal(b.inbound.replyHandoffs, INTERVALS * PER_INTERVAL.replyHandoffs);
  assert.equal(b.inbound.method, 'arrival-to-forward, joint');
  assert.equal(b.inbound.coverage, 0.9615, '50 of 52 exchanges');
  assert.equal(b.outbound, null);
  assert.ok(b.inbound.overheadShare! > 0 && b.inbound.overheadShare! < 1);
});

test("an external peer is named after the Service the agent's watch knows for its address", async (t) => {
  const { collector, shipper } = await collectorAndShipper(t);
  const t0 = Date.now() - 2000;
  const batch = meshBatch(1, t0);
  const frontend = batch.edges!.find((e) => e.side === 'CONNECTION_SIDE_CLIENT')!;
  batch.edges!.push(
    { ...frontend, remote: { address: '10.96.0.10', port: 80 }, connections: [] },
    { ...frontend, remote: { address: '10.96.0.11', port: 80 }, connections: [] },
  );
  batch.peers = [
    { address: '10.96.0.10', kind: 'PEER_KIND_SERVICE', namespace: 'shop', name: 'reviews' },
  ];
  shipper.send(batch);
  assert.ok(await shipper.flush(10_000));
  const { topology } = await collector.queries.view({ fromMs: t0 - 1000, toMs: Date.now() + 1000 });
  const external = (address: string) => topology.externals.find((e) => e.address === address);
  assert.deepEqual(
    { name: external('10.96.0.10')?.name, kind: external('10.96.0.10')?.kind },
    { name: 'shop/reviews', kind: 'service' },
  );
  assert.deepEqual(
    { name: external('10.96.0.11')?.name, kind: external('10.96.0.11')?.kind },
    { name: null, kind: null },
    'an address nobody named stays an address',
  );
});
