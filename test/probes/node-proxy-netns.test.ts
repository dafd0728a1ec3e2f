// A node proxy (ambient mode's ztunnel, here the ambient lab's haproxy) owns sockets in
// every enrolled pod's network namespace. The kernel's records carry each socket's
// namespace, so its ends and hops in one pod stay apart from those in another, even where
// their addresses are the same (its connections to each app's 127.0.0.1:9080). Ground
// truth: the namespaces' own inodes (what `ip netns identify` compares) and the client's
// count of the connections it opened.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connectionPerRequestScript } from '../../lab/connection-per-request.js';
import { Lab, NODE_PROXY_POD } from '../../lab/lab.js';
import { waitForLine } from '../../lab/spawn.js';
import { ProbeSource } from '../../probes/probe-source.js';
import type { EdgeRecord, HistRecord, HopRecord } from '../../probes/records.js';
import { bucketBounds } from '../../proto/histogram.js';
import { collect } from './fixture.js';

const N = 40;

/** A named namespace's inode: /run/netns/<name> is a bind mount of it. */
const inodeOf = (netns: string) => statSync(`/run/netns/${netns}`).ino;

test("a node proxy's ends and hops are kept apart per pod by the socket's namespace", async (t) => {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: true, mesh: 'ambient', app: false },
    { name: 'server', service: 'server', meshed: true, mesh: 'ambient' },
  ]);
  t.after(() => lab.destroy());
  const probes = await ProbeSource.start({ intervalMs: 200 });
  t.after(() => probes.stop());
  const worker = lab.nodeProxyProcess()!.workerPid;
  // As the agent does for a proxy it recognises by its executable.
  probes.addProxy(worker);
  const server = lab.pod('server');
  const clientNs = inodeOf(lab.pod('client').netns);
  const serverNs = inodeOf(server.netns);
  const proxyNs = inodeOf(lab.pod(NODE_PROXY_POD).netns);
  assert.equal(new Set([clientNs, serverNs, proxyNs]).size, 3);

  const child = lab.exec('client', 'requests', process.execPath, [
    '-e',
    connectionPerRequestScript({
      url: `http://${server.address}:${server.port}/`,
      count: N,
      rate: 100,
      timeoutMs: 5000,
    }),
  ]);
  const result = JSON.parse(await waitForLine(child, /^\{/, 'requests', 30_000)) as {
    ok: number;
  };
  assert.equal(result.ok, N);
  await new Promise((r) => setTimeout(r, 500));
  const got = await collect(probes);

  const ends = got.records.filter(
    (r): r is EdgeRecord => r.type === 'edge' && r.key.tgid === worker,
  );
  const where = (side: 'client' | 'server', port: number) => {
    const of = ends.filter((e) => e.key.side === side && e.key.servicePort === port);
    return {
      namespaces: [...new Set(of.map((e) => e.key.netnsInode))],
      connects: of.reduce((n, e) => n + e.connects, 0),
      accepts: of.reduce((n, e) => n + e.accepts, 0),
    };
  };
  // Each request: accepted on the client pod's 15001, tunnelled from the client pod's
  // namespace to the server pod's 15008, accepted there, and sent on to the app from the
  // server pod's namespace. Every end in the namespace of the pod it serves.
  assert.deepEqual(where('server', 15001), { namespaces: [clientNs], connects: 0, accepts: N });
  assert.deepEqual(where('client', 15008), { namespaces: [clientNs], connects: N, accepts: 0 });
  assert.deepEqual(where('server', 15008), { namespaces: [serverNs], connects: 0, accepts: N });
  assert.deepEqual(where('client', server.port), {
    namespaces: [serverNs],
    connects: N,
    accepts: 0,
  });
  assert.ok(
    ends.every((e) => e.key.netnsInode !== proxyNs),
    "none of its sockets is in its own pod's namespace",
  );
  // The app's own ends: in its own namespace, as every process's.
  const app = got.records.filter(
    (r): r is EdgeRecord => r.type === 'edge' && r.key.tgid === server.appPid,
  );
  assert.ok(app.length > 0);
  assert.ok(app.every((e) => e.key.netnsInode === serverNs));

  // The hops through each listener, in the namespace of the pod it serves: every request
  // paired both ways there. (On 15008 the TLS handshake's round trips end unpaired too:
  // they forward nothing upstream.)
  const hops = (port: number) => {
    const of = got.records.filter(
      (r): r is HopRecord =>
        r.type === 'hop' && r.key.tgid === worker && r.key.servicePort === port,
    );
    t.diagnostic(
      `hops through ${port}: ${of.reduce((n, h) => n + h.exchanges, 0)} paired, ${of.reduce((n, h) => n + h.unpaired, 0)} unpaired`,
    );
    return {
      namespaces: [...new Set(of.map((h) => h.key.netnsInode))],
      paired: of.reduce((n, h) => n + h.exchanges, 0),
    };
  };
  assert.deepEqual(hops(15001), { namespaces: [clientNs], paired: N });
  assert.deepEqual(hops(15008), { namespaces: [serverNs], paired: N });
});

// One thread serving two pods' connections, forwarding out of the order it read: pod A's
// request read first and held, pod B's read after it and forwarded at once. Each forward
// pairs with the request read in its own namespace; taking the oldest read whatever its
// namespace gave B's forward A's request and A's forward B's. Ground truth: the proxy's
// own clock from each read to its forward. A hop runs from the bytes' arrival, at or
// before the read, to the forward, and the upstream's pickup of them after it.
async function outOfOrderAcrossNamespaces(
  t: TestContext,
  { rounds, holdMs, bEach }: { rounds: number; holdMs: number; bEach: number },
) {
  const port = 9500;
  const upstreamPort = 9600;
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: false, app: false },
    { name: 'pod-a', service: 'pod-a', meshed: false, app: false },
    { name: 'pod-b', service: 'pod-b', meshed: false, app: false },
  ]);
  t.after(() => lab.destroy());
  const script = fileURLToPath(new URL('../../lab/two-namespace-proxy.py', import.meta.url));
  const python = (pod: string, what: string, args: string[]) =>
    lab.exec(pod, what, 'python3', ['-u', script, ...args]);
  for (const pod of ['pod-a', 'pod-b'])
    await waitForLine(python(pod, 'echo', ['echo', String(upstreamPort)]), /^ready$/, 'echo');
  const probes = await ProbeSource.start({ intervalMs: 200 });
  t.after(() => probes.stop());
  const [a, b] = [lab.pod('pod-a'), lab.pod('pod-b')];
  const proxy = python('pod-a', 'two-namespace proxy', [
    'proxy',
    a.netns,
    b.netns,
    String(port),
    String(upstreamPort),
    String(rounds),
    String(holdMs),
    String(bEach),
  ]);
  await waitForLine(proxy, /^ready$/, 'two-namespace proxy');
  probes.addProxy(proxy.pid!);
  const report = waitForLine(proxy, /^\{/, 'two-namespace proxy', 30_000);
  const client = python('client', 'client', [
    'client',
    a.address,
    b.address,
    String(port),
    String(rounds),
    '5',
    String(bEach),
  ]);
  assert.deepEqual(JSON.parse(await waitForLine(client, /^\{/, 'client', 30_000)), { rounds });
  const held = (JSON.parse(await report) as { held_ms: { a: number[]; b: number[] } }).held_ms;
  assert.equal(held.a.length, rounds);
  assert.equal(held.b.length, rounds * bEach);
  await new Promise((r) => setTimeout(r, 500));
  const got = await collect(probes);

  const nsA = inodeOf(a.netns);
  const nsB = inodeOf(b.netns);
  const hops = got.records.filter(
    (r): r is HopRecord => r.type === 'hop' && r.key.tgid === proxy.pid,
  );
  const through = (netns: number, truth: number[]) => {
    const of = hops.filter((h) => h.key.netnsInode === netns);
    const exchanges = of.reduce((n, h) => n + h.exchanges, 0);
    const requestMs = of.reduce((n, h) => n + h.requestNsSum, 0) / 1e6 / exchanges;
    const heldMs = truth.reduce((n, v) => n + v, 0) / truth.length;
    // The shortest request hop recorded there, from its histogram's lowest bucket.
    const buckets = got.records.filter(
      (r): r is HistRecord =>
        r.type === 'hist' &&
        r.key.tgid === proxy.pid &&
        r.key.netnsInode === netns &&
        r.metric === 'hop_request' &&
        r.count > 0,
    );
    const shortestMs = Math.min(...buckets.map((h) => bucketBounds(h.layout, h.bucket)[1])) / 1e6;
    const unpaired = of.reduce((n, h) => n + h.unpaired, 0);
    t.diagnostic(
      `${netns}: held ${heldMs.toFixed(3)} ms (min ${Math.min(...truth).toFixed(3)}), request hop ${requestMs.toFixed(3)} ms (min under ${shortestMs.toFixed(3)}), ${exchanges} exchanges, ${unpaired} unpaired`,
    );
    return {
      exchanges,
      unpaired,
      requestMs,
      heldMs,
      shortestMs,
      minHeldMs: Math.min(...truth),
    };
  };
  for (const [netns, truth] of [
    [nsA, held.a],
    [nsB, held.b],
  ] as const) {
    const got = through(netns, truth);
    assert.equal(got.exchanges, truth.length);
    assert.equal(got.unpaired, 0);
    assert.ok(got.requestMs >= got.heldMs - 0.05, 'no shorter than the proxy held it');
    assert.ok(got.requestMs <= got.heldMs + 3, 'and its arrival and the pickup at most 3 ms more');
    assert.ok(got.shortestMs >= got.minHeldMs, 'none shorter than the shortest hold');
  }
  // No forward went unpaired (an unknown listener's, port 0).
  assert.deepEqual([...new Set(hops.map((h) => h.key.servicePort))], [port]);
  assert.ok(Math.min(...held.a) > holdMs && Math.max(...held.b) < 5, 'A held, B not');
}

test('a forward pairs with the request read in its own namespace, whatever order the proxy forwards in', (t) =>
  outOfOrderAcrossNamespaces(t, { rounds: 20, holdMs: 30, bEach: 1 }));

// While one pod's request waits (its upstream slow to take it), another pod's requests go
// through the same thread: each of them is read behind it and forwarded before it, and
// each one forwarded leaves its entry behind the waiting one. Every one of them pairs,
// however many: a search that gave up after eight entries left the ninth of B's
// requests onwards unpaired while A's waited (59 of 120 here).
test("a request waiting in one pod's namespace does not keep another pod's from pairing", (t) =>
  outOfOrderAcrossNamespaces(t, { rounds: 10, holdMs: 10, bEach: 12 }));
