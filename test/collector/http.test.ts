// The live WebSocket (a snapshot, then deltas with only what changed) and the Prometheus
// exposition (tollgate_* families by namespace/pod/container, hostile names escaped).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { Shipper } from '../../daemonset/shipping/shipper.js';
import { startCollector } from './fixture.js';
import { meshBatch, NODE, PER_INTERVAL, PROCESSES } from './mesh-batches.js';

test('live deltas over WebSocket and the Prometheus exposition', async (t) => {
  const collector = await startCollector(t, { liveIntervalMs: 200, liveWindowMs: 60_000 });
  const shipper = new Shipper({
    target: collector.grpcAddress,
    hello: { agentId: 'a', node: NODE },
  });
  t.after(() => shipper.stop());
  shipper.start();
  const hostile = 'pod-"a"\\\n<img src=x onerror=alert(1)>';
  const first = meshBatch(1, Date.now() - 2000);
  first.processes = first.processes!.map((p) =>
    p.comm === PROCESSES.a.comm ? { ...p, pod: { ...p.pod, name: hostile } } : p,
  );
  shipper.send(first);
  assert.ok(await shipper.flush(5000));

  const ws = new WebSocket(`${collector.httpUrl.replace('http', 'ws')}/api/live`);
  t.after(() => ws.close());
  const messages: { type: string; edges?: unknown[]; upserted?: { edges: { id: string }[] } }[] =
    [];
  ws.on('message', (data) => messages.push(JSON.parse(String(data))));
  const until = async (test: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!test()) {
      if (Date.now() > deadline)
        throw new Error(`not in time: ${JSON.stringify(messages.map((m) => m.type))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await until(() => messages.length >= 1);
  assert.equal(messages[0]!.type, 'snapshot');
  const snapshotEdges = messages[0]!.edges!.length;
  assert.ok(snapshotEdges >= 4);

  // A new batch changes the counters of existing edges: a delta names just those.
  shipper.send(meshBatch(2, Date.now() - 1000));
  assert.ok(await shipper.flush(5000));
  await until(() => messages.some((m) => m.type === 'delta'));
  const delta = messages.find((m) => m.type === 'delta')!;
  assert.ok(delta.upserted!.edges.length > 0 && delta.upserted!.edges.length <= snapshotEdges);

  const metrics = await (await fetch(`${collector.httpUrl}/metrics`)).text();
  const line = metrics
    .split('\n')
    .find((l) => l.startsWith('tollgate_sent_bytes_total{') && l.includes('onerror'));
  assert.equal(
    line,
    `tollgate_sent_bytes_total{namespace="shop",pod="pod-\\"a\\"\\\\\\n<img src=x onerror=alert(1)>",container="frontend",role="app",side="client"} ${PER_INTERVAL.bytesOut}`,
  );
  assert.match(metrics, /^# TYPE tollgate_proxy_hop_duration_seconds histogram$/m);
  assert.match(
    metrics,
    /^tollgate_proxy_hop_duration_seconds_count\{namespace="shop",pod="pod-b",container="istio-proxy",role="sidecar",direction="inbound",path="request"\} 100$/m,
  );
  assert.match(metrics, /^tollgate_collector_batches_total\{outcome="stored"\} 2$/m);
  assert.doesNotMatch(metrics, /pid=|address=|10\.1\.0\./, 'no pid or IP labels');
});
