// A pod enrolled in ambient mode while traffic flows, seen by the real agent and
// collector: the node proxy reloads (a new worker process), and within two intervals the
// agent reports the new worker's sockets in the pod's namespace, with its hops paired (it
// has learned the new process is a proxy) by the next interval at the latest, and the collector says the pod is ambient.
// Ground truth: the node proxy's own count of the connections its new listener in the
// pod took, and the moment the lab finished enrolling the pod.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readProcessResources } from '../../daemonset/proc-resources.js';
import {
  type ConnectionPerRequestResult,
  connectionPerRequestScript,
} from '../../lab/connection-per-request.js';
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
  const enrollStart = Date.now();
  await lab.enrollAmbient('client');
  const enrolledAt = Date.now();
  const worker = lab.nodeProxyProcess()!.workerPid;
  assert.notEqual(worker, oldWorker, 'the node proxy reloaded into a new worker');
  // Whether the lab's enrollment loses no request is test/lab/ambient's to say: haproxy
  // itself resets one of 300 now and then, in its old worker's soft stop (README,
  // Architecture, the lab). What is held here does not depend on it: the node proxy's counts.
  const result = JSON.parse(await done) as ConnectionPerRequestResult;
  if (result.failed > 0) {
    // When it shows, the CI log says how each request failed and when it started against
    // the enrollment (which took enrolledAt - enrollStart).
    const failures = result.outcomes.flatMap((outcome, i) =>
      outcome === 'ok'
        ? []
        : [{ outcome, why: result.errors[i], ms: result.starts[i]! - enrollStart }],
    );
    // The node proxy logs each connection that ended in an error (lab/node-proxy-config.ts);
    // the lab's folder goes with the lab, so its tail is kept here.
    t.diagnostic(
      `lost ${result.failed} of ${COUNT} (ms from the enrollment's start; it took ${enrolledAt - enrollStart} ms): ${JSON.stringify(failures)}\n` +
        `node proxy log:\n${lab.nodeProxyLog()}`,
    );
  }
  assert.ok(result.ok >= COUNT - 1, `${result.ok} of ${COUNT} requests ok`);
  const stats = await lab.nodeProxyStats();
  // The new worker's CPU time in all, from /proc once its load is over: the collector must
  // count all of it, its first sample whole (it started within that sample's interval).
  await new Promise((r) => setTimeout(r, 200));
  const workerCpu = readProcessResources(worker)!;
  const workerCpuNs = workerCpu.cpuUserNs + workerCpu.cpuSystemNs;
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
  // Seen once in CI (0 of 194 where every other run matched): where the listener's ends went.
  const where = () => {
    const byOwner = new Map<string, number>();
    for (const e of batches.flatMap((b) => b.edges))
      if (e.side === 'CONNECTION_SIDE_SERVER' && e.local?.port === 15001) {
        const owner = `pid ${e.process?.pid} pod ${e.socketPod?.name ?? 'none'}`;
        byOwner.set(owner, (byOwner.get(owner) ?? 0) + Number(e.accepts) + Number(e.adopted));
      }
    return `new worker ${worker}, old ${oldWorker}, client pod ${clientPod}, ${batches.length} batches; 15001's server ends by owner: ${JSON.stringify(Object.fromEntries(byOwner))}`;
  };
  assert.equal(accepted, tunnelled, where());

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
  // And so within two intervals of the enrolment: the first connection through the new
  // listener can start a moment after the enrolment returned and just after an interval
  // began, hence the half interval beside the two (scheduling on a busy machine).
  assert.ok(
    ends[paired]! - enrolledAt <= 2.5 * INTERVAL_MS,
    `paired in the interval ending ${ends[paired]! - enrolledAt} ms after the enrolment`,
  );

  // All the new worker ran is counted, within a clock tick (10 ms) of /proc's figure: its
  // first sample whole, as it started within that sample's interval (a first sample only
  // as the baseline lost the first interval's, tens of ms of TLS handshakes).
  const all = await collector.queries.view({ fromMs: 0, toMs: Date.now() + 1000 });
  const workerKey = all.topology.processes.find((p) => p.pid === worker)!.id;
  const countedNs = all.resources.get(workerKey)?.sums.cpu_ns ?? 0;
  assert.ok(
    Math.abs(countedNs - workerCpuNs) <= 10e6,
    `counted ${countedNs / 1e6} ms of the new worker's ${workerCpuNs / 1e6} ms`,
  );

  const { costs } = await collector.queries.view({ fromMs: enrolledAt, toMs: Date.now() + 1000 });
  const client = costs.find((c) => c.pod === `pod:netns/${clientPod}`);
  assert.equal(client?.mode, 'ambient');
  assert.ok((client?.outbound?.exchanges ?? 0) > 0);
});
