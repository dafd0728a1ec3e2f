// A batch's problems, as the agent is told them: the first one, its path exact
// (`edges[1].connections[0].server.port`), and unknown enum values (a newer agent's, or
// noise, which decode as numbers) refused by name rather than stored, where they would
// fail the whole group of batches committed with them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateBatch } from '../../collector/ingest/validate-batch.js';
import { Batch } from '../../proto/gen/tollgate/v1.js';
import { fromValues } from '../../proto/histogram.js';

const ref = { pid: 7, startTimeTicks: 1 };
const process = { ref, comm: 'app' };
const edge = {
  process: ref,
  side: 'CONNECTION_SIDE_CLIENT' as const,
  local: { address: '10.0.0.1' },
  remote: { address: '10.0.0.2', port: 80 },
  exchangeLatency: fromValues([1000, 2000]),
  connections: [
    { client: { address: '10.0.0.1', port: 40000 }, server: { address: '10.0.0.2', port: 80 } },
  ],
};
const hop = {
  process: ref,
  direction: 'DIRECTION_INBOUND' as const,
  method: 'HOP_METHOD_ARRIVAL_TO_FORWARD' as const,
  requests: 2,
  added: fromValues([5000, 6000]),
};

/** The problem validateBatch finds in a batch made of `parts`, through the wire. */
function problem(parts: Parameters<typeof Batch.encode>[0]): string | undefined {
  return validateBatch(
    Batch.decode(
      Batch.encode({
        agentId: 'a',
        bootId: 'b',
        sequence: 1,
        node: 'n',
        processes: [process],
        ...parts,
      }),
    ),
  );
}

test('a sound batch has no problem', () => {
  assert.equal(problem({ edges: [edge, edge], hops: [hop] }), undefined);
});

test('each problem of an edge or a hop is named by its exact path', () => {
  const cases: [Parameters<typeof Batch.encode>[0], string][] = [
    [
      { edges: [edge, { ...edge, side: 'CONNECTION_SIDE_UNSPECIFIED' }] },
      'edges[1].side is unspecified',
    ],
    [
      { edges: [{ ...edge, process: { pid: 8, startTimeTicks: 1 } }] },
      'edges[0].process refers to a process the batch does not describe',
    ],
    [
      { edges: [{ ...edge, local: { address: 'not-an-ip' } }] },
      'edges[0].local.address is not an IP address',
    ],
    [
      { edges: [{ ...edge, remote: { address: '10.0.0.2' } }] },
      'edges[0].remote.port 0 is out of range',
    ],
    [{ edges: [{ ...edge, remote: undefined }] }, 'edges[0].remote is missing'],
    [
      {
        edges: [
          edge,
          { ...edge, connections: [{ ...edge.connections[0], server: { address: '10.0.0.2' } }] },
        ],
      },
      'edges[1].connections[0].server.port 0 is out of range',
    ],
    [
      { edges: [{ ...edge, exchangeLatency: { ...edge.exchangeLatency, counts: [1] } }] },
      'edges[0].exchange_latency: indexes and counts differ in length',
    ],
    [
      { hops: [{ ...hop, direction: 'DIRECTION_UNSPECIFIED' }] },
      'hops[0].direction is unspecified',
    ],
    [{ hops: [hop, { ...hop, unpaired: 3 }] }, 'hops[1].unpaired 3 is more than its requests 2'],
    [
      // Past 2^53: a uint64 the collector cannot hold exactly.
      { hops: [{ ...hop, added: { ...hop.added, sumNs: 2 ** 60 } }] },
      `hops[0].added: sum ${2 ** 60} out of range`,
    ],
  ];
  for (const [parts, message] of cases) assert.equal(problem(parts), message);
});

test('unknown enum values are refused by name, positive or negative', () => {
  const unknown = (value: number) => value as unknown as 'CONNECTION_SIDE_CLIENT';
  assert.equal(problem({ edges: [{ ...edge, side: unknown(5) }] }), 'edges[0].side is 5');
  assert.equal(problem({ edges: [{ ...edge, side: unknown(-1) }] }), 'edges[0].side is -1');
  const direction = (value: number) => value as unknown as 'DIRECTION_INBOUND';
  assert.equal(problem({ hops: [{ ...hop, direction: direction(7) }] }), 'hops[0].direction is 7');
  assert.equal(
    problem({ hops: [{ ...hop, direction: direction(-1) }] }),
    'hops[0].direction is -1',
  );
  const method = (value: number) => value as unknown as 'HOP_METHOD_ARRIVAL_TO_FORWARD';
  assert.equal(problem({ hops: [{ ...hop, method: method(-1) }] }), 'hops[0].method is -1');
});

test('interval times past 2^53 ms, no longer exact as numbers, are refused', () => {
  const now = 1_700_000_000_000;
  assert.equal(problem({ intervalStartUnixMs: now, intervalEndUnixMs: now + 1000 }), undefined);
  // 2^60 on the wire decodes to a number that is not a safe integer.
  assert.equal(
    problem({ intervalStartUnixMs: now, intervalEndUnixMs: 2 ** 60 }),
    'interval times must be whole milliseconds below 2^53',
  );
  assert.equal(
    problem({ intervalStartUnixMs: 2 ** 53, intervalEndUnixMs: now }),
    'interval times must be whole milliseconds below 2^53',
  );
});
