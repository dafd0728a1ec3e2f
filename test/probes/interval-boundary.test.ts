// Intervals cut through a stream of connections: every connection's tuple and every
// connect-latency bucket must still reach a batch beside its edge, whichever side of an
// interval's end the event fell. The runner drains every 10 ms here, so thousands of
// connections straddle a swap; the records go through the agent's own interval builder.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildInterval, DirectionLearner, IntervalRecords } from '../../daemonset/batch-builder.js';
import { waitForLine } from '../../lab/spawn.js';
import type { EdgeReport, Init } from '../../proto/gen/tollgate/v1.js';
import { clientServerWithProbes, collect } from './fixture.js';

const PORT = 7410;
const CONNECTIONS = 3000;

test('tuples and buckets near an interval boundary reach the batch with their edge', async (t) => {
  const { lab, probes } = await clientServerWithProbes(t, {
    intervalMs: 10,
    tupleSamples: 1_000_000, // sample every connection: the test counts them
  });
  const server = lab.exec('server', 'server', process.execPath, [
    '-e',
    `require('node:net').createServer((s) => s.on('data', () => s.end('ok')))
       .listen(${PORT}, '0.0.0.0', () => console.log('ready'));`,
  ]);
  await waitForLine(server, /^ready$/, 'server');
  const client = lab.exec('client', 'client', process.execPath, [
    '-e',
    `const net = require('node:net');
     let started = 0, finished = 0;
     const deadline = Date.now() + 60_000;
     function one() {
       if (started >= ${CONNECTIONS} || Date.now() > deadline) return;
       started++;
       const s = net.connect(${PORT}, '${lab.pod('server').address}', () => s.write('x'));
       s.on('data', () => s.end());
       s.on('close', () => { if (++finished === ${CONNECTIONS}) console.log('done'); else one(); });
     }
     for (let i = 0; i < 8; i++) one();`,
  ]);
  await waitForLine(client, /^done$/, 'client', 90_000);
  const got = await collect(probes);

  // As the agent does: each interval record closes the records before it.
  const directions = new DirectionLearner();
  const built: Init<EdgeReport>[] = [];
  let current = new IntervalRecords();
  let carried = 0;
  let dropped = 0;
  for (const r of got.records) {
    if (r.type === 'edge' || r.type === 'hist' || r.type === 'tuple') current.add(r);
    if (r.type !== 'interval') continue;
    const interval = buildInterval(current, (pid) => ({ pid, startTimeTicks: 1 }), directions);
    built.push(...interval.edges);
    current = new IntervalRecords();
    current.carry(interval.strays);
    carried += interval.strays.length;
    dropped += interval.straysDropped;
  }
  t.diagnostic(`${carried} records carried into the next interval, ${dropped} dropped`);

  const of = (pid: number | undefined) => built.filter((e) => e.process?.pid === pid);
  const total = (edges: Init<EdgeReport>[], count: (e: Init<EdgeReport>) => number) =>
    edges.reduce((s, e) => s + count(e), 0);
  const clientEdges = of(client.pid);
  const serverEdges = of(server.pid);
  const histCount = (e: Init<EdgeReport>) =>
    (e.connectLatency?.counts ?? []).reduce((a, b) => a + b, 0);
  assert.equal(
    total(clientEdges, (e) => e.connects ?? 0),
    CONNECTIONS,
  );
  assert.equal(total(clientEdges, histCount), CONNECTIONS, 'a connect-latency bucket per connect');
  assert.equal(
    total(clientEdges, (e) => e.connections?.length ?? 0),
    CONNECTIONS,
  );
  assert.equal(
    total(serverEdges, (e) => e.accepts ?? 0),
    CONNECTIONS,
  );
  assert.equal(
    total(serverEdges, (e) => e.connections?.length ?? 0),
    CONNECTIONS,
  );
  assert.equal(dropped, 0);
});
