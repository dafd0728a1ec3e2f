// A drain fuller than one batch: 10,000 distinct edges in one interval (a client
// connecting once to each of 5,000 ports of one server: a client edge and a server edge
// per port), counted exactly, and their 10,000 tuples, with the runner built under
// AddressSanitizer so that a read or write past its buffers aborts it. Edges are read from
// their mapped slots and their index freed in batches; tuples go through the batch lookup,
// whose buffers once assumed 128 bytes per entry where an edge took 192 (a lookup of 1,024
// edges then ran 16 KiB past them). That build's lookups ask for one entry at first, so
// the drain meets buckets of two and more entries that a lookup finds first and that the
// kernel refuses to it until it asks for more (five such refusals in a run, counted by
// bpftrace at bpf(2)'s exit), and must still take every entry.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitForLine } from '../../lab/spawn.js';
import type { EdgeRecord } from '../../probes/records.js';
import { clientServerWithProbes, collect, exited } from './fixture.js';

const PROBES = fileURLToPath(new URL('../../probes/', import.meta.url));
const FIRST_PORT = 20_000;
const PORTS = 5000;

/** Listens on every port; answers each byte with one. */
const server = `const net = require('node:net');
  let listening = 0;
  for (let p = ${FIRST_PORT}; p < ${FIRST_PORT + PORTS}; p++)
    net.createServer((s) => { s.on('data', (d) => s.write(d)); s.on('error', () => {}); })
      .listen(p, '0.0.0.0', () => { if (++listening === ${PORTS}) console.log('ready'); });`;

/** Connects once to each port, 64 at a time: one byte each way, then closes. */
const client = (host: string) => `const net = require('node:net');
  let next = ${FIRST_PORT}, done = 0;
  const one = () => {
    if (next >= ${FIRST_PORT + PORTS}) return;
    const s = net.connect({ host: '${host}', port: next++ }, () => s.write('x'));
    s.on('data', () => s.end());
    s.on('close', () => { if (++done === ${PORTS}) console.log('done'); else one(); });
  };
  for (let i = 0; i < 64; i++) one();`;

test('10,000 edges drained in one interval: every one exact, nothing read or written out of bounds', async (t) => {
  execFileSync('make', ['-s', '-C', PROBES, 'build/tollgate-runner-asan'], { stdio: 'inherit' });
  // libbpf's allocations live until exit; only overflows matter here.
  process.env.ASAN_OPTIONS = 'detect_leaks=0:abort_on_error=0';
  t.after(() => delete process.env.ASAN_OPTIONS);
  const { lab, probes } = await clientServerWithProbes(t, {
    runnerPath: `${PROBES}build/tollgate-runner-asan`,
    // One interval for the whole run: the final drain holds every edge.
    intervalMs: 600_000,
    edges: 32_768,
    histograms: 262_144,
    sockets: 65_536,
    // One connection per edge, sampled at both ends: 10,000 tuples, past the default 8,192.
    tuples: 16_384,
  });
  // Node raises its open-file limit to the hard limit at start: 5,000 listeners fit.
  const serverProc = lab.exec('server', 'many ports', process.execPath, ['-e', server]);
  await waitForLine(serverProc, /^ready$/, 'many ports', 60_000);
  const clientProc = lab.exec('client', 'one per port', process.execPath, [
    '-e',
    client(lab.pod('server').address),
  ]);
  await waitForLine(clientProc, /^done$/, 'one per port', 120_000);
  await exited(clientProc);
  // stop() throws if the runner exited other than 0 (ASan exits 1 on an error).
  const got = await collect(probes);
  const edges = got.records.filter(
    (r): r is EdgeRecord =>
      r.type === 'edge' &&
      r.key.servicePort >= FIRST_PORT &&
      r.key.servicePort < FIRST_PORT + PORTS &&
      (r.key.tgid === clientProc.pid || r.key.tgid === serverProc.pid),
  );
  const intervals = got.records.filter((r) => r.type === 'interval');
  t.diagnostic(`${edges.length} edges, ${intervals.length} intervals`);
  const key = (r: EdgeRecord) => `${r.key.tgid}/${r.key.side}/${r.key.servicePort}`;
  assert.equal(new Set(edges.map(key)).size, 2 * PORTS, 'one edge per port at each end');
  const sum = (
    side: 'client' | 'server',
    k: 'connects' | 'accepts' | 'bytesSent' | 'bytesReceived',
  ) => edges.reduce((n, r) => n + (r.type === 'edge' && r.key.side === side ? r[k] : 0), 0);
  assert.equal(sum('client', 'connects'), PORTS);
  assert.equal(sum('server', 'accepts'), PORTS);
  assert.equal(sum('client', 'bytesSent'), PORTS);
  assert.equal(sum('server', 'bytesReceived'), PORTS);
  assert.equal(sum('server', 'bytesSent'), PORTS);
  assert.equal(sum('client', 'bytesReceived'), PORTS);
  // Every connection's tuple, at both ends, drained past a batch too.
  const tuples = got.records.filter(
    (r) => r.type === 'tuple' && (r.key.tgid === clientProc.pid || r.key.tgid === serverProc.pid),
  );
  assert.equal(tuples.length, 2 * PORTS);
  for (const r of intervals)
    if (r.type === 'interval')
      assert.deepEqual(
        Object.values(r.lost).filter((n) => n !== 0),
        [],
        'nothing lost to a full map',
      );
});
