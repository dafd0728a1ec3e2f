// Encoding and decoding through the generated codecs: every kind of field survives.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtoDecodeError } from '../../proto/codec.js';
import { AgentMessage, Batch, CollectorMessage } from '../../proto/gen/tollgate/v1.js';

const batch: Parameters<typeof Batch.encode>[0] = {
  agentId: 'node-a',
  bootId: 'b0f1',
  sequence: 2 ** 40 + 7,
  node: 'node-a',
  intervalStartUnixMs: 1_795_000_000_000,
  intervalEndUnixMs: 1_795_000_001_000,
  processes: [
    {
      ref: { pid: 4242, startTimeTicks: 123456 },
      comm: 'haproxy',
      cmdline: ['haproxy', '-f', '/etc/haproxy.cfg'],
      pod: {
        namespace: 'shop',
        name: 'catalog-1',
        source: 'POD_SOURCE_NETNS',
        labels: { app: 'catalog' },
      },
      role: 'ROLE_SIDECAR',
    },
  ],
  edges: [
    {
      process: { pid: 4242, startTimeTicks: 123456 },
      side: 'CONNECTION_SIDE_CLIENT',
      remote: { address: '10.77.0.3', port: 8080 },
      bytesSent: 9_007_199_254_740_000,
      exchangeLatency: {
        layout: 'HISTOGRAM_LAYOUT_LOG_LINEAR_16',
        indexes: [3, 400],
        counts: [1, 5],
        sumNs: 99,
      },
      connections: [
        {
          client: { address: '10.77.0.2', port: 40000 },
          server: { address: '10.77.0.3', port: 8080 },
        },
      ],
    },
  ],
};

test('a batch round-trips: 64-bit numbers, enums by name, maps, nested messages', () => {
  const decoded = Batch.decode(Batch.encode(batch));
  assert.equal(decoded.sequence, 2 ** 40 + 7);
  assert.equal(decoded.intervalEndUnixMs, 1_795_000_001_000);
  assert.equal(decoded.processes[0]?.role, 'ROLE_SIDECAR');
  assert.deepEqual(decoded.processes[0]?.cmdline, ['haproxy', '-f', '/etc/haproxy.cfg']);
  assert.deepEqual(decoded.processes[0]?.pod?.labels, { app: 'catalog' });
  const edge = decoded.edges[0]!;
  assert.equal(edge.bytesSent, 9_007_199_254_740_000);
  assert.equal(edge.side, 'CONNECTION_SIDE_CLIENT');
  assert.deepEqual(edge.exchangeLatency?.indexes, [3, 400]);
  assert.deepEqual(edge.exchangeLatency?.counts, [1, 5]);
  assert.equal(edge.connections[0]?.client?.port, 40000);
});

test('absent fields read as defaults, absent messages as undefined', () => {
  const decoded = Batch.decode(Batch.encode({ agentId: 'x' }));
  assert.equal(decoded.sequence, 0);
  assert.deepEqual(decoded.edges, []);
  assert.equal(decoded.agentCost, undefined);
  // Nested too, and nothing reads as null (protobufjs's own default for them).
  const nested = Batch.decode(Batch.encode({ edges: [{ side: 'CONNECTION_SIDE_CLIENT' }] }));
  assert.equal(nested.edges[0]!.exchangeLatency, undefined);
  assert.equal(nested.edges[0]!.process, undefined);
  assert.equal(JSON.stringify(nested).includes('null'), false);
});

test('oneof: which member is set is named', () => {
  const up = AgentMessage.decode(AgentMessage.encode({ batch: { sequence: 1 } }));
  assert.equal(up.body, 'batch');
  assert.equal(up.batch?.sequence, 1);
  const down = CollectorMessage.decode(
    CollectorMessage.encode({ ack: { bootId: 'b', sequence: 1, status: 'ACK_STATUS_DUPLICATE' } }),
  );
  assert.equal(down.body, 'ack');
  assert.equal(down.ack?.status, 'ACK_STATUS_DUPLICATE');
});

test('malformed bytes give a ProtoDecodeError naming the message type', () => {
  const bytes = Batch.encode(batch);
  assert.throws(
    () => Batch.decode(bytes.subarray(0, bytes.length - 3)),
    (error: unknown) => {
      assert.ok(error instanceof ProtoDecodeError);
      assert.match(error.message, /malformed tollgate\.v1\.Batch/);
      return true;
    },
  );
});
