// The bpftrace fallback: the same records as the runner for the core counters, exact;
// the exchange latency in coarser power-of-two buckets, marked as such; and chosen
// automatically, with the reason, when the runner cannot start.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lab } from '../../lab/lab.js';
import { waitForLine } from '../../lab/spawn.js';
import { BpftraceTranslator } from '../../probes/bpftrace-records.js';
import { BpftraceSource } from '../../probes/bpftrace-source.js';
import { startRecordSource } from '../../probes/start-source.js';
import { bucketBounds, quantile, totalCount } from '../../proto/histogram.js';
import { collect } from './fixture.js';

const PORT = 7600;
const CONNECTIONS = 20;
const DELAY_MS = 20;

test('bpftrace counts connections and bytes exactly, latency in power-of-two buckets', async (t) => {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: false, app: false },
    { name: 'server', service: 'server', meshed: false, app: false },
  ]);
  t.after(() => lab.destroy());
  const probes = await BpftraceSource.start();
  t.after(() => probes.stop());
  const server = lab.exec('server', 'server', process.execPath, [
    '-e',
    `require('node:net').createServer((s) => s.on('data', () => setTimeout(() => s.end(Buffer.alloc(300)), ${DELAY_MS})))
      .listen(${PORT}, '0.0.0.0', () => console.log('ready'));`,
  ]);
  await waitForLine(server, /^ready$/, 'server');
  const client = lab.exec('client', 'client', process.execPath, [
    '-e',
    `const net = require('node:net');
    (async () => {
      for (let i = 0; i < ${CONNECTIONS}; i++) await new Promise((resolve) => {
        const s = net.connect(${PORT}, '${lab.pod('server').address}', () => s.write(Buffer.alloc(100)));
        s.on('data', () => {});
        s.on('close', resolve);
      });
      console.log('done');
    })();`,
  ]);
  await waitForLine(client, /^done$/, 'client', 30_000);
  await new Promise((r) => setTimeout(r, 1200)); // one full interval
  const got = await collect(probes);
  const c = got.sum(client.pid!, 'client');
  const s = got.sum(server.pid!, 'server');
  assert.deepEqual(
    [c.connects, c.bytesSent, c.bytesReceived],
    [CONNECTIONS, CONNECTIONS * 100, CONNECTIONS * 300],
  );
  assert.deepEqual(
    [s.accepts, s.bytesReceived, s.bytesSent],
    [CONNECTIONS, CONNECTIONS * 100, CONNECTIONS * 300],
  );
  for (const pid of [client.pid!, server.pid!]) {
    const h = got.histogram(pid, 'exchange_latency');
    assert.equal(h.layout, 'HISTOGRAM_LAYOUT_POWER_OF_TWO');
    assert.equal(totalCount(h), CONNECTIONS);
    // Coarse: the delay's power-of-two bucket, [16.8, 33.6) ms.
    const [lower, upper] = bucketBounds(h.layout, h.indexes[0]!);
    assert.ok(lower <= DELAY_MS * 1e6 && DELAY_MS * 1e6 < upper, `bucket ${lower}..${upper}`);
    assert.ok(quantile(h, 0.5)! > 0);
  }
});

test('without a runner the bpftrace fallback starts, and says why', async () => {
  const { source, fallbackReason } = await startRecordSource({ runnerPath: '/nonexistent/runner' });
  try {
    assert.ok(source instanceof BpftraceSource);
    assert.match(fallbackReason ?? '', /\/nonexistent\/runner is missing/);
    assert.deepEqual(
      source.hello.programs.map((p) => p.attach),
      ['bpftrace', 'bpftrace', 'bpftrace', 'bpftrace'],
    );
  } finally {
    await source.stop();
  }
});

test('bpftrace output with hostile or malformed keys is refused, not trusted', () => {
  const t = new BpftraceTranslator();
  assert.throws(
    () => t.push('{"type": "map", "data": {"@connects": {"1,1,<img src=x>,80": 1}}}'),
    /unexpected map key/,
  );
  assert.throws(() => t.push('{not json'), /not JSON/);
  const records = t.push('{"type": "printf", "data": "interval\\n"}');
  assert.equal(records.at(-1)?.type, 'interval');
});
