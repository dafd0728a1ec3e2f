// Bad input changes nothing: replays are acknowledged as duplicates, invalid batches are
// rejected with the reason, malformed and oversized messages end the stream with an error
// status, and a missing or wrong token is refused, in every case with nothing written.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startCollector } from './fixture.js';
import { meshBatch, NODE } from './mesh-batches.js';
import { encode, exchange } from './raw-client.js';

const hello = encode({ hello: { agentId: 'agent-1', bootId: 'boot-1', node: NODE } });
const batch = (sequence: number, extra: object = {}) =>
  encode({
    batch: {
      agentId: 'agent-1',
      bootId: 'boot-1',
      sequence,
      ...meshBatch(sequence, Date.now() - 5000),
      ...extra,
    },
  });
const acks = (r: { messages: { ack?: { sequence: number; status: string; error: string } }[] }) =>
  r.messages.filter((m) => m.ack).map((m) => [m.ack!.sequence, m.ack!.status]);

test('a replayed batch is acknowledged DUPLICATE and stored once', async (t) => {
  const collector = await startCollector(t);
  const r = await exchange(collector.grpcAddress, [hello, batch(1), batch(2), batch(1), batch(2)], {
    waitForAcks: 4,
  });
  assert.deepEqual(acks(r), [
    [1, 'ACK_STATUS_STORED'],
    [2, 'ACK_STATUS_STORED'],
    [1, 'ACK_STATUS_DUPLICATE'],
    [2, 'ACK_STATUS_DUPLICATE'],
  ]);
  // And across streams, as after a reconnect.
  const again = await exchange(collector.grpcAddress, [hello, batch(2)], { waitForAcks: 1 });
  assert.deepEqual(acks(again), [[2, 'ACK_STATUS_DUPLICATE']]);
  assert.equal(await collector.store.batchCount(), 2);
  const view = await collector.queries.view({ fromMs: 0, toMs: Date.now() + 1000 });
  const frontend = view.topology.edges.find((e) => e.port === 9080 && e.client?.exchanges);
  assert.equal(frontend?.client?.exchanges, 2 * 50, 'counted once per batch');
});

test('an invalid batch is rejected with the reason and nothing of it is stored', async (t) => {
  const collector = await startCollector(t);
  const good = meshBatch(1, Date.now() - 5000);
  const cases: [string, object, RegExp][] = [
    [
      'unknown process',
      { processes: good.processes!.slice(1) },
      /refers to a process the batch does not describe/,
    ],
    [
      'bad histogram',
      {
        edges: [
          { ...good.edges![0], exchangeLatency: { layout: 1, indexes: [5, 3], counts: [1, 1] } },
        ],
      },
      /not strictly ascending/,
    ],
    [
      'bad address',
      { edges: [{ ...good.edges![0], remote: { address: 'not-an-ip', port: 80 } }] },
      /not an IP address/,
    ],
    ['no side', { edges: [{ ...good.edges![0], side: 0 }] }, /side is unspecified/],
    [
      'huge cmdline',
      {
        processes: [
          { ...good.processes![0], cmdline: ['x'.repeat(5000)] },
          ...good.processes!.slice(1),
        ],
      },
      /longer than 4096/,
    ],
    [
      'bad peer',
      { peers: [{ address: '10.0.0.1; DROP TABLE', kind: 2, namespace: 'a', name: 'b' }] },
      /peers\[0\]\.address is not an IP address/,
    ],
    [
      'too many pod labels',
      {
        processes: [
          {
            ...good.processes![0],
            pod: {
              ...good.processes![0]!.pod,
              labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])),
            },
          },
          ...good.processes!.slice(1),
        ],
      },
      /65 labels, more than 64/,
    ],
    [
      "a socket pod's name too long",
      {
        edges: [
          {
            ...good.edges![0],
            socketPod: { ...good.processes![0]!.pod, name: 'p'.repeat(5000) },
          },
        ],
      },
      /edges\[0\]\.socket_pod\.name is longer than/,
    ],
  ];
  let sequence = 0;
  for (const [what, change, message] of cases) {
    sequence++;
    const r = await exchange(collector.grpcAddress, [hello, batch(sequence, change)], {
      waitForAcks: 1,
    });
    const ack = r.messages.find((m) => m.ack)?.ack;
    assert.equal(ack?.status, 'ACK_STATUS_REJECTED', what);
    assert.match(ack?.error ?? '', message, what);
  }
  assert.equal(await collector.store.batchCount(), 0);
  assert.equal(
    (await collector.queries.view({ fromMs: 0, toMs: Date.now() + 1000 })).topology.edges.length,
    0,
  );
});

test('malformed bytes, a batch before hello and an oversized message end the stream', async (t) => {
  const collector = await startCollector(t, { maxMessageBytes: 64 * 1024 });
  const garbage = await exchange(collector.grpcAddress, [
    hello,
    Buffer.from([0x12, 0xff, 0xff, 0x01, 0x02]),
  ]);
  assert.equal(garbage.code, grpc.status.INTERNAL);
  assert.match(garbage.details, /deserializ/);

  const early = await exchange(collector.grpcAddress, [batch(1)]);
  assert.equal(early.code, grpc.status.FAILED_PRECONDITION);
  assert.match(early.details, /must start with a hello/);

  const big = meshBatch(1, Date.now() - 5000);
  big.processes![0] = {
    ...big.processes![0],
    cmdline: Array.from({ length: 40 }, () => 'y'.repeat(4000)),
  };
  const bytes = batch(1, { processes: big.processes });
  assert.ok(bytes.length > 64 * 1024);
  const oversized = await exchange(collector.grpcAddress, [hello, bytes]);
  assert.equal(oversized.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.equal(await collector.store.batchCount(), 0);
});

test('a missing or wrong token is refused on gRPC and HTTP', async (t) => {
  const collector = await startCollector(t, { credentials: { ingest: 's3cret', read: 'r3ad' } });
  // The API's read token is not the agents' ingest token.
  for (const token of [undefined, 'wrong', 's3cret ', 'r3ad']) {
    const r = await exchange(collector.grpcAddress, [hello, batch(1)], { token });
    assert.equal(r.code, grpc.status.UNAUTHENTICATED, String(token));
  }
  const ok = await exchange(collector.grpcAddress, [hello, batch(1)], {
    token: 's3cret',
    waitForAcks: 1,
  });
  assert.deepEqual(acks(ok), [[1, 'ACK_STATUS_STORED']]);
  assert.equal(await collector.store.batchCount(), 1);

  const api = `${collector.httpUrl}/api/topology`;
  assert.equal((await fetch(api)).status, 401);
  assert.equal((await fetch(api, { headers: { authorization: 'Bearer wrong' } })).status, 401);
  // The agents' credential is not the API's.
  assert.equal((await fetch(api, { headers: { authorization: 'Bearer s3cret' } })).status, 401);
  assert.equal((await fetch(api, { headers: { authorization: 'Bearer r3ad' } })).status, 200);
  assert.equal((await fetch(`${collector.httpUrl}/metrics`)).status, 401);
  assert.equal((await fetch(`${collector.httpUrl}/healthz`)).status, 200);
});

test('the HTTP API refuses bad parameters with a clear 400', async (t) => {
  const collector = await startCollector(t);
  for (const [query, message] of [
    ['from=10', /both from and to/],
    ['from=20&to=10', /to must be after from/],
    ['window=-1', /window/],
    ['bogus=1', /must NOT have additional properties/],
    ['from=abc&to=1', /from/],
  ] as const) {
    const response = await fetch(`${collector.httpUrl}/api/topology?${query}`);
    assert.equal(response.status, 400, query);
    const body = (await response.json()) as { message: string };
    assert.match(body.message, message, query);
  }
  const missing = await fetch(`${collector.httpUrl}/api/edges/${encodeURIComponent('p:x>y:1')}`);
  assert.equal(missing.status, 404);
});
