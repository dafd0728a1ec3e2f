// Per-socket state is never evicted to make room: with room for 64 sockets' states and
// 200 sockets open at once (100 connections, both ends traced), 64 are traced whole and
// the rest not at all, every event of theirs counted as lost. An LRU map evicted live
// sockets' states instead, silently: those sockets came back at their next event as
// "adopted", counted twice and their exchanges cut.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { test } from 'node:test';
import { waitForLine } from '../../lab/spawn.js';
import type { EdgeRecord, IntervalRecord } from '../../probes/records.js';
import { clientServerWithProbes, exited, LiveRecords } from './fixture.js';

const PORT = 7500;
const CONNECTIONS = 100;
const ROOM = 64;

const server = `require('node:net').createServer((s) => { s.on('data', () => s.write('y')); s.on('error', () => {}); })
  .listen(${PORT}, '0.0.0.0', () => console.log('ready'));`;

/** Opens every connection first, then makes one exchange on each, then closes them all. */
const client = (host: string) => `const net = require('node:net');
  const sockets = [];
  let open = 0, answered = 0;
  for (let i = 0; i < ${CONNECTIONS}; i++) {
    const s = net.connect({ host: '${host}', port: ${PORT} }, () => {
      if (++open < ${CONNECTIONS}) return;
      for (const x of sockets) x.write('x');
    });
    s.on('data', () => { if (++answered === ${CONNECTIONS}) { for (const x of sockets) x.end(); console.log('done'); } });
    sockets.push(s);
  }`;

test(`room for ${ROOM} socket states, ${2 * CONNECTIONS} sockets at once: ${ROOM} traced whole, the rest counted, none evicted`, async (t) => {
  const { lab, probes } = await clientServerWithProbes(t, { sockets: ROOM });
  const live = new LiveRecords(probes);
  // Only the two pods: the machine's other sockets must not take the room.
  const netns = (pod: string) => statSync(`/run/netns/${lab.pod(pod).netns}`).ino;
  probes.setFilter(1, { netnsInodes: [netns('client'), netns('server')] });
  await live.filterApplied(1);
  const serverProc = lab.exec('server', 'server', process.execPath, ['-e', server]);
  await waitForLine(serverProc, /^ready$/, 'server');
  const clientProc = lab.exec('client', 'client', process.execPath, [
    '-e',
    client(lab.pod('server').address),
  ]);
  await waitForLine(clientProc, /^done$/, 'client', 30_000);
  await exited(clientProc);
  await new Promise((r) => setTimeout(r, 500));
  serverProc.kill();
  await probes.stop();
  await live.finished();
  const records = live.records;
  const ours = records.filter(
    (r): r is EdgeRecord =>
      r.type === 'edge' &&
      r.key.servicePort === PORT &&
      (r.key.tgid === clientProc.pid || r.key.tgid === serverProc.pid),
  );
  const sum = (k: 'connects' | 'accepts' | 'adopted' | 'exchanges') =>
    ours.reduce((n, e) => n + e[k], 0);
  const last = records.filter((r): r is IntervalRecord => r.type === 'interval').at(-1)!;
  t.diagnostic(
    `connects ${sum('connects')}, accepts ${sum('accepts')}, adopted ${sum('adopted')}, exchanges ${sum('exchanges')}, sock_map_full ${last.lost.sockMapFull}`,
  );
  assert.equal(sum('adopted'), 0, 'no socket lost its state and came back');
  assert.equal(sum('connects') + sum('accepts'), ROOM, 'as many traced as there was room for');
  assert.equal(sum('exchanges'), ROOM, "each traced socket's one exchange");
  assert.ok(last.lost.sockMapFull > 0, 'the untraced ones counted');
  assert.equal(last.lost.sockStateStale, 0);
});
