// End to end on the real kernel: two meshed lab pods under load, the real agent (kernel
// probes, identities from /proc and network namespaces) shipping to a real collector.
// The topology must show app -> sidecar -> sidecar -> app with every hop joined, and each
// sidecar must cost a positive added latency in its direction, joined per exchange.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lab } from '../../lab/lab.js';
import { startAgent } from '../daemonset/agent-fixture.js';
import { startCollector } from './fixture.js';

test('two meshed pods under load: app -> sidecar -> sidecar -> app, each sidecar adds latency', async (t) => {
  const lab = await Lab.create([
    { name: 'loadgen', service: 'loadgen', meshed: false, app: false },
    { name: 'client', service: 'client', meshed: true, calls: ['server'] },
    { name: 'server', service: 'server', meshed: true, serviceTimeMs: 2 },
  ]);
  t.after(() => lab.destroy());
  const collector = await startCollector(t);
  const { agent, stop } = await startAgent(t, {
    collector: collector.grpcAddress,
    intervalMs: 500,
  });
  // The programs' run time is counted only when asked (as `/status?programs=1` does).
  assert.equal(agent.status().runTimeStats, false, 'not counted unless asked');
  assert.equal(agent.countProgramRunTime(), true);
  assert.equal(agent.status().runTimeStats, true);
  const fromMs = Date.now() - 1000;
  const result = await lab.load('loadgen', {
    url: lab.serviceUrls('client')[0]!,
    rate: 100,
    durationS: 4,
    connections: 4,
    timeoutMs: 5000,
  });
  assert.equal(result.ok, 400);
  await new Promise((r) => setTimeout(r, 1200));
  await stop();
  const status = agent.status();
  assert.equal(status.shipper.spoolBatches, 0, 'every batch acknowledged');
  assert.equal(status.shipper.rejected, 0);

  const view = await collector.queries.view({ fromMs, toMs: Date.now() + 1000 });
  const { topology, costs } = view;
  const podName = (name: string) => `pod:netns/tg${lab.id}-${name}`;
  const proc = (pod: string, role: 'app' | 'sidecar') => {
    const found = topology.processes.filter((p) => p.pod === podName(pod) && p.role === role);
    assert.equal(found.length, 1, `one ${role} in ${pod}: ${JSON.stringify(found)}`);
    return found[0]!;
  };
  const chain = [
    proc('client', 'app'),
    proc('client', 'sidecar'),
    proc('server', 'sidecar'),
    proc('server', 'app'),
  ];
  assert.equal(chain[1]!.comm, 'haproxy');
  for (let i = 0; i + 1 < chain.length; i++) {
    const edge = topology.edges.find(
      (e) => e.source === chain[i]!.id && e.target === chain[i + 1]!.id,
    );
    const hop = `${chain[i]!.comm}@${chain[i]!.pod} -> ${chain[i + 1]!.comm}@${chain[i + 1]!.pod}`;
    assert.ok(edge, `${hop} is an edge`);
    assert.notEqual(edge.joined, 'none', hop);
    assert.ok(edge.client && edge.server, `${hop} has both ends`);
    assert.ok(
      edge.client.exchanges >= 300,
      `${hop}: ${edge.client.exchanges} exchanges at the client`,
    );
    assert.ok(
      edge.server.exchanges >= 300,
      `${hop}: ${edge.server.exchanges} exchanges at the server`,
    );
    assert.ok(edge.client.bytesSent > 0 && edge.server.bytesReceived > 0, hop);
    assert.ok(
      (edge.client.exchangeLatency.p50Ms ?? 0) >= 2,
      `${hop} includes the 2 ms service time`,
    );
  }
  const client = costs.find((c) => c.pod === podName('client'));
  const server = costs.find((c) => c.pod === podName('server'));
  assert.ok(client?.outbound && client.inbound, 'the client sidecar carries both directions');
  assert.ok(server?.inbound, 'the server sidecar carries inbound');
  for (const [what, d] of [
    ['client outbound', client.outbound],
    ['client inbound', client.inbound],
    ['server inbound', server.inbound],
  ] as const) {
    assert.ok((d.addedLatency.p50Ms ?? 0) > 0, `${what}: ${JSON.stringify(d.addedLatency)}`);
    assert.ok(d.requests >= 300, `${what}: ${d.requests} requests`);
    // Each of the 400 requests crosses each sidecar once in each direction it has, and
    // the kernel joined their two hops: the headline is the joint figure.
    assert.equal(d.method, 'arrival-to-forward, joint', what);
    assert.ok(d.requests <= 400, `${what}: ${d.requests} exchanges seen, 400 made`);
    assert.ok(d.exchanges >= 300, `${what}: ${d.exchanges} exchanges joined`);
    t.diagnostic(
      `${what}: ${d.method}, ${d.exchanges} of ${d.requests} exchanges (${d.unpaired} unpaired, ${d.unmatchedForwards} unmatched forwards, ${d.arrivalUnknown} arrival unknown), p50 ${d.addedLatency.p50Ms} ms, p99 ${d.addedLatency.p99Ms} ms`,
    );
  }
  assert.equal(client.proxy, 'haproxy');

  // The probes' own cost, counted by the kernel (bpf_stats): the programs on the hot path
  // (state changes, sends, receives) ran, at a plausible cost per run; the send program
  // at least once per request and hop (400 requests through 3 hops, both ends). The
  // others (retransmits, resets, drops) run only when those happen.
  const programs = (await collector.store.agents())[0]?.cost?.programs ?? [];
  for (const name of ['tg_set_state', 'tg_send', 'tg_recv']) {
    const p = programs.find((q) => q.name === name);
    assert.ok(p && p.runCount > 0, `${name} ran: ${JSON.stringify(programs)}`);
    const nsPerRun = p.runTimeNs / p.runCount;
    assert.ok(nsPerRun > 10 && nsPerRun < 100_000, `${name}: ${nsPerRun} ns per run`);
  }
  const sends = programs.filter((p) => /send/.test(p.name)).reduce((n, p) => n + p.runCount, 0);
  assert.ok(sends >= 400 * 3 * 2, `${sends} send program runs`);
  assert.ok(client.sidecar && client.sidecar.rssMb! > 0);
});
