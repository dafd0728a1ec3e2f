// One ephemeral port, two connections at once: the kernel lets a client port serve
// connections to different destinations, so the client's (address, port) alone does not
// name a connection. Two client processes in one pod bind the same local port and hold
// connections to two servers; the collector must join each client to its own server (on
// the client's initial sequence number as well), with exact counts on both ends.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { labelledEdges } from '../../bench/edge-of.js';
import { fixedExchangeClientScript, fixedExchangeServerScript } from '../../lab/fixed-exchange.js';
import { Lab } from '../../lab/lab.js';
import { waitForLine } from '../../lab/spawn.js';
import { startAgent } from '../daemonset/agent-fixture.js';
import { startCollector } from './fixture.js';

const SIZES = { requestBytes: 200, responseBytes: 900 };
const EXCHANGES = 60;
const SHARED_PORT = 41_000;
const PORTS = { first: 8081, second: 8082 };

test('two connections from one client port to two servers: each joined to its own server', async (t) => {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: false, app: false },
    { name: 'server', service: 'server', meshed: false, app: false },
  ]);
  t.after(() => lab.destroy());
  const collector = await startCollector(t);
  const { agent, stop } = await startAgent(t, {
    collector: collector.grpcAddress,
    intervalMs: 500,
  });
  const fromMs = Date.now() - 1000;

  const servers = {
    first: lab.exec('server', 'first server', process.execPath, [
      '-e',
      fixedExchangeServerScript(PORTS.first, SIZES),
    ]),
    second: lab.exec('server', 'second server', process.execPath, [
      '-e',
      fixedExchangeServerScript(PORTS.second, SIZES),
    ]),
  };
  await waitForLine(servers.first, /^ready$/, 'first server');
  await waitForLine(servers.second, /^ready$/, 'second server');

  // The second client connects while the first still holds the shared port.
  const client = (which: 'first' | 'second') => {
    const child = lab.exec('client', `${which} client`, process.execPath, [
      '-e',
      fixedExchangeClientScript({
        ...SIZES,
        address: lab.pod('server').address,
        port: PORTS[which],
        localPort: SHARED_PORT,
        exchanges: EXCHANGES,
        holdMs: 2500,
        lingerMs: 1500,
      }),
    ]);
    const done = waitForLine(child, /"exchanges"/, `${which} client`, 15_000);
    const exited = new Promise((r) => child.once('close', r));
    return { child, done, exited };
  };
  const first = client('first');
  await waitForLine(first.child, /"connected"/, 'first client');
  const second = client('second');
  const results = [await first.done, await second.done].map(
    (line) => JSON.parse(line) as { exchanges: number; localPort: number },
  );
  assert.deepEqual(
    results.map((r) => r.localPort),
    [SHARED_PORT, SHARED_PORT],
    'both connections on the one client port',
  );
  await first.exited;
  await second.exited;
  await stop();
  assert.equal(agent.status().shipper.spoolBatches, 0, 'every batch acknowledged');

  const { topology } = await collector.queries.view({ fromMs, toMs: Date.now() + 1000 });
  const names = new Map([
    [first.child.pid, 'first client'],
    [second.child.pid, 'second client'],
    [servers.first.pid, 'first server'],
    [servers.second.pid, 'second server'],
  ]);
  // Every edge out of or into the four processes: an unjoined end would be an edge too.
  const ours = labelledEdges(
    topology,
    names,
    (source, target) => source !== undefined || target !== undefined,
  );
  assert.deepEqual(
    ours.map((e) => e.label),
    [
      `first client -> first server :${PORTS.first} (tuple)`,
      `second client -> second server :${PORTS.second} (tuple)`,
    ],
  );
  for (const { edge, label: what } of ours) {
    assert.equal(edge.client?.shared, false, `${what}: one server behind the edge`);
    assert.equal(edge.client?.connects, 1, what);
    assert.equal(edge.server?.accepts, 1, what);
    assert.equal(edge.client?.bytesSent, EXCHANGES * SIZES.requestBytes, what);
    assert.equal(edge.server?.bytesReceived, EXCHANGES * SIZES.requestBytes, what);
    assert.equal(edge.server?.bytesSent, EXCHANGES * SIZES.responseBytes, what);
    assert.equal(edge.client?.bytesReceived, EXCHANGES * SIZES.responseBytes, what);
  }
});
