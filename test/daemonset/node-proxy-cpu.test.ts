// A node proxy's CPU, split among the pods it serves by its on-CPU time while serving
// each pod's sockets (the kernel's charge_on_cpu), against ground truth the split does
// not share: the run time the scheduler gave the node proxy's threads, read from
// /proc/<pid>/task/<tid>/schedstat around each phase of load.
//
// Two chains through one node proxy (the ambient lab's), with opposite costs:
// - A: a new connection per request, so a TLS handshake on the tunnel for each: much CPU,
//   few bytes;
// - B: one keep-alive connection fetching large bodies: many bytes, less CPU per byte.
// Each chain runs alone first (truth: its run time), then both at once (measured by
// Tollgate). Quiet gaps between phases keep each phase in intervals of its own.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { connectionPerRequestScript } from '../../lab/connection-per-request.js';
import { Lab } from '../../lab/lab.js';
import { waitForLine } from '../../lab/spawn.js';
import type { Batch } from '../../proto/gen/tollgate/v1.js';
import { startCollector } from '../collector/fixture.js';
import { startAgent } from './agent-fixture.js';

const INTERVAL_MS = 500;
const QUIET_MS = 2000;
const HANDSHAKES = 300;
const BODIES = 60;
const BODY_BYTES = 1 << 20;

/** The scheduler's run time of every thread of a process, ns. */
function runTimeNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // A thread that ended between the listing and the read: its time is the process's.
    }
  }
  return total;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a node proxy's CPU is split among its pods by on-CPU time, as their loads alone used it", async (t) => {
  const lab = await Lab.create([
    { name: 'client-a', service: 'client-a', meshed: true, mesh: 'ambient', app: false },
    { name: 'server-a', service: 'server-a', meshed: true, mesh: 'ambient' },
    { name: 'client-b', service: 'client-b', meshed: true, mesh: 'ambient', app: false },
    { name: 'server-b', service: 'server-b', meshed: true, mesh: 'ambient', app: false },
  ]);
  t.after(() => lab.destroy());
  const batches: Batch[] = [];
  const collector = await startCollector(t, { onStored: (b) => batches.push(b) });
  const { agent, stop } = await startAgent(t, {
    collector: collector.grpcAddress,
    intervalMs: INTERVAL_MS,
  });
  const worker = lab.nodeProxyProcess()!.workerPid;
  const serverA = lab.pod('server-a');
  const serverB = lab.pod('server-b');

  // B's server: large bodies on a keep-alive connection, at the pod's app port.
  const bodies = lab.exec('server-b', 'bodies', process.execPath, [
    '-e',
    `const body = Buffer.alloc(${BODY_BYTES}, 120);
     require('node:http').createServer((q, s) => s.end(body))
       .listen(${serverB.port}, () => console.log('listening'));`,
  ]);
  await waitForLine(bodies, /^listening/, 'bodies server', 10_000);
  t.after(() => bodies.kill());

  const loadA = async () => {
    const child = lab.exec('client-a', 'handshakes', process.execPath, [
      '-e',
      connectionPerRequestScript({
        url: `http://${serverA.address}:${serverA.port}/`,
        count: HANDSHAKES,
        rate: 150,
        timeoutMs: 5000,
      }),
    ]);
    const result = JSON.parse(await waitForLine(child, /^\{/, 'handshakes', 30_000)) as {
      ok: number;
    };
    assert.equal(result.ok, HANDSHAKES);
  };
  const loadB = async () => {
    const child = lab.exec('client-b', 'bodies', process.execPath, [
      '-e',
      `const http = require('node:http');
       const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
       let bytes = 0, left = ${BODIES};
       const next = () => {
         if (left-- === 0) { console.log(JSON.stringify({ bytes })); agent.destroy(); return; }
         http.get('http://${serverB.address}:${serverB.port}/', { agent }, (res) => {
           res.on('data', (c) => { bytes += c.length; });
           res.on('end', next);
         }).on('error', (e) => { console.log(JSON.stringify({ error: String(e) })); });
       };
       next();
       setTimeout(() => process.exit(1), 30000).unref();`,
    ]);
    const result = JSON.parse(await waitForLine(child, /^\{/, 'bodies', 30_000)) as {
      bytes?: number;
    };
    assert.equal(result.bytes, BODIES * BODY_BYTES);
  };
  const alone = async (load: () => Promise<void>) => {
    const before = runTimeNs(worker);
    await load();
    await sleep(100); // the proxy's last writes and closes
    return runTimeNs(worker) - before;
  };

  await sleep(2 * INTERVAL_MS); // the agent's first samples, before any load
  const truthA = await alone(loadA);
  await sleep(QUIET_MS);
  const truthB = await alone(loadB);
  await sleep(QUIET_MS);
  // The range starts well inside the quiet gap: the collector reads whole buckets of a
  // second, each holding the intervals that started in it, so one that started before
  // the load and carried its first half second must be inside.
  const fromMs = Date.now() - QUIET_MS + 500;
  const before = runTimeNs(worker);
  await Promise.all([loadA(), loadB()]);
  await sleep(100);
  const together = runTimeNs(worker) - before;
  await sleep(QUIET_MS);
  const toMs = Date.now();
  await stop();
  assert.equal(agent.status().shipper.rejected, 0);
  const truthShareA = truthA / (truthA + truthB);
  const report = `run time, ms: A alone ${(truthA / 1e6).toFixed(1)}, B alone ${(truthB / 1e6).toFixed(1)}, both ${(together / 1e6).toFixed(1)}`;
  // The setup makes the two methods disagree: if it did not, the test would prove nothing.
  assert.ok(truthShareA > 0.3 && truthShareA < 0.9, report);

  // The kernel's charges over the phase together, against the threads' run time.
  const during = batches.filter(
    (b) => Number(b.intervalEndUnixMs) > fromMs && Number(b.intervalStartUnixMs) < toMs,
  );
  const charged = during
    .flatMap((b) => b.hops)
    .filter((h) => h.process?.pid === worker)
    .reduce((n, h) => n + Number(h.onCpuNs), 0);
  assert.ok(
    Math.abs(charged - together) <= 0.05 * together,
    `${report}; charged to the pods' hops ${(charged / 1e6).toFixed(1)}`,
  );

  // The collector's split over the same range.
  const { costs } = await collector.queries.view({ fromMs, toMs });
  const cost = (pod: string) => {
    const found = costs.find((c) => c.pod === `pod:netns/${lab.pod(pod).netns}`);
    assert.ok(found, `${pod} among ${costs.map((c) => c.pod)}`);
    return found;
  };
  const chainA = [cost('client-a'), cost('server-a')];
  const chainB = [cost('client-b'), cost('server-b')];
  for (const c of [...chainA, ...chainB]) {
    assert.equal(c.mode, 'ambient');
    assert.equal(c.proxyShare?.method, 'on-cpu');
  }
  const share = (chain: typeof chainA, method: 'onCpu' | 'bytes') =>
    chain.reduce((n, c) => n + (c.proxyShare?.byMethod[method] ?? 0), 0);
  const onCpuA = share(chainA, 'onCpu');
  const onCpuB = share(chainB, 'onCpu');
  const bytesA = share(chainA, 'bytes');
  const shares = `${report}; chain A's share: truth ${truthShareA.toFixed(3)}, on-cpu ${onCpuA.toFixed(3)}, bytes ${bytesA.toFixed(3)}; chain B's on-cpu ${onCpuB.toFixed(3)}`;
  t.diagnostic(shares);
  // Each pod's share is its part of all the proxy did: A's against its part when alone.
  assert.ok(Math.abs(onCpuA / (onCpuA + onCpuB) - truthShareA) <= 0.1, shares);
  // Bytes put nearly all of it on B, whose bodies are most of the bytes.
  assert.ok(bytesA < 0.1, shares);
  // What the pods are charged adds up to what the proxy ran, within 5%.
  const seconds = (toMs - fromMs) / 1000;
  const apportionedNs = [...chainA, ...chainB].reduce(
    (n, c) => n + (c.sidecar?.millicores ?? 0) * seconds * 1e6,
    0,
  );
  assert.ok(
    Math.abs(apportionedNs - together) <= 0.05 * together,
    `${shares}; apportioned ${(apportionedNs / 1e6).toFixed(1)} ms`,
  );
});
