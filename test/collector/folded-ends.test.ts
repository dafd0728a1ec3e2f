// A server end the kernel folded (a listener's clients past its per-interval limit, summed
// under an unspecified remote address) is many clients' counts, not one's. A client end
// whose sampled connection reached it is drawn to the server's process with its own counts
// only; the folded end is drawn once, from one "other clients" peer. So each count is in
// exactly one edge: the server side of the edges into the server adds up to what it served.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildTopology } from '../../collector/model/topology.js';
import { run } from '../../lab/exec.js';
import { Lab } from '../../lab/lab.js';
import { waitForLine } from '../../lab/spawn.js';
import { startAgent } from '../daemonset/agent-fixture.js';
import { exited } from '../probes/fixture.js';
import { startCollector } from './fixture.js';
import { end, processRecord } from './topology-records.js';

test('a folded server end: its linked clients drawn to the server with their own counts, itself from "other clients"', () => {
  const processes = [
    processRecord('p:server', 10, 'server', 1),
    processRecord('p:kept', 20, 'kept', 2),
    processRecord('p:folded', 30, 'folded', 3),
  ];
  const ends = [
    // The server: one client kept apart, the rest (600 exchanges, 3 of them the folded
    // client's) summed under 0.0.0.0.
    end(1, 'p:server', 'server', '10.0.0.1', '10.0.0.2', 8080, { accepts: 1, exchanges: 5 }),
    end(2, 'p:server', 'server', '10.0.0.1', '0.0.0.0', 8080, { accepts: 600, exchanges: 600 }),
    end(3, 'p:kept', 'client', '10.0.0.2', '10.0.0.1', 8080, { connects: 1, exchanges: 5 }),
    end(4, 'p:folded', 'client', '10.0.0.3', '10.0.0.1', 8080, { connects: 3, exchanges: 3 }),
  ];
  const { topology } = buildTopology({
    fromMs: 0,
    toMs: 10_000,
    processes,
    ends,
    links: [
      { clientEnd: 3, serverEnd: 1 },
      { clientEnd: 4, serverEnd: 2 }, // a tuple sampled under the folded edge
    ],
  });
  const byId = new Map(topology.edges.map((e) => [`${e.source} -> ${e.target}`, e]));
  const other = topology.externals.find((x) => x.kind === 'folded');
  assert.deepEqual(other, {
    id: 'ext:0.0.0.0',
    address: '0.0.0.0',
    port: 0,
    name: null,
    kind: 'folded',
  });
  assert.deepEqual([...byId.keys()].sort(), [
    'ext:0.0.0.0 -> p:server',
    'p:folded -> p:server',
    'p:kept -> p:server',
  ]);
  const kept = byId.get('p:kept -> p:server')!;
  assert.equal(kept.joined, 'tuple');
  assert.equal(kept.server?.exchanges, 5, 'its own server end');
  const folded = byId.get('p:folded -> p:server')!;
  assert.equal(folded.joined, 'tuple');
  assert.equal(folded.client?.exchanges, 3);
  assert.equal(folded.server, null, 'not the 600 of every folded client');
  assert.equal(byId.get('ext:0.0.0.0 -> p:server')!.server?.exchanges, 600);
  // The server side adds up to what the server served, each count once.
  const served = topology.edges
    .filter((e) => e.target === 'p:server')
    .reduce((n, e) => n + (e.server?.exchanges ?? 0), 0);
  assert.equal(served, 605);
});

test('300 clients of one server through agent and collector: 100 kept apart, the rest from "other clients", every accept counted once', async (t) => {
  const CLIENTS = 300;
  const PORT = 7400;
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: false, app: false },
    { name: 'server', service: 'server', meshed: false, app: false },
  ]);
  t.after(() => lab.destroy());
  const address = (i: number) => `198.19.${i >> 8}.${i & 255}`;
  run(
    'ip',
    ['-n', lab.pod('client').netns, '-batch', '-'],
    Array.from({ length: CLIENTS }, (_, i) => `addr add ${address(i)}/32 dev eth0\n`).join(''),
  );
  run('ip', [
    '-n',
    lab.pod('server').netns,
    'route',
    'add',
    '198.19.0.0/17',
    'via',
    lab.pod('client').address,
  ]);
  const collector = await startCollector(t);
  // Before the agent starts: its first interval begins then, and must be in the range.
  const fromMs = Date.now() - 1000;
  const { stop } = await startAgent(t, {
    collector: collector.grpcAddress,
    intervalMs: 500,
    clientsPerListener: 100,
  });
  const server = lab.exec('server', 'server', process.execPath, [
    '-e',
    `require('node:net').createServer((s) => { s.on('data', () => s.write('pong')); s.on('error', () => {}); })
      .listen(${PORT}, '0.0.0.0', () => console.log('ready'));`,
  ]);
  await waitForLine(server, /^ready$/, 'server');
  // Every connection inside one interval as far as possible: 300 at once.
  const client = lab.exec('client', 'clients', process.execPath, [
    '-e',
    `const net = require('node:net');
    let closed = 0, replied = 0;
    for (let i = 0; i < ${CLIENTS}; i++) {
      const s = net.connect({ host: '${lab.pod('server').address}', port: ${PORT}, localAddress: '198.19.' + (i >> 8) + '.' + (i & 255) }, () => s.write('ping'));
      s.on('data', () => { replied++; s.end(); });
      s.on('close', () => { if (++closed === ${CLIENTS}) console.log(JSON.stringify({ replied })); });
    }
    // Alive a while longer: the agent names a process from /proc (a process gone within
    // one interval is not named yet, the nothing-lost issue).
    setTimeout(() => {}, 2000);`,
  ]);
  assert.deepEqual(JSON.parse(await waitForLine(client, /"replied"/, 'clients', 30_000)), {
    replied: CLIENTS,
  });
  await exited(client);
  await stop();
  server.kill();

  const { topology } = await collector.queries.view({ fromMs, toMs: Date.now() + 1000 });
  const serverNode = topology.processes.find((p) => p.pid === server.pid)!;
  const clientNode = topology.processes.find((p) => p.pid === client.pid)!;
  const into = topology.edges.filter((e) => e.target === serverNode.id && e.port === PORT);
  const folded = into.find((e) => e.source === 'ext:0.0.0.0');
  const direct = into.find((e) => e.source === clientNode.id);
  t.diagnostic(
    into
      .map(
        (e) =>
          `${e.source} -> ${e.joined}: server ${e.server?.accepts} accepts from ${e.server?.ends} ends`,
      )
      .join('; '),
  );
  assert.deepEqual(
    topology.externals.find((x) => x.id === 'ext:0.0.0.0'),
    { id: 'ext:0.0.0.0', address: '0.0.0.0', port: 0, name: null, kind: 'folded' },
  );
  assert.equal(into.length, 2, 'the client, and "other clients"');
  // Joined on the sampled connections, or (folded clients none of whose connections was
  // sampled) on the server's address, as no NAT is in between.
  assert.ok(direct && direct.joined !== 'none');
  assert.equal(direct?.client?.connects, CLIENTS, "the client's every connection, at its end");
  // At most 100 per interval kept apart; with all at once, most clients are folded.
  assert.ok((direct?.server?.ends ?? 0) >= 100 && (direct?.server?.ends ?? 0) < CLIENTS);
  assert.equal((direct?.server?.accepts ?? 0) + (folded?.server?.accepts ?? 0), CLIENTS);
  assert.equal((direct?.server?.exchanges ?? 0) + (folded?.server?.exchanges ?? 0), CLIENTS);
});
