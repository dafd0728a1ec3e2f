// Joins the sampled connections cannot make. A short-lived client's few connections are
// rarely among the handful a busy sidecar samples per interval, and REDIRECT keeps the
// dialed address but not the port: such a client end joins the server end whose peer is
// its address and whose own is the one it dialed, when that is one listener. That server
// end is shared by every process of the client's pod, and says so. And a loopback peer
// no join reached stays in its own pod, not one node for the whole cluster.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildTopology } from '../../collector/model/topology.js';
import { end, processRecord } from './topology-records.js';

const CLIENT = '10.0.0.2';
const SERVER = '10.0.0.1';

test('clients behind a redirect without a sampled connection: joined by the address pair, the shared server end said so', () => {
  const { topology } = buildTopology({
    fromMs: 0,
    toMs: 10_000,
    processes: [
      processRecord('p:curl1', 11, 'client', 2),
      processRecord('p:curl2', 12, 'client', 2),
      processRecord('p:direct', 13, 'client', 2),
      processRecord('p:sidecar', 21, 'server', 1),
      processRecord('p:app', 22, 'server', 1),
    ],
    ends: [
      // Two short-lived clients dialed the server pod's port 80, redirected to 15006.
      end(1, 'p:curl1', 'client', CLIENT, SERVER, 80, { connects: 1, exchanges: 5 }),
      end(2, 'p:curl2', 'client', CLIENT, SERVER, 80, { connects: 1, exchanges: 7 }),
      end(3, 'p:sidecar', 'server', SERVER, CLIENT, 15006, { accepts: 2, exchanges: 12 }),
      // Another client process of the pod dialed the app's port 9090 straight (not
      // captured): its own address join, and no candidate for the port-80 clients.
      end(4, 'p:direct', 'client', CLIENT, SERVER, 9090, { connects: 1, exchanges: 1 }),
      end(5, 'p:app', 'server', SERVER, CLIENT, 9090, { accepts: 1, exchanges: 1 }),
    ],
    links: [],
  });
  const edge = (source: string) => topology.edges.find((e) => e.source === source);
  for (const [source, exchanges] of [
    ['p:curl1', 5],
    ['p:curl2', 7],
  ] as const) {
    const e = edge(source);
    assert.equal(e?.target, 'p:sidecar', `${source} -> the sidecar`);
    assert.equal(e?.joined, 'address');
    assert.equal(e?.client?.exchanges, exchanges);
    assert.equal(e?.server?.accepts, 2, "the sidecar's end: both clients'");
    assert.equal(e?.server?.shared, true, 'and said so');
  }
  assert.equal(edge('p:direct')?.target, 'p:app');
  assert.equal(edge('p:direct')?.server?.shared, false);
  assert.deepEqual(topology.externals, [], 'nothing left unjoined');
});

test('two listeners for one address pair: no guess', () => {
  const { topology } = buildTopology({
    fromMs: 0,
    toMs: 10_000,
    processes: [
      processRecord('p:curl', 11, 'client', 2),
      processRecord('p:server', 21, 'server', 1),
    ],
    ends: [
      end(1, 'p:curl', 'client', CLIENT, SERVER, 80, { connects: 1, exchanges: 1 }),
      end(2, 'p:server', 'server', SERVER, CLIENT, 15006, { accepts: 1, exchanges: 1 }),
      end(3, 'p:server', 'server', SERVER, CLIENT, 15008, { accepts: 1, exchanges: 1 }),
    ],
    links: [],
  });
  assert.equal(
    topology.edges.find((e) => e.source === 'p:curl')?.target,
    `ext:${SERVER}:80`,
    'left to an external peer',
  );
});

test('loopback peers no join reached stay in their own pods', () => {
  const { topology } = buildTopology({
    fromMs: 0,
    toMs: 10_000,
    processes: [processRecord('p:a', 11, 'shop', 7), processRecord('p:b', 12, 'billing', 8)],
    ends: [
      end(1, 'p:a', 'client', '127.0.0.1', '127.0.0.1', 5432, { connects: 1, exchanges: 1 }),
      end(2, 'p:b', 'client', '127.0.0.1', '127.0.0.1', 5432, { connects: 1, exchanges: 1 }),
    ],
    links: [],
  });
  assert.deepEqual(topology.externals.map((x) => [x.id, x.address, x.name, x.kind]).sort(), [
    ['ext:n1/7/127.0.0.1:5432', '127.0.0.1', 'default/shop', 'pod'],
    ['ext:n1/8/127.0.0.1:5432', '127.0.0.1', 'default/billing', 'pod'],
  ]);
});
