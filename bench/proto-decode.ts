// Micro-benchmark of the collector's protobuf decode: the ingest bench's batch (250 edges)
// wrapped in an AgentMessage as agents send it, decoded from a Buffer as gRPC hands it over,
// by the codec (proto/plain-decoder.ts) and by the path before it (protobufjs's decode,
// then toObject, then the null fix), interleaved, in rounds. Prints JSON: microseconds per
// batch, median over the rounds with min and max.
//   npx tsx bench/proto-decode.ts [decodes per round, default 400] [rounds, default 5]
import { AgentMessage, root } from '../proto/gen/tollgate/v1.js';
import { syntheticBatch } from './ingest.js';
import { referenceDecoder } from './proto-decode-reference.js';
import { overRounds } from './rounds.js';

const perRound = Number(process.argv[2] ?? 400);
const rounds = Number(process.argv[3] ?? 5);
const bytes = Buffer.from(
  AgentMessage.encode({ batch: syntheticBatch(1, 250, 1_795_000_000_000) }),
);
const reference = referenceDecoder(root, 'tollgate.v1.AgentMessage');
const ways: Record<string, (b: Buffer) => unknown> = {
  before: reference,
  plain: (b) => AgentMessage.decode(b),
};

// Something read from every result, so no decode can be left out as unused.
let sink = 0;
function timeOne(decode: (b: Buffer) => unknown): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < perRound; i++) {
    const message = decode(bytes) as { batch?: { edges: unknown[] } };
    sink += message.batch?.edges.length ?? 0;
  }
  return Number(process.hrtime.bigint() - start) / 1000 / perRound;
}

// Warm both up before the first timed round, so that neither pays the other's JIT time.
for (const decode of Object.values(ways)) for (let i = 0; i < 200; i++) decode(bytes);

const times: Record<string, number[]> = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
for (let round = 0; round < rounds; round++) {
  // Alternate which goes first, so that a slow start does not always fall on one.
  const order = round % 2 === 0 ? Object.keys(ways) : Object.keys(ways).reverse();
  for (const name of order) times[name]!.push(timeOne(ways[name]!));
}
const round1 = (x: number) => Math.round(x * 10) / 10;
const result = {
  batch_bytes: bytes.length,
  decodes_per_round: perRound,
  us_per_batch: Object.fromEntries(
    Object.entries(times).map(([name, values]) => [name, overRounds(values, round1)]),
  ),
  edges_seen: sink,
};
console.log(JSON.stringify(result, null, 2));
