// What a proxy takes from its neighbours' CPUs (probes/src/neighbours.bpf.h), against the
// kernel's own accounting: a proxy that spins for each request and a process that never
// sleeps, both pinned to CPU 0, so that the neighbour waits in CPU 0's run queue for every
// nanosecond the proxy runs there. The proxy's run time, from the scheduler's own counter
// (/proc/<pid>/task/<pid>/schedstat), is then the neighbour's wait behind it. Before that,
// the same load with a neighbour pinned to CPU 1 alone, where the proxy never runs: nothing.
// The filter selects the server pod alone (proxy, neighbours, echo server), so that the
// test's own processes, waiting behind the proxy now and then, are not counted.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { waitForLine } from '../../lab/spawn.js';
import { clientServerWithProbes, exited, LiveRecords, onCpu, passThroughProxy } from './fixture.js';

const SERVER_PORT = 7310;
const PROXY_PORT = 15006;
const SPIN_MS = 2;
const REQUESTS = 120;

const echoServer = `require('node:net').createServer({ noDelay: true }, (s) => s.on('data', (d) => s.write(Buffer.alloc(d.length, 1))))
  .listen(${SERVER_PORT}, '0.0.0.0', () => console.log('ready'));`;

/** A pass-through proxy that spins SPIN_MS on its one thread for every request it forwards. */
const spinningProxy = passThroughProxy({
  listenPort: PROXY_PORT,
  upstreamPort: SERVER_PORT,
  onRequest: `const until = process.hrtime.bigint() + ${SPIN_MS * 1_000_000}n;
      while (process.hrtime.bigint() < until);
      up.write(d);`,
});

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
    lab.exec('server', what, ...onCpu(cpu, process.execPath, ['-e', script]));

  const server = pinned(1, 'echo', echoServer);
  await waitForLine(server, /^ready$/, 'echo');
  const proxy = pinned(0, 'proxy', spinningProxy);
  await waitForLine(proxy, /^ready$/, 'proxy');
  // The context-switch hook is attached only while a proxy is listed.
  const links = linksOf(probes.pid);
  probes.addProxy(proxy.pid!);
  assert.equal(await linksBecome(probes.pid, links + 1), links + 1, 'attached with a proxy');
  const neighbours: ReturnType<typeof pinned>[] = [];
  t.after(() => {
    for (const n of neighbours) n.kill('SIGKILL');
  });
  const addNeighbour = async (cpu: number) => {
    const n = pinned(cpu, `neighbour on CPU ${cpu}`, neighbour);
    neighbours.push(n);
    await waitForLine(n, /^ready$/, 'neighbour');
  };
  /** The load through the proxy: the proxy's run time, and its neighbours' wait behind it. */
  const phase = async () => {
    const from = live.records.length;
    const before = runTimeNs(proxy.pid!);
    const load = lab.exec(
      'client',
      'client',
      ...onCpu(1, process.execPath, ['-e', client(lab.pod('server').address)]),
    );
    await waitForLine(load, /^done$/, 'client', 60_000);
    const ranNs = runTimeNs(proxy.pid!) - before;
    await exited(load);
    await new Promise((r) => setTimeout(r, 1000)); // five drains: the phase's hops are in
    const waitedNs = live.records
      .slice(from)
      .reduce(
        (n, r) => n + (r.type === 'hop' && r.key.tgid === proxy.pid ? r.neighbourWaitNs : 0),
        0,
      );
    t.diagnostic(
      `proxy ran ${(ranNs / 1e6).toFixed(1)} ms on CPU 0 over ${REQUESTS} requests; its neighbours waited ${(waitedNs / 1e6).toFixed(1)} ms behind it`,
    );
    // The spin is REQUESTS x SPIN_MS by the clock, some of it spent waiting for the CPU
    // where a neighbour shares it (238 ms of 240 run once in CI): well over a quarter runs.
    assert.ok(ranNs >= 0.25 * REQUESTS * SPIN_MS * 1e6, `proxy ran ${ranNs} ns`);
    return { ranNs, waitedNs };
  };

  // A neighbour on the other CPU only: the proxy never runs there.
  await addNeighbour(1);
  const apart = await phase();
  assert.ok(apart.waitedNs <= 0.02 * apart.ranNs, `${apart.waitedNs} ns from CPU 1`);
  // And one on the proxy's CPU: it waited for all of the proxy's run time (the first
  // request or two, before the kernel knows the proxy's process from its sockets, aside).
  await addNeighbour(0);
  const beside = await phase();
  assert.ok(beside.waitedNs >= 0.9 * beside.ranNs, `waited ${beside.waitedNs} of ${beside.ranNs}`);
  assert.ok(beside.waitedNs <= 1.02 * beside.ranNs, `waited ${beside.waitedNs} of ${beside.ranNs}`);

  for (const n of neighbours) n.kill('SIGKILL');
  probes.removeProxy(proxy.pid!);
  assert.equal(await linksBecome(probes.pid, links), links, 'detached with the last proxy');
  await probes.stop();
  await live.finished();
});
