// The ambient lab on the real kernel: a node proxy (haproxy) in a pod of its own, with
// listening sockets inside the enrolled pods' namespaces, traffic between them tunnelled
// over TLS on 15008, capture switched off and on, and a pod enrolled while traffic flows.
// Ground truth: the kernel (ss, /proc), the node proxy's own counters, the app's counters
// and the clients' own counts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { test } from 'node:test';
import {
  type ConnectionPerRequestResult,
  connectionPerRequestScript,
} from '../../lab/connection-per-request.js';
import { haproxyCommand } from '../../lab/haproxy-stats.js';
import { Lab, LabError, NODE_PROXY_POD, nodeProxyPod, WAYPOINT_POD } from '../../lab/lab.js';
import { listNamespaces } from '../../lab/ledger.js';
import { type NodeProxyStatRow, nodeProxyNames } from '../../lab/node-proxy-config.js';
import { isRunning, type ProcessId, startTimeOf } from '../../lab/processes.js';
import { waitForLine } from '../../lab/spawn.js';

const N = 40;

const client = nodeProxyNames('client');
const server = nodeProxyNames('server');

/** Sessions and TLS counts of every listener of a node's node proxy, by name. */
async function listeners(lab: Lab, node?: string): Promise<Map<string, NodeProxyStatRow>> {
  const rows = await lab.nodeProxyStats(node);
  return new Map(rows.filter((r) => r.server === 'FRONTEND').map((r) => [r.proxy, r]));
}

/** How many sessions each listener gained between two readings. */
function gained(
  before: Map<string, NodeProxyStatRow>,
  after: Map<string, NodeProxyStatRow>,
): Record<string, number> {
  return Object.fromEntries(
    [...after].map(([name, row]) => [
      name,
      row.sessionsTotal - (before.get(name)?.sessionsTotal ?? 0),
    ]),
  );
}

/** `count` GETs from a pod to another's app, each on a connection of its own. */
async function requests(
  lab: Lab,
  from: string,
  to: string,
  count: number,
  rate = 100,
): Promise<ConnectionPerRequestResult> {
  const target = lab.pod(to);
  const child = lab.exec(from, 'requests', process.execPath, [
    '-e',
    connectionPerRequestScript({
      url: `http://${target.address}:${target.port}/`,
      count,
      rate,
      timeoutMs: 5000,
    }),
  ]);
  const line = await waitForLine(
    child,
    /^\{/,
    `requests from ${from}`,
    (count / rate) * 1000 + 15_000,
  );
  return JSON.parse(line) as ConnectionPerRequestResult;
}

/**
 * Connections haproxy itself (2.1 on) loses in a reload: at its soft stop the old worker closes
 * the file descriptors of the network namespaces it connects into (netns_sig_stop, in its
 * namespace.c) while it still holds connections it accepted just before; one that has yet
 * to connect to its app then cannot open a socket in the pod's namespace ("Cannot get a
 * server socket"), and haproxy resets it: a line of the old worker's in the node proxy's
 * log with no connect time (-1) and the state SC. How many such lines the log holds.
 */
function lostToSoftStop(log: string, oldWorker: number): number {
  if (!log.includes('Cannot get a server socket')) return 0;
  return log
    .split('\n')
    .filter((line) => line.startsWith(`${oldWorker} `) && / \d+\/-1\/\d+ \d+ SC /.test(line))
    .length;
}

/** The pids owning a listening TCP port in a namespace, as the kernel reports them. */
function listenerPids(netns: string, port: number): number[] {
  const out = execFileSync('ip', ['netns', 'exec', netns, 'ss', '-ltnpH', `sport = :${port}`], {
    encoding: 'utf8',
  });
  return [...new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))];
}

/** A pod's REDIRECT rules, as iptables lists them. */
function redirects(lab: Lab, pod: string): string[] {
  const rules = execFileSync(
    'ip',
    ['netns', 'exec', lab.pod(pod).netns, 'iptables', '-t', 'nat', '-S'],
    {
      encoding: 'utf8',
    },
  );
  return rules.split('\n').filter((r) => r.includes('REDIRECT'));
}

/**
 * A client on one kept-alive connection: a GET at once, another `gapMs` later, then it
 * closes. Prints "<first|second> <status> <new|reused>" after each.
 */
function heldConnection(lab: Lab, from: string, to: string, gapMs: number) {
  const url = `http://${lab.pod(to).address}:${lab.pod(to).port}/`;
  return lab.exec(from, 'held connection', process.execPath, [
    '-e',
    `const http = require('node:http');
     const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
     function get(label, next) {
       const req = http.get(${JSON.stringify(url)}, { agent }, (res) => {
         res.resume();
         res.on('end', () => { console.log(label, res.statusCode, req.reusedSocket ? 'reused' : 'new'); next(); });
       });
       req.on('error', (e) => { console.log(label, 'error', e.message); process.exit(1); });
     }
     get('first', () => setTimeout(() => get('second', () => agent.destroy()), ${gapMs}));`,
  ]);
}

const netnsOf = (pid: number) =>
  execFileSync('readlink', [`/proc/${pid}/ns/net`], { encoding: 'utf8' }).trim();
const cgroupOf = (pid: number) => readFileSync(`/proc/${pid}/cgroup`, 'utf8');

test("haproxy's own soft-stop resets are told from the log, as a CI run's showed one", () => {
  // The node proxy's log of a CI run (2026-12-02) that lost 1 of 300 in an enrollment.
  const log = [
    '[NOTICE]   (20992) : New worker (21028) forked',
    'Cannot get a server socket.',
    '20994 198.18.0.2:44550 [02/Dec/2026:11:31:30.787] inbound-server app-server/app 1/-1/0 0 SC 2/2/1/1/3 0/0',
  ].join('\n');
  assert.equal(lostToSoftStop(log, 20994), 1);
  assert.equal(lostToSoftStop(log, 21028), 0, "the new worker's, not the old one's");
  assert.equal(lostToSoftStop(log.replace('Cannot get a server socket.', ''), 20994), 0);
  assert.equal(lostToSoftStop(log.replace('1/-1/0 0 SC', '1/0/5 0 SD'), 20994), 0);
});

test('ambient pods talk through a node proxy outside them, over TLS on 15008', async (t) => {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: true, mesh: 'ambient', app: false },
    { name: 'server', service: 'server', meshed: true, mesh: 'ambient' },
    { name: 'outsider', service: 'outsider', meshed: false, app: false },
  ]);
  t.after(() => lab.destroy());
  const proxy = lab.nodeProxyProcess()!;
  const serverPod = lab.pod('server');
  assert.equal(serverPod.mesh, 'ambient');
  assert.equal(serverPod.nodeProxyPid, proxy.workerPid);
  assert.equal(serverPod.sidecarPid, undefined, 'no sidecar in an ambient pod');

  // The shape, from the kernel: the node proxy's worker owns the listeners inside the pods'
  // namespaces, while it lives in its own pod's namespace and its own cgroup.
  assert.deepEqual(listenerPids(serverPod.netns, 15008), [proxy.workerPid]);
  assert.deepEqual(listenerPids(serverPod.netns, 15006), [proxy.workerPid]);
  assert.deepEqual(listenerPids(lab.pod('client').netns, 15001), [proxy.workerPid]);
  assert.deepEqual(listenerPids(lab.pod('outsider').netns, 15008), [], 'not enrolled');
  const own = execFileSync('ip', ['netns', 'identify', String(proxy.workerPid)], {
    encoding: 'utf8',
  }).trim();
  assert.equal(own, lab.pod(NODE_PROXY_POD).netns);
  assert.notEqual(netnsOf(proxy.workerPid), netnsOf(serverPod.appPid!));
  assert.notEqual(cgroupOf(proxy.workerPid), cgroupOf(serverPod.appPid!));
  assert.ok(
    cgroupOf(proxy.workerPid).includes(`/${basename(proxy.cgroup)}\n`),
    `worker in ${proxy.cgroup}`,
  );
  assert.equal(cgroupOf(proxy.masterPid), cgroupOf(proxy.workerPid), 'worker born in the cgroup');
  // The in-pod rules, as Istio's CNI agent installs them: two REDIRECTs per enrolled pod.
  assert.equal(redirects(lab, 'client').length, 2, redirects(lab, 'client').join('\n'));
  assert.equal(redirects(lab, 'outsider').length, 0);

  // Client to server: out through the client's 15001, in through the server's 15008, TLS.
  let before = await listeners(lab);
  let app = (await lab.appStats('server')).requests;
  let result = await requests(lab, 'client', 'server', N);
  assert.equal(result.ok, N, JSON.stringify(result.outcomes));
  assert.equal((await lab.appStats('server')).requests, app + N);
  let after = await listeners(lab);
  let moved = gained(before, after);
  assert.equal(moved[client.outbound], N, JSON.stringify(moved));
  assert.equal(moved[server.tunnel], N, JSON.stringify(moved));
  assert.equal(moved[server.inbound], 0, JSON.stringify(moved));
  const handshakes = (m: Map<string, NodeProxyStatRow>) =>
    m.get(server.tunnel)!.tlsSessions + m.get(server.tunnel)!.tlsResumedSessions;
  assert.equal(handshakes(after) - handshakes(before), N, 'a TLS handshake per connection');

  // A tunnelled connection, held open: the server pod's kernel shows it arriving at 15008
  // from the client pod's own address (the node proxy connected from inside the client
  // pod), accepted by the node proxy's worker.
  const held = heldConnection(lab, 'client', 'server', 1000);
  assert.equal(await waitForLine(held, /^first /, 'held connection'), 'first 200 new');
  const tunnels = execFileSync(
    'ip',
    ['netns', 'exec', serverPod.netns, 'ss', '-tnpH', 'state', 'established', '( sport = :15008 )'],
    { encoding: 'utf8' },
  );
  assert.match(
    tunnels,
    new RegExp(
      `:15008\\s+${lab.pod('client').address.replaceAll('.', '\\.')}:\\d+.*pid=${proxy.workerPid},`,
    ),
  );
  assert.equal(await waitForLine(held, /^second /, 'held connection'), 'second 200 reused');
  after = await listeners(lab);

  // 15008 speaks only TLS: plaintext from outside the mesh is refused, and reaches no app.
  before = after;
  app = (await lab.appStats('server')).requests;
  const plaintext = execFileSync(
    'ip',
    [
      'netns',
      'exec',
      lab.pod('outsider').netns,
      process.execPath,
      '-e',
      `const s = require('node:net').connect(15008, ${JSON.stringify(serverPod.address)}, () => s.write('GET / HTTP/1.0\\r\\n\\r\\n'));
       let got = 0; s.on('data', (d) => { got += d.length; }); s.on('error', () => {});
       s.on('close', () => console.log(got)); s.setTimeout(5000, () => s.destroy());`,
    ],
    { encoding: 'utf8', timeout: 10_000 },
  );
  assert.equal(plaintext.trim(), '0', 'no byte of an answer to plaintext on 15008');
  after = await listeners(lab);
  assert.equal(
    after.get(server.tunnel)!.tlsFailedHandshakes - before.get(server.tunnel)!.tlsFailedHandshakes,
    1,
  );
  assert.equal(after.get(server.tunnel)!.sessionsTotal, before.get(server.tunnel)!.sessionsTotal);
  assert.equal((await lab.appStats('server')).requests, app);

  // A: the client's capture off. It is now like a pod outside the mesh: its requests reach
  // the server's app through the server's plaintext 15006, not through the tunnel.
  lab.setOutboundCapture('client', false);
  assert.equal(redirects(lab, 'client').length, 1, 'the outbound rule went');
  before = after;
  result = await requests(lab, 'client', 'server', N);
  assert.equal(result.ok, N, JSON.stringify(result.outcomes));
  moved = gained(before, await listeners(lab));
  assert.equal(moved[client.outbound], 0, JSON.stringify(moved));
  assert.equal(moved[server.tunnel], 0, JSON.stringify(moved));
  assert.equal(moved[server.inbound], N, JSON.stringify(moved));

  // And the server's capture off too: the node proxy is out of the path altogether.
  lab.setInboundCapture('server', false);
  before = await listeners(lab);
  app = (await lab.appStats('server')).requests;
  result = await requests(lab, 'client', 'server', N);
  assert.equal(result.ok, N, JSON.stringify(result.outcomes));
  assert.equal((await lab.appStats('server')).requests, app + N, 'all reached the app');
  moved = gained(before, await listeners(lab));
  assert.ok(
    Object.values(moved).every((n) => n === 0),
    `no listener of the node proxy moved: ${JSON.stringify(moved)}`,
  );

  // B: both back on, and the counters move again.
  lab.setOutboundCapture('client', true);
  lab.setInboundCapture('server', true);
  assert.equal(redirects(lab, 'client').length, 2, 'the outbound rule back, once');
  assert.equal(redirects(lab, 'server').length, 2, 'the inbound rule back, once');
  before = await listeners(lab);
  result = await requests(lab, 'client', 'server', N);
  assert.equal(result.ok, N, JSON.stringify(result.outcomes));
  moved = gained(before, await listeners(lab));
  assert.equal(moved[client.outbound], N, JSON.stringify(moved));
  assert.equal(moved[server.tunnel], N, JSON.stringify(moved));

  // Teardown removes the node proxy, its cgroup and its pod with the rest.
  const processes: ProcessId[] = [proxy.masterPid, proxy.workerPid].map((pid) => ({
    pid,
    startTime: startTimeOf(pid)!,
  }));
  assert.ok(existsSync(proxy.cgroup));
  assert.deepEqual(lab.destroy(), []);
  for (const p of processes) assert.equal(isRunning(p), false, `pid ${p.pid} stopped`);
  assert.deepEqual(
    listNamespaces().filter((n) => n.startsWith(`tg${lab.id}-`)),
    [],
  );
  assert.equal(existsSync(proxy.cgroup), false, `cgroup ${proxy.cgroup} removed`);
});

test("pods on two nodes talk through each node's own node proxy, the tunnel between them", async (t) => {
  await assert.rejects(
    Lab.create([{ name: 'x', service: 'x', meshed: true, ambientNode: 'b' }]),
    LabError,
    'a sidecar pod has no node of the ambient mesh',
  );
  await assert.rejects(
    Lab.create([{ name: 'x', service: 'x', meshed: true, mesh: 'ambient', ambientNode: 'B-2' }]),
    LabError,
  );
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: true, mesh: 'ambient', app: false },
    { name: 'server', service: 'server', meshed: true, mesh: 'ambient', ambientNode: 'b' },
  ]);
  t.after(() => lab.destroy());
  const first = lab.nodeProxyProcess()!;
  const second = lab.nodeProxyProcess('b')!;
  const [clientPod, serverPod] = [lab.pod('client'), lab.pod('server')];
  assert.notEqual(first.workerPid, second.workerPid);
  assert.equal(clientPod.nodeProxyPid, first.workerPid);
  assert.equal(serverPod.nodeProxyPid, second.workerPid);
  // Each lives in a pod of its own, and owns the listeners of its own node's pods only.
  const podOf = (pid: number) =>
    execFileSync('ip', ['netns', 'identify', String(pid)], { encoding: 'utf8' }).trim();
  assert.equal(podOf(first.workerPid), lab.pod(NODE_PROXY_POD).netns);
  assert.equal(podOf(second.workerPid), lab.pod(nodeProxyPod('b')).netns);
  assert.deepEqual(listenerPids(clientPod.netns, 15001), [first.workerPid]);
  assert.deepEqual(listenerPids(clientPod.netns, 15008), [first.workerPid]);
  assert.deepEqual(listenerPids(serverPod.netns, 15008), [second.workerPid]);
  assert.deepEqual(listenerPids(serverPod.netns, 15006), [second.workerPid]);

  // Out through the first node's proxy, into the tunnel, in through the second's.
  const [beforeFirst, beforeSecond] = [await listeners(lab), await listeners(lab, 'b')];
  const result = await requests(lab, 'client', 'server', N);
  assert.equal(result.ok, N, JSON.stringify(result.outcomes));
  assert.equal((await lab.appStats('server')).requests, N);
  const movedFirst = gained(beforeFirst, await listeners(lab));
  const movedSecond = gained(beforeSecond, await listeners(lab, 'b'));
  assert.equal(movedFirst[client.outbound], N, JSON.stringify(movedFirst));
  assert.equal(movedFirst[server.tunnel], undefined, 'the first serves no listener of the server');
  assert.equal(movedSecond[server.tunnel], N, JSON.stringify(movedSecond));
  const sent = (await lab.nodeProxyStats()).find(
    (r) => r.proxy === client.tunnelOut && r.server === 'BACKEND',
  );
  assert.equal(sent?.sessionsTotal, N, 'the first sent each into a tunnel');
});

test('a pod enrolled while traffic flows takes the node proxy path at once, losing no request', async (t) => {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: false, app: false },
    { name: 'server', service: 'server', meshed: true, mesh: 'ambient' },
  ]);
  t.after(() => lab.destroy());
  const before = lab.nodeProxyProcess()!;
  const oldWorker: ProcessId = { pid: before.workerPid, startTime: startTimeOf(before.workerPid)! };

  // A kept-alive connection, open across the reload: one request before, one after.
  const GAP_MS = 4000;
  const held = heldConnection(lab, 'client', 'server', GAP_MS);
  const second = waitForLine(held, /^second /, 'held connection', GAP_MS + 10_000);
  assert.equal(await waitForLine(held, /^first /, 'held connection'), 'first 200 new');

  // 300 requests over 3 s, each a new connection; the client is enrolled 1 s in.
  const COUNT = 300;
  const load = requests(lab, 'client', 'server', COUNT, 100);
  await new Promise((r) => setTimeout(r, 1000));
  const enrollStart = Date.now();
  await lab.enrollAmbient('client');
  const enrolledAt = Date.now();
  const after = lab.nodeProxyProcess()!;
  assert.ok(enrolledAt - enrollStart < GAP_MS - 1000, `enrolled in ${enrolledAt - enrollStart} ms`);
  assert.equal(after.masterPid, before.masterPid, 'the master stays');
  assert.notEqual(after.workerPid, before.workerPid, 'a new worker');
  assert.equal(lab.pod('client').nodeProxyPid, after.workerPid);
  assert.equal(lab.pod('server').nodeProxyPid, after.workerPid);
  assert.deepEqual(listenerPids(lab.pod('server').netns, 15008), [after.workerPid]);
  assert.ok(isRunning(oldWorker), 'the old worker still serves the connection it holds');

  const result = await load;
  if (result.failed > 0) {
    // Seen three times in CI (1 of 300 each time, 72-76 ms into a 101 ms enrollment),
    // never in 45 runs alone or beside busy loops: say why each failed (its error code),
    // when each failure started against the enrollment, and what the node proxy counted.
    // One reset the old worker logged as haproxy's own soft-stop defect (lostToSoftStop)
    // is no loss of the lab's: said, not failed.
    const failures = result.outcomes
      .map((outcome, i) => ({
        i,
        outcome,
        why: result.errors?.[i],
        ms: result.starts[i]! - enrollStart,
      }))
      .filter((f) => f.outcome !== 'ok');
    const log = lab.nodeProxyLog();
    const softStopResets = lostToSoftStop(log, oldWorker.pid);
    if (
      result.failed <= Math.min(1, softStopResets) &&
      failures.every((f) => f.why === 'ECONNRESET')
    )
      t.diagnostic(
        `${result.failed} reset by the old worker's soft stop (haproxy's own defect, see lostToSoftStop): ${JSON.stringify(failures)}`,
      );
    else {
      const errors = await haproxyCommand(after.statsSocket, 'show stat\n').catch(String);
      assert.fail(
        `${result.failed} failed (ms from the enrollment's start; it took ${enrolledAt - enrollStart} ms): ${JSON.stringify(failures)}\n` +
          `node proxy stat:\n${errors}\nnode proxy log:\n${log}`,
      );
    }
  }
  // NAT is decided at a connection's first packet: every connection opened after the rules
  // were in went through the client's 15001, none opened before the enrollment began did.
  const surely = result.starts.filter((s) => s > enrolledAt).length;
  const possibly = result.starts.filter((s) => s >= enrollStart).length;
  const stats = await listeners(lab);
  const tunnelled = stats.get(client.outbound)!.sessionsTotal;
  t.diagnostic(
    `enrolled in ${enrolledAt - enrollStart} ms; ${tunnelled} of ${COUNT} requests tunnelled (${surely} started after, ${possibly} since the enrollment began)`,
  );
  assert.ok(surely >= 100, `${surely} requests after the enrollment: the load ended too soon`);
  assert.ok(tunnelled >= surely && tunnelled <= possibly, `${tunnelled} in ${surely}..${possibly}`);
  assert.equal(stats.get(server.tunnel)!.sessionsTotal, tunnelled, 'each came out of the tunnel');

  // The held connection kept its path through the old worker, which exits once it closes.
  assert.equal(await second, 'second 200 reused');
  const deadline = Date.now() + 5000;
  while (isRunning(oldWorker) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(isRunning(oldWorker), false, 'the old worker exited with its last connection');
  assert.deepEqual(lab.destroy(), []);
});

test('a waypoint between the node proxies: its own pod, its own sockets, every request through it', async (t) => {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: true, mesh: 'ambient', app: false },
    { name: 'server', service: 'server', meshed: true, mesh: 'ambient', waypoint: true },
  ]);
  t.after(() => lab.destroy());
  const waypoint = lab.waypointProcess()!;
  const proxy = lab.nodeProxyProcess()!;
  const serverPod = lab.pod('server');

  // The waypoint is an ordinary process of its pod: it listens on 15008 in its own
  // namespace, and nothing in the server pod is its.
  assert.equal(
    execFileSync('ip', ['netns', 'identify', String(waypoint.pid)], { encoding: 'utf8' }).trim(),
    lab.pod(WAYPOINT_POD).netns,
  );
  assert.deepEqual(listenerPids(lab.pod(WAYPOINT_POD).netns, 15008), [waypoint.pid]);
  assert.deepEqual(listenerPids(serverPod.netns, 15008), [proxy.workerPid]);

  const before = await listeners(lab);
  const result = await requests(lab, 'client', 'server', N);
  assert.equal(result.ok, N, JSON.stringify(result.outcomes));
  assert.equal((await lab.appStats('server')).requests, N);
  const moved = gained(before, await listeners(lab));
  assert.equal(moved[client.outbound], N, JSON.stringify(moved));
  assert.equal(moved[server.tunnel], N, JSON.stringify(moved));
  const wp = (await lab.waypointStats()).find(
    (r) => r.proxy === 'waypoint' && r.server === 'FRONTEND',
  );
  assert.equal(wp?.sessionsTotal, N, 'every connection came through the waypoint');
  const sent = await lab.nodeProxyStats();
  const toWaypoint = sent.find((r) => r.proxy === client.toWaypoint && r.server === 'BACKEND');
  assert.equal(toWaypoint?.sessionsTotal, N, 'the client side sent them to the waypoint');

  // A held connection shows the last hop: into the server pod's 15008 from the waypoint's
  // address, not from the client's.
  const held = heldConnection(lab, 'client', 'server', 1000);
  assert.equal(await waitForLine(held, /^first /, 'held connection'), 'first 200 new');
  const tunnels = execFileSync(
    'ip',
    ['netns', 'exec', serverPod.netns, 'ss', '-tnH', 'state', 'established', '( sport = :15008 )'],
    { encoding: 'utf8' },
  );
  const peers = [...tunnels.matchAll(/:15008\s+([\d.]+):\d+/g)].map((m) => m[1]);
  assert.deepEqual(peers, [lab.pod(WAYPOINT_POD).address], tunnels);
  assert.equal(await waitForLine(held, /^second /, 'held connection'), 'second 200 reused');
  const waypointProcess: ProcessId = { pid: waypoint.pid, startTime: startTimeOf(waypoint.pid)! };
  assert.deepEqual(lab.destroy(), []);
  assert.equal(isRunning(waypointProcess), false, 'the waypoint stopped with the lab');
});
