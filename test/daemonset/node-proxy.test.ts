// The agent and a node proxy (ambient mode's ztunnel; here the ambient lab's haproxy, in
// a pod of its own with its sockets inside the enrolled pods): what the agent ships keeps
// the node proxy's ends and hops apart per pod it serves, each naming that pod, with the
// hops' directions as the pod sees them (its 15001 outbound, its 15008 inbound). Ground
// truth: the lab's namespaces and the client's own count of its requests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sessionResults } from '../../collector/sessions/results.js';
import { connectionPerRequestScript } from '../../lab/connection-per-request.js';
import { Lab, NODE_PROXY_POD, nodeProxyPod } from '../../lab/lab.js';
import { waitForLine } from '../../lab/spawn.js';
import type { Batch, EdgeReport, HopReport } from '../../proto/gen/tollgate/v1.js';
import { compileTarget } from '../../proto/target.js';
import { startCollector } from '../collector/fixture.js';
import { startAgent } from './agent-fixture.js';

const N = 40;

/**
 * N requests from the lab's client pod to its server pod, each on a connection of its own,
 * all answered; then time for the agent to ship what they caused.
 */
async function clientToServer(lab: Lab): Promise<void> {
  const server = lab.pod('server');
  const child = lab.exec('client', 'requests', process.execPath, [
    '-e',
    connectionPerRequestScript({
      url: `http://${server.address}:${server.port}/`,
      count: N,
      rate: 50,
      timeoutMs: 5000,
    }),
  ]);
  const result = JSON.parse(await waitForLine(child, /^\{/, 'requests', 30_000)) as { ok: number };
  assert.equal(result.ok, N);
  await new Promise((r) => setTimeout(r, 1500));
}

test("the agent ships a node proxy's ends and hops per pod it serves, each naming the pod", async (t) => {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: true, mesh: 'ambient', app: false },
    { name: 'server', service: 'server', meshed: true, mesh: 'ambient' },
  ]);
  t.after(() => lab.destroy());
  const batches: Batch[] = [];
  const collector = await startCollector(t, { onStored: (b) => batches.push(b) });
  const { agent, stop } = await startAgent(t, {
    collector: collector.grpcAddress,
    intervalMs: 500,
  });
  const server = lab.pod('server');
  const worker = lab.nodeProxyProcess()!.workerPid;

  await clientToServer(lab);
  await stop();
  assert.equal(agent.status().shipper.rejected, 0);

  const podOf = (netns: string) => `netns/${netns}`;
  const named = (r: EdgeReport | HopReport) =>
    r.socketPod ? `${r.socketPod.namespace}/${r.socketPod.name}` : 'own';
  // Its own pod: the one it lives in, not a pod it serves.
  const identity = batches.flatMap((b) => b.processes).find((p) => p.ref?.pid === worker);
  assert.ok(identity, 'the node proxy was seen');
  assert.equal(identity.pod?.name, lab.pod(NODE_PROXY_POD).netns);

  const ends = batches.flatMap((b) => b.edges.filter((e) => e.process?.pid === worker));
  const sum = (side: EdgeReport['side'], port: number) => {
    const of = ends.filter((e) =>
      side === 'CONNECTION_SIDE_SERVER' ? e.local?.port === port : e.remote?.port === port,
    );
    return {
      pods: [...new Set(of.filter((e) => e.side === side).map(named))],
      opened: of
        .filter((e) => e.side === side)
        .reduce((n, e) => n + Number(e.connects) + Number(e.accepts), 0),
    };
  };
  const clientPod = podOf(lab.pod('client').netns);
  const serverPod = podOf(server.netns);
  assert.deepEqual(sum('CONNECTION_SIDE_SERVER', 15001), { pods: [clientPod], opened: N });
  assert.deepEqual(sum('CONNECTION_SIDE_CLIENT', 15008), { pods: [clientPod], opened: N });
  assert.deepEqual(sum('CONNECTION_SIDE_SERVER', 15008), { pods: [serverPod], opened: N });
  assert.deepEqual(sum('CONNECTION_SIDE_CLIENT', server.port), { pods: [serverPod], opened: N });
  // Everyone else's sockets are in their own namespace: no pod named.
  const others = batches.flatMap((b) => b.edges.filter((e) => e.process?.pid !== worker));
  assert.ok(others.length > 0);
  assert.ok(others.every((e) => e.socketPod === undefined));

  // Its hops: outbound through the client pod, inbound through the server pod, every
  // request paired in each.
  const hops = batches.flatMap((b) => b.hops.filter((h) => h.process?.pid === worker));
  const paired = new Map<string, number>();
  for (const h of hops) {
    const id = `${h.direction} ${named(h)}`;
    const count = (h.added?.counts ?? []).reduce((n, c) => n + Number(c), 0);
    paired.set(id, (paired.get(id) ?? 0) + count);
  }
  assert.deepEqual(Object.fromEntries(paired), {
    [`DIRECTION_OUTBOUND ${clientPod}`]: N,
    [`DIRECTION_INBOUND ${serverPod}`]: N,
  });
  // This kernel has the context switch's hook, attached while the node proxy is listed:
  // every report says its hand-offs ran from wake-up to wake-up, as the runner said.
  assert.deepEqual([...new Set(hops.map((h) => h.handoffEnds))], ['HANDOFF_ENDS_WAKE_UPS']);

  // The collector puts the node proxy's hops and a share of its cost to the pods it
  // serves, each pod saying its mode; the node proxy's own pod carries none of it.
  const { costs } = await collector.queries.view({ fromMs: 0, toMs: Date.now() + 1000 });
  const cost = (netns: string) => costs.find((c) => c.pod === `pod:${podOf(netns)}`)!;
  const serverCost = cost(server.netns);
  const clientCost = cost(lab.pod('client').netns);
  const proxyCost = cost(lab.pod(NODE_PROXY_POD).netns);
  assert.deepEqual(
    [serverCost.mode, clientCost.mode, proxyCost.mode],
    ['ambient', 'ambient', 'node-proxy'],
  );
  assert.equal(serverCost.proxy, 'haproxy');
  assert.equal(
    serverCost.inbound?.exchanges,
    N,
    "every request paired in the server pod's inbound",
  );
  assert.equal(clientCost.outbound?.exchanges, N, "and in the client pod's outbound");
  const inboundHandoffs = serverCost.inbound!.handoffs + serverCost.inbound!.replyHandoffs;
  assert.deepEqual(
    serverCost.inbound?.handoffsByEnds,
    { wakeUps: inboundHandoffs, reads: 0, notSaid: 0 },
    'every hand-off stored as timed from wake-up to wake-up',
  );
  assert.equal(serverCost.outbound, null);
  assert.equal(proxyCost.inbound, null);
  assert.equal(proxyCost.outbound, null);
  assert.equal(proxyCost.sidecar, null, "the node proxy's cost is not its own pod's");
  // Every byte of the node proxy went through one of the two pods: those shares add up.
  // Its cost goes by on-CPU time, which the kernel timed (test/daemonset/node-proxy-cpu
  // checks it against the scheduler's own figures).
  const bytes = [serverCost, clientCost].map((c) => c.proxyShare?.byMethod.bytes ?? 0);
  assert.ok(
    bytes.every((x) => x > 0.2 && x < 0.8),
    `shares ${bytes}`,
  );
  assert.ok(Math.abs(bytes[0]! + bytes[1]! - 1) < 0.002, `shares ${bytes}`);
  for (const c of [serverCost, clientCost]) {
    assert.equal(c.proxyShare?.method, 'on-cpu');
    assert.equal(c.proxyShare?.share, c.proxyShare?.byMethod.onCpu);
    assert.ok((c.proxyShare?.share ?? 0) > 0.1, JSON.stringify(c.proxyShare));
  }
  const detail = await collector.queries.pod('netns', server.netns, {
    fromMs: 0,
    toMs: Date.now() + 1000,
  });
  const inbound = detail!.addedHistograms.inbound.counts.reduce((n, c) => n + c, 0);
  assert.equal(inbound, N);

  // A session over the same window records each pod's mode and the node proxy's hops
  // through it, so a later comparison shows a migration.
  const results = sessionResults({
    view: await collector.queries.view({ fromMs: 0, toMs: Date.now() + 1000 }),
    target: compileTarget(undefined),
  });
  const recorded = results.pods.find((p) => p.pod?.name === server.netns)!;
  assert.equal(recorded.meshMode, 'ambient');
  assert.equal(
    recorded.inboundHandoffEnds,
    inboundHandoffs > 0 ? 'HANDOFF_ENDS_WAKE_UPS' : 'HANDOFF_ENDS_UNSPECIFIED',
  );
  assert.equal(recorded.proxyShareMethod, 'on-cpu');
  assert.equal(recorded.proxyShare, serverCost.proxyShare?.share);
  assert.equal(
    (recorded.inboundAdded?.counts ?? []).reduce((n, c) => n + Number(c), 0),
    N,
    "the node proxy's paired exchanges through the server's pod",
  );

  // Prometheus: the node proxy's added latency through each pod, labelled with that pod.
  const metrics = await (await fetch(`${collector.httpUrl}/metrics`)).text();
  const labels = (netns: string, direction: string) =>
    `{namespace="netns",pod="${netns}",container="haproxy",role="node-proxy",direction="${direction}"}`;
  assert.ok(
    metrics.includes(
      `tollgate_proxy_added_duration_seconds_count${labels(server.netns, 'inbound')} ${N}\n`,
    ),
    metrics
      .split('\n')
      .filter((l) => l.includes('node-proxy'))
      .join('\n'),
  );
  assert.ok(
    metrics.includes(
      `tollgate_proxy_added_duration_seconds_count${labels(lab.pod('client').netns, 'outbound')} ${N}\n`,
    ),
  );
});

// Two nodes' pods, as across a cluster: each node's own node proxy serves its pod, and
// each pod's cost is a share of its own node's proxy, the whole of it here (each serves
// that one pod). Ground truth: the lab's pods and node proxies, the client's own count.
test("pods on two nodes: each pod's hops and cost are its own node's proxy's", async (t) => {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: true, mesh: 'ambient', app: false },
    { name: 'server', service: 'server', meshed: true, mesh: 'ambient', ambientNode: 'b' },
  ]);
  t.after(() => lab.destroy());
  const collector = await startCollector(t);
  const { agent, stop } = await startAgent(t, {
    collector: collector.grpcAddress,
    intervalMs: 500,
  });
  const server = lab.pod('server');
  await clientToServer(lab);
  await stop();
  assert.equal(agent.status().shipper.rejected, 0);

  const view = await collector.queries.view({ fromMs: 0, toMs: Date.now() + 1000 });
  const cost = (netns: string) => view.costs.find((c) => c.pod === `pod:netns/${netns}`)!;
  const [clientCost, serverCost] = [cost(lab.pod('client').netns), cost(server.netns)];
  const proxies = [NODE_PROXY_POD, nodeProxyPod('b')].map((p) => cost(lab.pod(p).netns));
  assert.deepEqual(
    [clientCost.mode, serverCost.mode, ...proxies.map((c) => c.mode)],
    ['ambient', 'ambient', 'node-proxy', 'node-proxy'],
  );
  assert.equal(clientCost.outbound?.exchanges, N, "every request paired in the client's outbound");
  assert.equal(serverCost.inbound?.exchanges, N, "and in the server's inbound");
  // Each pod's share is of its own node's proxy alone, and all of its bytes.
  const pidOf = (id: string) => view.topology.processes.find((p) => p.id === id)?.pid;
  const sharedBy = (c: typeof clientCost) => c.proxyShare?.processes.map(pidOf);
  assert.deepEqual(sharedBy(clientCost), [lab.nodeProxyProcess()!.workerPid]);
  assert.deepEqual(sharedBy(serverCost), [lab.nodeProxyProcess('b')!.workerPid]);
  for (const c of [clientCost, serverCost])
    assert.equal(c.proxyShare?.byMethod.bytes, 1, JSON.stringify(c.proxyShare));
});
