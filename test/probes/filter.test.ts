// The run-time filter: with a network namespace listed only that pod's sockets are
// traced; with a cgroup listed only that cgroup's processes; "all" traces everything
// again. Changed while the runner runs, as a profiling session does.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { run } from '../../lab/exec.js';
import type { Lab } from '../../lab/lab.js';
import { waitForLine } from '../../lab/spawn.js';
import type { EdgeRecord } from '../../probes/records.js';
import { bpfMapEntries } from '../bpf-maps.js';
import { clientServerWithProbes, exited, LiveRecords } from './fixture.js';

const PORT = 7200;

async function exchange(lab: Lab, tag: string, beforeConnectMs = 0) {
  const server = lab.exec('server', `server ${tag}`, process.execPath, [
    '-e',
    `require('node:net').createServer((s) => s.on('data', () => s.end('pong')))
      .listen(${PORT}, '0.0.0.0', () => console.log('ready'));`,
  ]);
  await waitForLine(server, /^ready$/, 'server');
  const client = lab.exec('client', `client ${tag}`, process.execPath, [
    '-e',
    `setTimeout(() => {
      const s = require('node:net').connect(${PORT}, '${lab.pod('server').address}', () => s.write('ping'));
      s.on('data', () => { console.log('done'); s.end(); });
    }, ${beforeConnectMs});`,
  ]);
  return {
    server,
    client,
    done: async () => {
      await waitForLine(client, /^done$/, 'client', 10_000);
      server.kill();
      await exited(server);
    },
  };
}

const edgesOf = (live: LiveRecords, from: number, pid: number | undefined) =>
  live.records.slice(from).filter((r): r is EdgeRecord => r.type === 'edge' && r.key.tgid === pid);

test('a network namespace filter, then all, changed at run time', async (t) => {
  const { lab, probes } = await clientServerWithProbes(t);
  const live = new LiveRecords(probes);
  const serverNetns = statSync(`/run/netns/${lab.pod('server').netns}`).ino;

  probes.setFilter(1, { netnsInodes: [serverNetns] });
  const from1 = await live.filterApplied(1);
  const one = await exchange(lab, 'one');
  await one.done();
  await new Promise((r) => setTimeout(r, 500)); // two more drains
  assert.equal(edgesOf(live, from1, one.client.pid).length, 0, 'client pod not traced');
  const server1 = edgesOf(live, from1, one.server.pid);
  assert.equal(
    server1.reduce((s, e) => s + e.accepts, 0),
    1,
    'server pod traced',
  );

  probes.setFilter(2, { all: true });
  const from2 = await live.filterApplied(2);
  const two = await exchange(lab, 'two');
  await two.done();
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(
    edgesOf(live, from2, two.client.pid).reduce((s, e) => s + e.connects, 0),
    1,
    'client traced again',
  );
});

test('a cgroup filter traces only the processes in that cgroup', async (t) => {
  const { lab, probes } = await clientServerWithProbes(t);
  const live = new LiveRecords(probes);
  // A cgroup v2 hierarchy of our own, with one child group for the client.
  const mountPoint = mkdtempSync(join(tmpdir(), 'tollgate-cgroup-'));
  run('mount', ['-t', 'cgroup2', 'none', mountPoint]);
  const group = join(mountPoint, `tollgate-test-${process.pid}`);
  mkdirSync(group);
  t.after(() => {
    // Its processes have exited by now; then the group and the mount can go.
    rmdirSync(group);
    run('umount', [mountPoint]);
    rmdirSync(mountPoint);
  });
  probes.setFilter(3, { cgroupIds: [statSync(group).ino] });
  const from = await live.filterApplied(3);
  const one = await exchange(lab, 'cgroup', 500);
  writeFileSync(join(group, 'cgroup.procs'), String(one.client.pid));
  await one.done();
  await exited(one.client);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(
    edgesOf(live, from, one.client.pid).reduce((s, e) => s + e.connects + e.bytesSent, 0),
    1 + 4,
    'the client in the cgroup: its connect and its 4 bytes',
  );
  assert.equal(edgesOf(live, from, one.server.pid).length, 0, 'the server is not in it');

  // Passive opens outside the cgroup get a state before the filter can turn them down
  // (their process is learnt at the first read); at close it goes, turned down or not,
  // not at the LRU's whim (11 of 300 were left before; 2 allow for the host's own).
  const before = socketStates();
  const server = lab.exec('server', 'server many', process.execPath, [
    '-e',
    `require('node:net').createServer((s) => s.on('data', () => s.end('pong')))
      .listen(${PORT}, '0.0.0.0', () => console.log('ready'));`,
  ]);
  await waitForLine(server, /^ready$/, 'server');
  const client = lab.exec('client', 'client many', process.execPath, [
    '-e',
    `const net = require('node:net');
     let left = 300;
     const one = () => { const s = net.connect(${PORT}, '${lab.pod('server').address}', () => s.write('ping'));
       s.on('data', () => s.end()); s.on('close', () => (--left ? one() : console.log('done'))); };
     one();`,
  ]);
  await waitForLine(client, /^done$/, 'client', 30_000);
  server.kill();
  await exited(server);
  await exited(client);
  await new Promise((r) => setTimeout(r, 500));
  const left = socketStates() - before;
  t.diagnostic(`socket states left after 300 closed connections: ${left}`);
  assert.ok(left <= 2, `socket states left after 300 closed connections: ${left}`);
});

/** Entries in the runner's per-socket map. */
function socketStates(): number {
  return bpfMapEntries('sockets').length;
}
