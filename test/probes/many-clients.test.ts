// A server with many clients (an ingress, a popular backend) must not take an edge per
// client: 20,000 client addresses on the client pod's interface, one connection from each
// to one server pod. The kernel keeps an edge of its own for at most its per-listener
// limit of clients per interval and sums the rest under the listener's folded key: the
// server's edges per interval stay within the limit, nothing is lost to a full map, and
// the counts over all its edges are exactly what the client did. Each sampled connection
// keeps its own client's address, folded or not (the collector joins on it).
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { cpus } from 'node:os';
import { test } from 'node:test';
import { run } from '../../lab/exec.js';
import { Lab } from '../../lab/lab.js';
import { waitForLine } from '../../lab/spawn.js';
import { ProbeSource } from '../../probes/probe-source.js';
import type { EdgeRecord, IntervalRecord, ProbeRecord, TupleRecord } from '../../probes/records.js';
import { exited, LiveRecords } from './fixture.js';

const PORT = 7300;
const CLIENTS = 20_000;
/** The clients' addresses: 198.19.0.0/17, inside RFC 2544's benchmarking range like the lab's. */
const CLIENT_NET = '198.19.0.0/17';
const clientAddress = (i: number) => `198.19.${i >> 8}.${i & 255}`;

/** Answers each request with 4 bytes; the client closes. */
const server = `require('node:net').createServer((s) => {
    s.on('data', () => s.write('pong'));
    s.on('error', () => {});
  }).listen(${PORT}, '0.0.0.0', () => console.log('ready'));`;

/** One connection from each of its first `count` addresses, 64 at a time: 4 bytes each way. */
const client = (host: string, count: number) => `const net = require('node:net');
  let next = 0, closed = 0, replied = 0, failed = 0;
  const one = () => {
    if (next >= ${count}) return;
    const i = next++;
    const s = net.connect({ host: '${host}', port: ${PORT}, localAddress: '198.19.' + (i >> 8) + '.' + (i & 255) },
      () => s.write('ping'));
    s.on('data', () => { replied++; s.end(); });
    s.on('error', () => failed++);
    s.on('close', () => {
      if (++closed === ${count}) console.log(JSON.stringify({ replied, failed }));
      else one();
    });
  };
  for (let k = 0; k < 64; k++) one();`;

/** The records between two interval records, per interval, from `from` on. */
function intervals(records: readonly ProbeRecord[], from: number) {
  const out: { edges: EdgeRecord[]; tuples: TupleRecord[]; interval: IntervalRecord }[] = [];
  let edges: EdgeRecord[] = [];
  let tuples: TupleRecord[] = [];
  for (const r of records.slice(from)) {
    if (r.type === 'edge') edges.push(r);
    else if (r.type === 'tuple') tuples.push(r);
    else if (r.type === 'interval') {
      out.push({ edges, tuples, interval: r });
      edges = [];
      tuples = [];
    }
  }
  return out;
}

async function profile(lab: Lab, count: number, options: { clientsPerListener?: number }) {
  const probes = await ProbeSource.start({ intervalMs: 200, ...options });
  try {
    const live = new LiveRecords(probes);
    // Only the server pod: the client, with one address per connection, has an edge
    // per connection on its own side, which is not what this test is about.
    probes.setFilter(1, { netnsInodes: [statSync(`/run/netns/${lab.pod('server').netns}`).ino] });
    const from = await live.filterApplied(1);
    const serverProc = lab.exec('server', 'server', process.execPath, ['-e', server]);
    try {
      await waitForLine(serverProc, /^ready$/, 'server');
      const clientProc = lab.exec('client', 'many clients', process.execPath, [
        '-e',
        client(lab.pod('server').address, count),
      ]);
      const done = JSON.parse(
        await waitForLine(clientProc, /"replied"/, 'many clients', 120_000),
      ) as { replied: number; failed: number };
      await exited(clientProc);
      await new Promise((r) => setTimeout(r, 500)); // the last closes drained
      await probes.stop();
      await live.finished();
      const hello = probes.hello;
      const ours = <T extends EdgeRecord | TupleRecord>(list: T[]) =>
        list.filter((r) => r.key.tgid === serverProc.pid && r.key.servicePort === PORT);
      const perInterval = intervals(live.records, from + 1).map((i) => ({
        edges: ours(i.edges),
        tuples: ours(i.tuples),
        lost: i.interval.lost,
      }));
      return { done, hello, perInterval };
    } finally {
      serverProc.kill();
      await exited(serverProc);
    }
  } finally {
    await probes.stop();
  }
}

const sum = (
  edges: readonly EdgeRecord[],
  k: 'accepts' | 'bytesReceived' | 'bytesSent' | 'exchanges',
) => edges.reduce((n, e) => n + e[k], 0);

test('20,000 clients of one server: its edges stay within the per-listener limit, the counts exact', async (t) => {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: false, app: false },
    { name: 'server', service: 'server', meshed: false, app: false },
  ]);
  t.after(() => lab.destroy());
  const clientNs = lab.pod('client').netns;
  run(
    'ip',
    ['-n', clientNs, '-batch', '-'],
    Array.from({ length: CLIENTS }, (_, i) => `addr add ${clientAddress(i)}/32 dev eth0\n`).join(
      '',
    ),
  );
  run('ip', [
    '-n',
    lab.pod('server').netns,
    'route',
    'add',
    CLIENT_NET,
    'via',
    lab.pod('client').address,
  ]);

  const { done, hello, perInterval } = await profile(lab, CLIENTS, {});
  assert.deepEqual(done, { replied: CLIENTS, failed: 0 }, "the client's own count");
  const limit = hello.clientsPerListener!;
  assert.equal(limit, 128, 'the default limit');
  const edges = perInterval.flatMap((i) => i.edges);
  const folded = edges.filter((e) => e.key.remoteAddress === '0.0.0.0');
  t.diagnostic(
    `${perInterval.length} intervals, ${edges.length} server edges (${folded.length} folded), ` +
      `most in one interval ${Math.max(...perInterval.map((i) => i.edges.length))}`,
  );
  t.diagnostic(
    `own edges per interval: ${perInterval.map((i) => i.edges.filter((e) => e.key.remoteAddress !== '0.0.0.0').length).join(' ')}`,
  );
  // The census can let one more client in per CPU racing for the last place.
  for (const [n, i] of perInterval.entries()) {
    const own = i.edges.filter((e) => e.key.remoteAddress !== '0.0.0.0');
    assert.ok(
      own.length <= limit + cpus().length,
      `interval ${n}: ${own.length} clients' own edges`,
    );
    assert.ok(i.edges.length - own.length <= 1, `interval ${n}: one folded edge at most`);
    assert.deepEqual(
      Object.entries(i.lost).filter(([, v]) => v !== 0),
      [],
      `interval ${n}: nothing lost to a full map`,
    );
  }
  assert.ok(folded.length > 0, 'clients past the limit were folded');
  assert.equal(sum(edges, 'accepts'), CLIENTS, 'every connection accepted, in aggregate');
  assert.equal(sum(edges, 'exchanges'), CLIENTS);
  assert.equal(sum(edges, 'bytesReceived'), 4 * CLIENTS);
  assert.equal(sum(edges, 'bytesSent'), 4 * CLIENTS);
  // Sampled connections name their own client, folded edge or not.
  const tuples = perInterval.flatMap((i) => i.tuples);
  const underFolded = tuples.filter((x) => x.key.remoteAddress === '0.0.0.0');
  assert.ok(underFolded.length > 0, 'connections sampled under the folded edge');
  for (const x of tuples)
    assert.match(x.remoteAddress, /^198\.19\.\d+\.\d+$/, 'a client address, never the folded one');
  for (const x of tuples.filter((x) => x.key.remoteAddress !== '0.0.0.0'))
    assert.equal(x.remoteAddress, x.key.remoteAddress, "an own edge's tuple: its client");

  // With the limit at 0 every client is folded: one edge per interval, the counts exact.
  const few = 2000;
  const none = await profile(lab, few, { clientsPerListener: 0 });
  assert.deepEqual(none.done, { replied: few, failed: 0 });
  for (const i of none.perInterval) assert.ok(i.edges.length <= 1);
  const all = none.perInterval.flatMap((i) => i.edges);
  assert.ok(all.every((e) => e.key.remoteAddress === '0.0.0.0'));
  assert.equal(sum(all, 'accepts'), few);
  assert.equal(sum(all, 'bytesReceived'), 4 * few);
});
