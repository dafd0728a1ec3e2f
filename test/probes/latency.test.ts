// Exchange latency against a server that answers after a known delay, at both ends; and
// a runner killed with SIGKILL leaves no programs or links behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { waitForLine } from '../../lab/spawn.js';
import { ProbeSource } from '../../probes/probe-source.js';
import { quantile, type SparseHistogram } from '../../proto/histogram.js';
import { clientServerWithProbes, collect } from './fixture.js';

const DELAY_MS = 20;
const EXCHANGES = 100;

test(`exchange latency recovers a ${DELAY_MS} ms server delay at both ends`, async (t) => {
  const { lab, probes } = await clientServerWithProbes(t);
  // One keep-alive connection; each 100-byte request is answered after DELAY_MS.
  const server = lab.exec('server', 'server', process.execPath, [
    '-e',
    `require('node:net')
      .createServer((s) => s.on('data', () => setTimeout(() => s.write(Buffer.alloc(100)), ${DELAY_MS})))
      .listen(7001, '0.0.0.0', () => console.log('ready'));`,
  ]);
  await waitForLine(server, /^ready$/, 'server');
  const client = lab.exec('client', 'client', process.execPath, [
    '-e',
    `const s = require('node:net').connect(7001, '${lab.pod('server').address}');
    let n = 0;
    s.on('connect', () => s.write(Buffer.alloc(100)));
    s.on('data', () => { if (++n < ${EXCHANGES}) s.write(Buffer.alloc(100)); else { console.log('done'); s.end(); } });`,
  ]);
  await waitForLine(client, /^done$/, 'client', 30_000);
  const got = await collect(probes);
  const hist: Record<string, SparseHistogram> = {
    client: got.histogram(client.pid!, 'exchange_latency'),
    server: got.histogram(server.pid!, 'exchange_latency'),
  };
  for (const side of ['client', 'server']) {
    const h = hist[side]!;
    assert.equal(
      h.counts.reduce((a, b) => a + b, 0),
      EXCHANGES,
      `${side}: one exchange per request`,
    );
    const p50Ms = quantile(h, 0.5)! / 1e6;
    // 3% for the histogram, plus 1.5 ms for setTimeout's lateness and the network.
    assert.ok(
      p50Ms >= DELAY_MS * 0.97 && p50Ms <= DELAY_MS * 1.03 + 1.5,
      `${side} p50 ${p50Ms} ms`,
    );
  }
});

test('a runner killed with SIGKILL leaves no programs or links of ours', async () => {
  const named = (kind: 'prog' | 'map') =>
    (
      JSON.parse(execFileSync('bpftool', [kind, 'show', '--json'], { encoding: 'utf8' })) as {
        name?: string;
      }[]
    ).map((p) => p.name ?? '');
  // Programs are ours by their prefix; maps by names no other tool here uses.
  const ours = () =>
    named('prog').filter((n) => n.startsWith('tg_')).length +
    named('map').filter((n) => n === 'hop_queues' || n === 'filter_netns').length;
  const probes = await ProbeSource.start({ intervalMs: 200 });
  const loaded = probes.hello.programs.filter((p) => p.attach !== 'none').length + 2;
  assert.equal(ours(), loaded);
  process.kill(probes.pid, 'SIGKILL');
  await probes.stop().catch(() => {});
  // Program and link objects are released when their last file descriptor closes.
  for (let i = 0; i < 50 && ours() > 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(ours(), 0);
  const again = await ProbeSource.start({ intervalMs: 200 });
  assert.equal(ours(), loaded, 'and a new runner loads cleanly');
  await again.stop();
});
