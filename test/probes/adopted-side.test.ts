// A connection the kernel side first sees already established (opened before the runner
// started, or before the filter chose its pod) takes its side from the listening sockets,
// not from which port is higher: a server on 50051 with a client bound to port 40000 is
// the case the port guess gets backwards at both ends. Listeners open before the runner
// started are listed by it; those opened later are seen starting to listen.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { Lab } from '../../lab/lab.js';
import { waitForLine } from '../../lab/spawn.js';
import { ProbeSource } from '../../probes/probe-source.js';
import type { EdgeRecord } from '../../probes/records.js';
import { collect, exited, LiveRecords } from './fixture.js';

const SERVER_PORT = 50_051;
const CLIENT_PORT = 40_000;
const EXCHANGES = 5;

const server = `require('node:net').createServer((s) => { s.on('data', () => s.write('pong')); s.on('error', () => {}); })
  .listen(${SERVER_PORT}, '0.0.0.0', () => console.log('ready'));`;

/** Connects from CLIENT_PORT, says so, and exchanges only once `go` exists. */
const client = (host: string, go: string) => `const fs = require('node:fs');
  const s = require('node:net').connect({ host: '${host}', port: ${SERVER_PORT}, localPort: ${CLIENT_PORT} }, () => {
    console.log('connected');
    const wait = setInterval(() => {
      if (!fs.existsSync('${go}')) return;
      clearInterval(wait);
      let n = 0;
      s.on('data', () => { if (++n === ${EXCHANGES}) { s.end(); console.log('done'); } else s.write('ping'); });
      s.write('ping');
    }, 20);
  });`;

async function labWithPair(t: TestContext) {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: false, app: false },
    { name: 'server', service: 'server', meshed: false, app: false },
  ]);
  t.after(() => lab.destroy());
  const dir = mkdtempSync(join(tmpdir(), 'tg-adopted-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { lab, go: join(dir, 'go') };
}

async function connectPair(lab: Lab, go: string) {
  const serverProc = lab.exec('server', 'server', process.execPath, ['-e', server]);
  await waitForLine(serverProc, /^ready$/, 'server');
  const clientProc = lab.exec('client', 'client', process.execPath, [
    '-e',
    client(lab.pod('server').address, go),
  ]);
  await waitForLine(clientProc, /^connected$/, 'client');
  return { serverProc, clientProc };
}

/**
 * Each process's ends by side and port, their counts summed over the intervals: an
 * interval that turns between a connection's first event and its exchanges (200 ms here)
 * splits them over two records, which is no second end.
 */
function sides(records: readonly unknown[], serverPid: number, clientPid: number) {
  const edges = (records as EdgeRecord[]).filter((r) => r.type === 'edge');
  const of = (pid: number) => {
    const ends = new Map<
      string,
      { side: string; port: number; adopted: number; exchanges: number }
    >();
    for (const e of edges.filter((x) => x.key.tgid === pid)) {
      const id = `${e.key.side}:${e.key.servicePort}`;
      const end = ends.get(id) ?? {
        side: e.key.side,
        port: e.key.servicePort,
        adopted: 0,
        exchanges: 0,
      };
      end.adopted += e.adopted;
      end.exchanges += e.exchanges;
      ends.set(id, end);
    }
    return [...ends.values()];
  };
  return { server: of(serverPid), client: of(clientPid) };
}

const expected = {
  server: [{ side: 'server', port: SERVER_PORT, adopted: 1, exchanges: EXCHANGES }],
  client: [{ side: 'client', port: SERVER_PORT, adopted: 1, exchanges: EXCHANGES }],
};

test('a connection open before the runner started: each end its own side, from the listener the runner listed', async (t) => {
  const { lab, go } = await labWithPair(t);
  const { serverProc, clientProc } = await connectPair(lab, go);
  const probes = await ProbeSource.start({ intervalMs: 200 });
  t.after(() => probes.stop());
  writeFileSync(go, '');
  await waitForLine(clientProc, /^done$/, 'client');
  await exited(clientProc);
  await new Promise((r) => setTimeout(r, 400));
  const got = await collect(probes);
  serverProc.kill();
  assert.deepEqual(sides(got.records, serverProc.pid!, clientProc.pid!), expected);
});

test('a connection open before the filter chose its pods: the listener seen starting to listen decides', async (t) => {
  const { lab, go } = await labWithPair(t);
  const probes = await ProbeSource.start({ intervalMs: 200 });
  t.after(() => probes.stop());
  const live = new LiveRecords(probes);
  // Nothing traced while the server starts listening and the client connects.
  probes.setFilter(1, { netnsInodes: [1] });
  await live.filterApplied(1);
  const { serverProc, clientProc } = await connectPair(lab, go);
  const netns = (pod: string) => statSync(`/run/netns/${lab.pod(pod).netns}`).ino;
  probes.setFilter(2, { netnsInodes: [netns('client'), netns('server')] });
  const from = await live.filterApplied(2);
  assert.ok(!existsSync(go));
  writeFileSync(go, '');
  await waitForLine(clientProc, /^done$/, 'client');
  await exited(clientProc);
  await new Promise((r) => setTimeout(r, 400));
  await probes.stop();
  await live.finished();
  serverProc.kill();
  assert.deepEqual(sides(live.records.slice(from), serverProc.pid!, clientProc.pid!), expected);
});
