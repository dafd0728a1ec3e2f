// Nothing lost to short-lived processes, on the real kernel: 300 curl processes in a client
// pod, each living some 20-300 ms and making 5-50 requests on one connection, and a
// health-check-like client (a new curl every 200 ms, one request), through the server
// pod's sidecar behind REDIRECT. Each process is gone long before the agent closes the
// interval it ran in. Every one must be named (the right pod, comm curl), its edge joined
// to the sidecar, and its connection and requests counted exactly at both ends; with the
// pods on a bridge, and on a plain veth pair.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lab } from '../../lab/lab.js';
import { waitForLine } from '../../lab/spawn.js';
import { startCollector } from '../collector/fixture.js';
import { exited } from '../probes/fixture.js';
import { startAgent } from './agent-fixture.js';

const BURST = 300;
const CHECKS = 10;

/**
 * Runs curl processes in its pod: BURST of them, 6 at a time, the i-th making 5 + (7i mod 46)
 * requests on one connection, then CHECKS more, one every 200 ms, one request each. Prints
 * each one's pid, requests and exit code.
 */
const driver = (url: string) => `const { spawn } = require('node:child_process');
  const runs = [];
  const one = (requests) => new Promise((resolve) => {
    const child = spawn('curl', ['-s', '-f', ...Array(requests).fill('${url}')], { stdio: 'ignore' });
    child.on('exit', (code) => { runs.push({ pid: child.pid, requests, code }); resolve(); });
  });
  (async () => {
    let next = 0;
    await Promise.all(Array.from({ length: 6 }, async () => {
      while (next < ${BURST}) { const i = next++; await one(5 + ((7 * i) % 46)); }
    }));
    for (let k = 0; k < ${CHECKS}; k++) {
      await one(1);
      await new Promise((r) => setTimeout(r, 200));
    }
    console.log(JSON.stringify(runs));
  })();`;

for (const wiring of ['bridge', 'veth-pair'] as const)
  test(`300 short-lived clients and a health check through a REDIRECT sidecar, pods on a ${wiring}: each named, joined and counted exactly`, async (t) => {
    const lab = await Lab.create(
      [
        { name: 'client', service: 'client', meshed: false, app: false },
        { name: 'server', service: 'server', meshed: true },
      ],
      { wiring },
    );
    t.after(() => lab.destroy());
    const collector = await startCollector(t);
    // Before the agent starts: its first interval begins then, and must be in the range.
    const fromMs = Date.now() - 1000;
    const { agent, stop } = await startAgent(t, {
      collector: collector.grpcAddress,
      intervalMs: 500,
    });
    const run = lab.exec('client', 'curl driver', process.execPath, [
      '-e',
      driver(lab.serviceUrls('server')[0]!),
    ]);
    const runs = JSON.parse(await waitForLine(run, /^\[/, 'curl driver', 120_000)) as {
      pid: number;
      requests: number;
      code: number;
    }[];
    await exited(run);
    assert.equal(runs.length, BURST + CHECKS);
    assert.deepEqual(
      runs.filter((r) => r.code !== 0),
      [],
      'every curl succeeded',
    );
    await new Promise((r) => setTimeout(r, 1200)); // the last intervals shipped
    await stop();
    const status = agent.status();
    t.diagnostic(`process events: ${JSON.stringify(status.processEvents)}`);
    assert.equal(status.lost.unresolvedProcesses, 0, 'every process named');
    assert.equal(status.shipper.spoolBatches, 0, 'every batch acknowledged');

    const { topology } = await collector.queries.view({ fromMs, toMs: Date.now() + 1000 });
    const byPid = new Map(topology.processes.map((p) => [p.pid, p]));
    const sidecar = topology.processes.find(
      (p) => p.pod === `pod:netns/tg${lab.id}-server` && p.role === 'sidecar',
    );
    assert.ok(sidecar, 'the server pod sidecar');
    const wrong: string[] = [];
    for (const r of runs) {
      const p = byPid.get(r.pid);
      if (!p) {
        wrong.push(`${r.pid}: not in the topology`);
        continue;
      }
      if (p.comm !== 'curl' || p.pod !== `pod:netns/tg${lab.id}-client`)
        wrong.push(`${r.pid}: ${p.comm} in ${p.pod}`);
      const edges = topology.edges.filter((e) => e.source === p.id);
      const e = edges[0];
      if (edges.length !== 1 || e?.target !== sidecar.id || e.joined === 'none')
        wrong.push(`${r.pid}: edges ${edges.map((x) => `${x.target} (${x.joined})`).join(', ')}`);
      else if (e.client?.connects !== 1 || e.client.exchanges !== r.requests)
        wrong.push(
          `${r.pid}: ${e.client?.connects} connects, ${e.client?.exchanges} of ${r.requests} requests`,
        );
    }
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} of ${runs.length} processes wrong`);
    // The sidecar's end: one for the client pod's address, every client's connection in it.
    const inbound = topology.edges.find((e) => e.target === sidecar.id)?.server;
    assert.equal(inbound?.accepts, runs.length);
    assert.equal(
      inbound?.exchanges,
      runs.reduce((n, r) => n + r.requests, 0),
    );
    assert.equal(inbound?.shared, true, 'shared by the client processes, and said so');
  });
