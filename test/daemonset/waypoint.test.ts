// A waypoint between node proxies, through the real agent and collector: the pods behind
// it say ambient+waypoint, the waypoint's own pod carries none of its cost, and its cost
// goes to the pods whose traffic it carries by their share of its upstream bytes. Ground
// truth: the requests each client sent, the lab's own haproxy counters of the waypoint,
// and the TCP payload bytes between the waypoint and each pod by iptables counters in
// the waypoint's namespace (not by request counts: TLS session resumption makes some
// connections' handshakes much smaller than others').
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectionPerRequestScript } from '../../lab/connection-per-request.js';
import { runIn } from '../../lab/exec.js';
import { Lab, WAYPOINT_POD } from '../../lab/lab.js';
import { waitForLine } from '../../lab/spawn.js';
import { startCollector } from '../collector/fixture.js';
import { startAgent } from './agent-fixture.js';

const TO_ONE = 20;
const TO_TWO = 60;
const TUNNEL = '15008';

/** iptables counting rules (no target) for the waypoint's packets to and from a pod's tunnel. */
function countingRules(address: string): string[][] {
  const out = ['OUTPUT', '-p', 'tcp', '-d', address, '--dport', TUNNEL];
  const into = ['INPUT', '-p', 'tcp', '-s', address, '--sport', TUNNEL];
  const syn = ['--tcp-flags', 'SYN', 'SYN'];
  return [out, into, [...out, ...syn], [...into, ...syn]];
}

/**
 * TCP payload bytes both ways from the counters: every packet's IP and TCP headers off,
 * 52 bytes (20 + 20 + 12 of timestamps, on by default), 60 with the SYN's options. A
 * segmentation-offloaded packet is counted once, with one header, as it has.
 */
function payloadBytes(netns: string, address: string): number {
  const listing = runIn(netns, 'iptables', ['-w', '-L', '-v', '-x', '-n']);
  const counter = (chain: string, peer: string, syn: boolean) => {
    const section = listing.split(/\n(?=Chain )/).find((c) => c.startsWith(`Chain ${chain} `))!;
    const row = section
      .split('\n')
      .find((l) => l.includes(peer) && l.includes(`pt:${TUNNEL}`) && l.includes('flags:') === syn);
    assert.ok(row, `no counting rule in ${chain} for ${peer}:\n${section}`);
    const [packets, bytes] = row.trim().split(/\s+/).map(Number) as [number, number];
    return { packets, bytes };
  };
  const all = [counter('OUTPUT', address, false), counter('INPUT', address, false)];
  const syns = [counter('OUTPUT', address, true), counter('INPUT', address, true)];
  const sum = (list: typeof all, what: 'packets' | 'bytes') =>
    list.reduce((n, c) => n + c[what], 0);
  return sum(all, 'bytes') - 52 * sum(all, 'packets') - 8 * sum(syns, 'packets');
}

test('a waypoint costs the pods behind it, by their share of its traffic', async (t) => {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: true, mesh: 'ambient', app: false },
    { name: 'one', service: 'one', meshed: true, mesh: 'ambient', waypoint: true },
    { name: 'two', service: 'two', meshed: true, mesh: 'ambient', waypoint: true },
  ]);
  t.after(() => lab.destroy());
  const collector = await startCollector(t);
  // Before the agent: the store files a batch under its interval's start, and the agent's
  // first interval starts when the agent does. Taken after the setup below instead, the
  // view left out that first batch whenever the setup crossed a second (on a busy machine
  // 7 of the first requests to each pod went missing, and with them one pod's share).
  const fromMs = Date.now();
  const { agent, stop } = await startAgent(t, {
    collector: collector.grpcAddress,
    intervalMs: 500,
  });
  const load = async (pod: string, count: number) => {
    const server = lab.pod(pod);
    const child = lab.exec('client', `requests to ${pod}`, process.execPath, [
      '-e',
      connectionPerRequestScript({
        url: `http://${server.address}:${server.port}/`,
        count,
        rate: 40,
        timeoutMs: 5000,
      }),
    ]);
    const result = JSON.parse(await waitForLine(child, /^\{/, pod, 30_000)) as { ok: number };
    assert.equal(result.ok, count);
  };
  const waypointNetns = lab.pod(WAYPOINT_POD).netns;
  for (const pod of ['one', 'two'])
    for (const rule of countingRules(lab.pod(pod).address))
      runIn(waypointNetns, 'iptables', ['-w', '-A', ...rule]);
  await Promise.all([load('one', TO_ONE), load('two', TO_TWO)]);
  await new Promise((r) => setTimeout(r, 1500));
  await stop();
  assert.equal(agent.status().shipper.rejected, 0);
  const frontend = (await lab.waypointStats()).find(
    (r) => r.proxy === 'waypoint' && r.server === 'FRONTEND',
  );
  assert.equal(frontend?.sessionsTotal, TO_ONE + TO_TWO, 'every request went through it');

  const { costs } = await collector.queries.view({
    fromMs: fromMs - 1000,
    toMs: Date.now() + 1000,
  });
  const cost = (pod: string) => {
    const found = costs.find((c) => c.pod === `pod:netns/${lab.pod(pod).netns}`);
    assert.ok(found, `${pod} among ${costs.map((c) => c.pod)}`);
    return found;
  };
  const [one, two, client, waypoint] = ['one', 'two', 'client', WAYPOINT_POD].map(cost) as [
    ReturnType<typeof cost>,
    ReturnType<typeof cost>,
    ReturnType<typeof cost>,
    ReturnType<typeof cost>,
  ];
  assert.deepEqual(
    [one.mode, two.mode, client.mode, waypoint.mode],
    ['ambient+waypoint', 'ambient+waypoint', 'ambient', 'waypoint'],
  );
  assert.ok(
    one.modeSigns.some((s) => s.startsWith('waypoint haproxy')),
    one.modeSigns.join('; '),
  );
  // Its own pod carries none of it.
  assert.equal(waypoint.sidecar, null);
  assert.equal(waypoint.inbound, null);
  assert.equal(waypoint.proxy, 'haproxy');
  assert.equal(client.waypoint, null);

  // Its cost goes by its upstream bytes, and nothing else went upstream from it.
  const [bytesOne, bytesTwo] = ['one', 'two'].map((p) =>
    payloadBytes(waypointNetns, lab.pod(p).address),
  ) as [number, number];
  const truth = bytesOne / (bytesOne + bytesTwo);
  const shares = [one, two].map((c) => c.waypoint?.share.share ?? 0);
  const said = `shares ${shares}, truth ${truth.toFixed(4)} (payload bytes ${bytesOne}, ${bytesTwo})`;
  t.diagnostic(said);
  assert.ok(Math.abs(shares[0]! - truth) <= 0.01, said);
  assert.ok(Math.abs(shares[0]! + shares[1]! - 1) <= 0.002, said);
  assert.equal(one.waypoint?.share.method, 'bytes');
  assert.equal(one.waypoint?.share.byMethod.onCpu, null);
  assert.ok((one.waypoint?.cost?.cpuMsPer1kRequests ?? 0) > 0, JSON.stringify(one.waypoint));
  // What it adds, over all its traffic. Every downstream exchange (three per connection:
  // two of TLS handshake, one request) is either paired or counted unpaired, exactly.
  // Paired are about the requests: a few of the TLS handshakes' round trips are taken for
  // exchanges too, and on a busy machine a few requests are left unpaired instead (a
  // known limit of pairing by direction changes on short TLS connections: the kernel
  // cannot tell a handshake's round trip from a request's). Beside two busy loops, 16
  // runs paired 75 to 84 of the 80; a quiet machine 80 to 83.
  const through = one.waypoint?.inbound;
  const paired = through?.exchanges ?? 0;
  assert.equal(paired + (through?.unpaired ?? 0), through?.requests, 'every exchange counted');
  assert.ok(
    paired >= 0.9 * (TO_ONE + TO_TWO) && paired <= 1.15 * (TO_ONE + TO_TWO),
    `${paired} exchanges through the waypoint, ${TO_ONE + TO_TWO} requests`,
  );
  assert.ok((one.waypoint?.inbound?.addedLatency.p50Ms ?? 0) > 0);
  // The pods' own inbound is their node proxy's: its requests paired, its handshakes not
  // (exactly so in 16 runs beside two busy loops; once, in a CI run beside a type check,
  // one request of 20 was left unpaired, so at most one in ten may be).
  for (const [c, sent] of [
    [one, TO_ONE],
    [two, TO_TWO],
  ] as const) {
    const own = c.inbound;
    assert.equal((own?.exchanges ?? 0) + (own?.unpaired ?? 0), own?.requests, c.name);
    assert.ok(
      (own?.exchanges ?? 0) >= 0.9 * sent && (own?.exchanges ?? 0) <= sent,
      `${c.name}: ${own?.exchanges} of ${sent} requests paired`,
    );
  }
});
