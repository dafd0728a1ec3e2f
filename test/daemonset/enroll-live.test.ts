// A pod enrolled in ambient mode while traffic flows, seen by the real agent and
// collector: the node proxy reloads (a new worker process), and within two intervals the
// agent reports the new worker's sockets in the pod's namespace, with its hops paired (it
// has learned the new process is a proxy) by the next interval at the latest, and the collector says the pod is ambient.
// Ground truth: the node proxy's own count of the connections its new listener in the
// pod took, and the moment the lab finished enrolling the pod.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectionPerRequestScript } from '../../lab/connection-per-request.js';
import { Lab } from '../../lab/lab.js';
import { nodeProxyNames } from '../../lab/node-proxy-config.js';
import { waitForLine } from '../../lab/spawn.js';
import type { Batch } from '../../proto/gen/tollgate/v1.js';
import { startCollector } from '../collector/fixture.js';
import { startAgent } from './agent-fixture.js';

const INTERVAL_MS = 500;
const COUNT = 300;

test('a pod enrolled while traffic flows is seen through the node proxy within two intervals', async (t) => {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: false, app: false },
    { name: 'server', service: 'server', meshed: true, mesh: 'ambient' },
  ]);
  t.after(() => lab.destroy());
  const batches: Batch[] = [];
  const collector = await startCollector(t, { onStored: (b) => batches.push(b) });
  const { agent, stop } = await startAgent(t, {
    collector: collector.grpcAddress,
    intervalMs: INTERVAL_MS,
  });
  const server = lab.pod('server');
  const child = lab.exec('client', 'requests', process.execPath, [
    '-e',
    connectionPerRequestScript({
      url: `http://${server.address}:${server.port}/`,
      count: COUNT,
      rate: 100,
      timeoutMs: 5000,
    }),
  ]);
  const done = waitForLine(child, /^\{/, 'requests', 30_000);
  await new Promise((r) => setTimeout(r, 1000));
  const oldWorker = lab.nodeProxyProcess()!.workerPid;
  await lab.enrollAmbient('client');
  const enrolledAt = Date.now();
  const worker = lab.nodeProxyProcess()!.workerPid;
  assert.notEqual(worker, oldWorker, 'the node proxy reloaded into a new worker');
  const result = JSON.parse(await done) as { ok: number };
  assert.equal(result.ok, COUNT);
  const stats = await lab.nodeProxyStats();
  await new Promise((r) => setTimeout(r, 3 * INTERVAL_MS));
  await stop();
  assert.equal(agent.status().shipper.rejected, 0);

  const clientPod = lab.pod('client').netns;
  const tunnelled = stats.find(
    (r) => r.proxy === nodeProxyNames('client').outbound && r.server === 'FRONTEND',
  )!.sessionsTotal;
  assert.ok(tunnelled >= 100, `${tunnelled} requests tunnelled: the load ended too soon`);
  // Every connection the new listener took, in the new worker's ends in the pod.
  const accepted = batches
    .flatMap((b) => b.edges)
    .filter(
      (e) =>
        e.process?.pid === worker &&
        e.socketPod?.name === clientPod &&
        e.side === 'CONNECTION_SIDE_SERVER' &&
        e.local?.port === 15001,
    )
    .reduce((n, e) => n + Number(e.accepts) + Number(e.adopted), 0);
  assert.equal(accepted, tunnelled);

  // Picked up within two intervals: the new worker's hops through the pod are paired (the
  // agent has learned it is a proxy) in the interval its sockets there first show, or in
  // the next.
  const ends = batches.map((b) => Number(b.intervalEndUnixMs)).sort((x, y) => x - y);
  const first = (seen: (b: Batch) => boolean) =>
    ends.indexOf(Math.min(...batches.filter(seen).map((b) => Number(b.intervalEndUnixMs))));
  const shown = first((b) =>
    b.edges.some((e) => e.process?.pid === worker && e.socketPod?.name === clientPod),
  );
  const paired = first((b) =>
    b.hops.some(
      (h) =>
        h.process?.pid === worker &&
        h.socketPod?.name === clientPod &&
        h.direction === 'DIRECTION_OUTBOUND' &&
        (h.added?.counts ?? []).some((c) => Number(c) > 0),
    ),
  );
  assert.ok(shown >= 0 && paired >= 0, 'the new worker seen and its hops paired');
  t.diagnostic(
    `shown in the interval ending ${ends[shown]! - enrolledAt} ms after the enrollment, paired in the one ending ${ends[paired]! - enrolledAt} ms after`,
  );
  assert.ok(paired - shown <= 1, `paired ${paired - shown} intervals after it showed`);

  // The new worker started after the agent: its first CPU sample counts whole, where the
  // old one's (running before the agent) is only the baseline.
  const samples = batches.flatMap((b) => b.resources);
  const startedAfter = (pid: number) => [
    ...new Set(samples.filter((r) => r.process?.pid === pid).map((r) => r.startedAfterAgent)),
  ];
  assert.deepEqual(startedAfter(worker), [true]);
  assert.deepEqual(startedAfter(oldWorker), [false]);

  const { costs } = collector.queries.view({ fromMs: enrolledAt, toMs: Date.now() + 1000 });
  const client = costs.find((c) => c.pod === `pod:netns/${clientPod}`);
  assert.equal(client?.mode, 'ambient');
  assert.ok((client?.outbound?.exchanges ?? 0) > 0);
});
