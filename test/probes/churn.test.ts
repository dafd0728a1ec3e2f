// Connection churn: 200k short connections through maps far smaller than that. The
// per-socket map (a plain hash, never evicting) keeps a state only while its socket
// lives: after the churn the kernel's own listing of it holds no more than the
// connections open at once, so nothing leaked, and the maps' memory (which follows what
// they hold, on kernels where they grow with use) is back where it started; the counts
// stay exact because aggregation follows process pairs, not connections; and a map made
// too small on purpose reports its overflow in the lost counters.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { mapEntries } from '../../bench/bpf-stats.js';
import { churnClientScript, churnServerScript } from '../../lab/churn.js';
import { waitForLine } from '../../lab/spawn.js';
import type { IntervalRecord } from '../../probes/records.js';
import { clientServerWithProbes, collect } from './fixture.js';

const PORT = 7400;
const CONNECTIONS = 200_000;
const CONCURRENCY = 64;

interface BpfMap {
  name?: string;
  bytes_memlock?: number;
  max_entries?: number;
}

/** Our maps (by name) and the memory the kernel charges for them. */
function mapMemory(names: readonly string[]): number {
  const maps = JSON.parse(
    execFileSync('bpftool', ['map', 'show', '--json'], { encoding: 'utf8' }),
  ) as BpfMap[];
  return maps
    .filter((m) => names.includes(m.name ?? ''))
    .reduce((s, m) => s + (m.bytes_memlock ?? 0), 0);
}

const churnServer = churnServerScript(PORT);
const churnClient = (address: string, count: number) =>
  churnClientScript({ address, port: PORT, count, concurrency: CONCURRENCY, deadlineMs: 240_000 });

test(`${CONNECTIONS} short connections: no state left, map memory back, exact counts`, async (t) => {
  const { lab, probes } = await clientServerWithProbes(t, { sockets: 4096, tuples: 256 });
  const server = lab.exec('server', 'churn server', process.execPath, ['-e', churnServer]);
  await waitForLine(server, /^ready$/, 'churn server');
  const names = [
    'sockets',
    'edge_slots',
    'edge_index',
    'edge_claims',
    'histograms_0',
    'histograms_1',
    'tuples_0',
    'tuples_1',
  ];
  const before = mapMemory(names);
  const client = lab.exec('client', 'churn client', process.execPath, [
    '-e',
    churnClient(lab.pod('server').address, CONNECTIONS),
  ]);
  const result = JSON.parse(await waitForLine(client, /^\{/, 'churn client', 300_000)) as {
    finished: number;
    failed: number;
  };
  const during = mapMemory(names);
  const socketStates = mapEntries('sockets');
  const got = await collect(probes);
  const c = got.sum(client.pid!, 'client');
  const s = got.sum(server.pid!, 'server');
  const last = got.records.filter((r): r is IntervalRecord => r.type === 'interval').at(-1)!;
  t.diagnostic(
    `map memory ${before} bytes before, ${during} during; ${socketStates} socket states left; client ${JSON.stringify(result)}`,
  );

  assert.equal(result.failed, 0);
  // A state is ~200 bytes: 200,000 of them kept would be ~40 MB; what is left is the
  // kernel's free lists and the last interval's aggregates.
  assert.ok(during - before < 2 ** 20, `map memory ${before} -> ${during} bytes`);
  // Every closed socket's state went with it: what is left is at most what was open at
  // once (none, once the client has reported; a leak of 0.1% would leave 200).
  assert.ok(socketStates <= CONCURRENCY, `${socketStates} socket states left after the churn`);
  assert.equal(c.connects, CONNECTIONS);
  assert.equal(c.closes, CONNECTIONS);
  assert.equal(s.accepts, CONNECTIONS);
  assert.equal(s.bytesReceived, CONNECTIONS);
  assert.equal(s.bytesSent, 2 * CONNECTIONS);
  assert.deepEqual(last.lost, {
    edgeMapFull: 0,
    histMapFull: 0,
    sockMapFull: 0,
    tupleMapFull: 0,
    hopQueueFull: 0,
    hopMapFull: 0,
    processEventsFull: 0,
    listenerMapFull: 0,
    sockStateStale: 0,
    handoffMapFull: 0,
    http2MapFull: 0,
  });
  // Tuples are samples: a few per edge per interval, not one per connection.
  assert.ok(got.tuples(client.pid!).length < 1000);
});

test('an aggregate map too small for its edges counts what it could not hold', async (t) => {
  const { lab, probes } = await clientServerWithProbes(t, { edges: 1 });
  const server = lab.exec('server', 'server', process.execPath, ['-e', churnServer]);
  await waitForLine(server, /^ready$/, 'server');
  const client = lab.exec('client', 'client', process.execPath, [
    '-e',
    churnClient(lab.pod('server').address, 20),
  ]);
  await waitForLine(client, /^\{/, 'client', 30_000);
  const got = await collect(probes);
  const last = got.records.filter((r): r is IntervalRecord => r.type === 'interval').at(-1)!;
  // One slot, two edges (the client's and the server's): one of them overflows.
  const edges = got.records.filter((r) => r.type === 'edge').length;
  assert.ok(last.lost.edgeMapFull > 0, 'overflow counted');
  assert.ok(edges >= 1);
});
