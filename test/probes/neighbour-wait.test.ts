// What a proxy takes from its neighbours' CPUs (probes/src/neighbours.bpf.h), against the
// kernel's own accounting: a proxy that spins for each request and a process that never
// sleeps, both pinned to CPU 0, so that the neighbour waits in CPU 0's run queue for every
// nanosecond the proxy runs there. The proxy's run time, from the scheduler's own counter
// (/proc/<pid>/schedstat), is then the neighbour's wait behind it. A second neighbour
// pinned to CPU 1, where the proxy never runs, waits behind nothing of it. The filter
// selects the server pod alone (proxy, neighbours, echo server), so that the test's own
// processes, waiting behind the proxy now and then, are not counted.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { waitForLine } from '../../lab/spawn.js';
import { clientServerWithProbes, exited, LiveRecords } from './fixture.js';

const SERVER_PORT = 7310;
const PROXY_PORT = 15006;
const SPIN_MS = 2;
const REQUESTS = 120;

const echoServer = `require('node:net').createServer({ noDelay: true }, (s) => s.on('data', (d) => s.write(Buffer.alloc(d.length, 1))))
  .listen(${SERVER_PORT}, '0.0.0.0', () => console.log('ready'));`;

/** A pass-through proxy that spins SPIN_MS on its one thread for every request it forwards. */
const spinningProxy = `const net = require('node:net');
  net.createServer({ noDelay: true }, (down) => {
    const up = net.connect({ port: ${SERVER_PORT}, host: '127.0.0.1', noDelay: true });
    down.on('data', (d) => {
      const until = process.hrtime.bigint() + ${SPIN_MS * 1_000_000}n;
      while (process.hrtime.bigint() < until);
      up.write(d);
    });
    up.on('data', (d) => down.write(d));
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
    down.on('error', () => {});
    up.on('error', () => {});
  }).listen(${PROXY_PORT}, '0.0.0.0', () => console.log('ready'));`;

/** Never sleeps, for at most 60 s: always runnable on its CPU. */
const neighbour = `console.log('ready'); const end = Date.now() + 60000; while (Date.now() < end);`;

/** One connection, REQUESTS requests one after another. */
const client = (address: string) => `
  const s = require('node:net').connect({ port: ${PROXY_PORT}, host: '${address}', noDelay: true });
  let k = 0;
  s.on('connect', () => s.write(Buffer.alloc(100)));
  s.on('data', () => { if (++k < ${REQUESTS}) s.write(Buffer.alloc(100)); else { s.end(); console.log('done'); } });`;

/** The scheduler's count of a process's main thread's run time, ns. */
const runTimeNs = (pid: number) =>
  Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]);

/** The BPF links a process holds open, from its file descriptors' fdinfo. */
function linksOf(pid: number): number {
  let links = 0;
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      if (/^link_type:/m.test(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))) links++;
    } catch {} // closed since the listing
  }
  return links;
}

async function linksBecome(pid: number, expected: number): Promise<number> {
  const deadline = Date.now() + 5000;
  while (linksOf(pid) !== expected && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  return linksOf(pid);
}

test("a proxy's run time on a CPU is its neighbour's wait there, and nothing on the other CPU", async (t) => {
  const { lab, probes } = await clientServerWithProbes(t);
  const live = new LiveRecords(probes);
  probes.setFilter(1, { netnsInodes: [statSync(`/run/netns/${lab.pod('server').netns}`).ino] });
  await live.filterApplied(1);
  const pinned = (cpu: number, what: string, script: string) =>
    lab.exec('server', what, 'taskset', ['-c', String(cpu), process.execPath, '-e', script]);

  const server = pinned(1, 'echo', echoServer);
  await waitForLine(server, /^ready$/, 'echo');
  const proxy = pinned(0, 'proxy', spinningProxy);
  await waitForLine(proxy, /^ready$/, 'proxy');
  // The context-switch hook is attached only while a proxy is listed.
  const links = linksOf(probes.pid);
  probes.addProxy(proxy.pid!);
  assert.equal(await linksBecome(probes.pid, links + 1), links + 1, 'attached with a proxy');
  const onProxyCpu = pinned(0, 'neighbour on CPU 0', neighbour);
  const onOtherCpu = pinned(1, 'neighbour on CPU 1', neighbour);
  await waitForLine(onProxyCpu, /^ready$/, 'neighbour');
  await waitForLine(onOtherCpu, /^ready$/, 'neighbour');
  t.after(() => {
    onProxyCpu.kill('SIGKILL');
    onOtherCpu.kill('SIGKILL');
  });

  const from = live.records.length;
  const before = runTimeNs(proxy.pid!);
  const load = lab.exec('client', 'client', 'taskset', [
    '-c',
    '1',
    process.execPath,
    '-e',
    client(lab.pod('server').address),
  ]);
  await waitForLine(load, /^done$/, 'client', 60_000);
  const proxyRunNs = runTimeNs(proxy.pid!) - before;
  await exited(load);
  onProxyCpu.kill('SIGKILL');
  onOtherCpu.kill('SIGKILL');
  probes.removeProxy(proxy.pid!);
  assert.equal(await linksBecome(probes.pid, links), links, 'detached with the last proxy');
  await probes.stop();
  await live.finished();

  const waited = live.records
    .slice(from)
    .reduce(
      (n, r) => n + (r.type === 'hop' && r.key.tgid === proxy.pid ? r.neighbourWaitNs : 0),
      0,
    );
  t.diagnostic(
    `proxy ran ${(proxyRunNs / 1e6).toFixed(1)} ms on CPU 0 over ${REQUESTS} requests; its neighbours waited ${(waited / 1e6).toFixed(1)} ms behind it`,
  );
  // The spin alone is REQUESTS x SPIN_MS of run time.
  assert.ok(proxyRunNs >= REQUESTS * SPIN_MS * 1e6, `proxy ran ${proxyRunNs} ns`);
  // The neighbour on CPU 0 waited for all of it (the first request or two, before the
  // kernel knows the proxy's process from its sockets, aside); the one on CPU 1 for none,
  // so the sum is no more than the proxy's run time.
  assert.ok(waited >= 0.9 * proxyRunNs, `neighbours waited ${waited} ns of ${proxyRunNs}`);
  assert.ok(waited <= 1.02 * proxyRunNs, `neighbours waited ${waited} ns of ${proxyRunNs}`);
});
