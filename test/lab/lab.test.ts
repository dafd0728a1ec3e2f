// The lab on the real kernel: pods in network namespaces, haproxy sidecars capturing
// traffic with iptables REDIRECT, and nothing left behind afterwards.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { frontend } from '../../lab/haproxy-stats.js';
import { Lab } from '../../lab/lab.js';
import { listNamespaces } from '../../lab/ledger.js';
import { isRunning, type ProcessId, startTimeOf } from '../../lab/processes.js';

const labNamespaces = (id: string) => listNamespaces().filter((n) => n.startsWith(`tg${id}-`));
const rootRules = () => execFileSync('iptables-save', { encoding: 'utf8' }).replace(/^#.*\n/gm, '');

test('traffic crosses both sidecars of a meshed call chain, and the lab leaves nothing behind', async (t) => {
  const rulesBefore = rootRules();
  const lab = await Lab.create([
    { name: 'loadgen', service: 'loadgen', meshed: false, app: false },
    { name: 'frontend', service: 'frontend', meshed: true, calls: ['backend'] },
    { name: 'backend', service: 'backend', meshed: true, serviceTimeMs: 2 },
    { name: 'plain', service: 'plain', meshed: false },
  ]);
  t.after(() => lab.destroy());
  assert.equal(labNamespaces(lab.id).length, 5, 'node + 4 pods');

  const result = await lab.load('loadgen', {
    url: lab.serviceUrls('frontend')[0]!,
    rate: 100,
    durationS: 2,
    connections: 4,
    timeoutMs: 5000,
  });
  assert.equal(result.sent, 200);
  assert.equal(
    result.ok,
    200,
    JSON.stringify({ errors: result.errors, timeouts: result.timeouts }),
  );
  assert.ok(result.p50Ms! >= 2, `p50 ${result.p50Ms} ms includes the 2 ms service time`);

  // Ground truth from the apps themselves: every request reached both, exactly once.
  assert.equal((await lab.appStats('frontend')).requests, 200);
  assert.equal((await lab.appStats('backend')).requests, 200);
  assert.equal((await lab.appStats('plain')).requests, 0);

  // haproxy's own counters. In TCP mode it adds bytes when a session closes: the load
  // generator's sessions are closed now, the apps' keep-alive ones are not.
  const frontStats = await lab.sidecarStats('frontend');
  const backStats = await lab.sidecarStats('backend');
  const inbound = frontend(frontStats, 'inbound')!;
  assert.ok(inbound.sessionsTotal >= 1 && inbound.sessionsTotal <= 4, 'the 4 load connections');
  assert.ok(
    inbound.bytesIn >= 200 * 40,
    `all 200 requests came in through the sidecar (${inbound.bytesIn} B)`,
  );
  const outbound = frontend(frontStats, 'outbound')!.sessionsTotal;
  assert.ok(outbound >= 1, 'frontend -> backend was redirected into the sidecar');
  assert.equal(
    frontend(backStats, 'inbound')!.sessionsTotal,
    outbound,
    'each arrived at the backend sidecar',
  );
  assert.equal(frontend(backStats, 'outbound')!.sessionsTotal, 0, 'backend calls nobody');

  // An unmeshed pod has no capture rules; a meshed one has exactly the two REDIRECTs.
  const nat = (pod: string) =>
    execFileSync('ip', ['netns', 'exec', lab.pod(pod).netns, 'iptables', '-t', 'nat', '-S'], {
      encoding: 'utf8',
    });
  assert.equal((nat('plain').match(/REDIRECT/g) ?? []).length, 0);
  assert.equal((nat('frontend').match(/REDIRECT/g) ?? []).length, 2);

  const pids = [...lab.pods.values()]
    .flatMap((p) => [p.appPid, p.sidecarPid])
    .filter((p) => p !== undefined);
  const processes = pids.map((pid) => ({ pid, startTime: startTimeOf(pid)! }));
  assert.equal(processes.length, 5, '3 apps and 2 sidecars, all live');
  assert.deepEqual(lab.destroy(), []);
  assert.deepEqual(labNamespaces(lab.id), []);
  for (const p of processes) assert.equal(isRunning(p), false, `pid ${p.pid} stopped`);
  assert.equal(existsSync(`/run/tollgate-lab/${lab.id}.json`), false);
  assert.equal(existsSync(`/run/tollgate-lab/${lab.id}`), false);
  assert.equal(rootRules(), rulesBefore, "the host's own iptables rules are untouched");
});

test('a lab killed with SIGKILL is cleaned up by the next one', async (t) => {
  const script = `
    import { Lab } from './lab/lab.ts';
    const lab = await Lab.create([{ name: 'victim', service: 'victim', meshed: true }]);
    const pod = lab.pod('victim');
    console.log(JSON.stringify({ id: lab.id, pids: [pod.appPid, pod.sidecarPid] }));
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => resolve(d.toString()));
    child.on('exit', (code) => reject(new Error(`lab child exited ${code}`)));
  });
  const crashed = JSON.parse(line) as { id: string; pids: number[] };
  const orphans: ProcessId[] = crashed.pids.map((pid) => ({ pid, startTime: startTimeOf(pid)! }));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.equal(labNamespaces(crashed.id).length, 2, 'the dead lab left its namespaces');
  assert.ok(orphans.every(isRunning), 'and its processes');

  const next = await Lab.create([{ name: 'solo', service: 'solo', meshed: false, app: false }]);
  t.after(() => next.destroy());
  assert.deepEqual(labNamespaces(crashed.id), []);
  for (const p of orphans) assert.equal(isRunning(p), false, `orphan ${p.pid} stopped`);
  assert.ok(!readdirSync('/run/tollgate-lab').includes(`${crashed.id}.json`));
  next.destroy();
});
