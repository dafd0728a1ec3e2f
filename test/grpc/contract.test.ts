// The generated service definition drives a real grpc-js server and client: batches go
// up the bidirectional stream, acknowledgements and control messages come down.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  AgentIngestService,
  type AgentMessage,
  type CollectorMessage,
  type Init,
} from '../../proto/gen/tollgate/v1.js';

test('a batch stream round-trips over real gRPC on loopback', async (t) => {
  const server = new grpc.Server();
  const seen: number[] = [];
  server.addService(AgentIngestService, {
    connect(call: grpc.ServerDuplexStream<AgentMessage, Init<CollectorMessage>>) {
      call.write({ control: { kernelFilter: { all: false, cgroupIds: [1234], generation: 1 } } });
      call.on('data', (message: AgentMessage) => {
        if (message.body !== 'batch' || !message.batch) return;
        seen.push(message.batch.sequence);
        call.write({
          ack: {
            bootId: message.batch.bootId,
            sequence: message.batch.sequence,
            status: 'ACK_STATUS_STORED',
          },
        });
      });
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  t.after(() => server.forceShutdown());

  const Client = grpc.makeGenericClientConstructor(AgentIngestService, 'AgentIngest');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const stream = client.connect!() as grpc.ClientDuplexStream<Init<AgentMessage>, CollectorMessage>;
  const received: CollectorMessage[] = [];
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (m: CollectorMessage) => received.push(m));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  stream.write({ hello: { agentId: 'a', bootId: 'boot-1', node: 'n1' } });
  for (const sequence of [1, 2, 3])
    stream.write({ batch: { agentId: 'a', bootId: 'boot-1', sequence } });
  stream.end();
  await done;

  assert.deepEqual(seen, [1, 2, 3]);
  assert.equal(received[0]?.body, 'control');
  assert.deepEqual(received[0]?.control?.kernelFilter?.cgroupIds, [1234]);
  const acks = received
    .filter((m) => m.body === 'ack')
    .map((m) => [m.ack?.sequence, m.ack?.status]);
  assert.deepEqual(acks, [
    [1, 'ACK_STATUS_STORED'],
    [2, 'ACK_STATUS_STORED'],
    [3, 'ACK_STATUS_STORED'],
  ]);
});
