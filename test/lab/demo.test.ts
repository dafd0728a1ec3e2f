// `tollgate demo --json` end to end at its default load: the real command, the real lab,
// exact request counts, and the headline checked against the demo's own A/B: the
// sidecars' added latency summed along the path against what the load generator sees the
// meshed chain add over the unmeshed one. And in a terminal: a summary every round until
// Ctrl-C, then the lab gone.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import type { DemoSummary } from '../../lab/demo-summary.js';
import { listNamespaces } from '../../lab/ledger.js';

const REQUESTS = 15 * 100; // the default 15 s at 100 req/s

test('the demo measures both chains and lists every meshed pod with its sidecar', (t) => {
  const namespacesBefore = listNamespaces();
  const repo = new URL('../..', import.meta.url).pathname;
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'cli/tollgate.ts', 'demo', '--port', '0', '--json'],
    { cwd: repo, encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout) as DemoSummary;
  assert.equal(s.end_to_end_ms.meshed.ok, REQUESTS);
  assert.equal(s.end_to_end_ms.unmeshed.ok, REQUESTS);
  const pod = (name: string) => s.pods.find((p) => p.name === name)!;
  // The apps' own counters: every request went through the whole chain exactly once.
  for (const prefix of ['', 'plain-']) {
    assert.equal(pod(`${prefix}frontend`).requests, REQUESTS);
    assert.equal(pod(`${prefix}catalog-1`).requests + pod(`${prefix}catalog-2`).requests, REQUESTS);
    assert.equal(pod(`${prefix}ratings`).requests, REQUESTS);
  }
  for (const p of s.pods) {
    if (p.name.startsWith('plain-')) {
      assert.equal(p.sidecar, null, `${p.name} is unmeshed`);
    } else {
      assert.equal(p.sidecar?.proxy, 'haproxy', `${p.name} has a sidecar`);
      assert.ok(p.sidecar.rss_mb > 1, `${p.name} sidecar RSS ${p.sidecar.rss_mb} MB`);
      // Measured in the kernel: every meshed pod's sidecar adds latency inbound, and
      // those that call onwards (all but ratings) outbound too.
      const { inbound, outbound } = p.sidecar.added_latency_ms;
      assert.ok((inbound?.p50 ?? 0) > 0, `${p.name} inbound ${JSON.stringify(inbound)}`);
      assert.ok((inbound?.requests ?? 0) >= 50, `${p.name} inbound requests`);
      if (p.name === 'ratings') assert.equal(outbound, null, 'ratings calls nothing');
      else assert.ok((outbound?.p50 ?? 0) > 0, `${p.name} outbound ${JSON.stringify(outbound)}`);
    }
    assert.ok(p.app.rss_mb > 10, `${p.name} app RSS`);
  }
  assert.equal(s.pods.length, 8);

  // Runs of this size gave a summed mean of 1.06, 1.10 and 1.05 ms against 1.02, 1.02
  // and 0.99 ms end to end; a test of 150 requests was too noisy to tell (0.45-1.39 ms).
  // Later, on this VM: the sum 0.85-0.99 ms in six runs, steady, while the end-to-end
  // difference of one run (both chains loaded at once, their means subtracted) moved
  // from 0.66 to 0.87 ms, and in CI drew 0.71 against a sum of 0.99. That spread of the
  // truth itself (about +-0.1 ms) is in the allowance: 20% and 0.3 ms.
  const { chain } = s;
  t.diagnostic(JSON.stringify(chain));
  assert.equal(chain.crossings, 5);
  const sum = chain.sidecar_sum_ms.mean!;
  const endToEnd = chain.end_to_end_added_ms.mean!;
  assert.ok(sum > 0 && endToEnd > 0, JSON.stringify(chain));
  assert.ok(
    Math.abs(sum - endToEnd) <= 0.2 * endToEnd + 0.3,
    `sidecars sum to ${sum} ms, end to end ${endToEnd} ms`,
  );
  // Where a request's time goes (the viewer's waterfall, by means): its parts against
  // the call's mean at the load generator's socket, which they must account for (what
  // no part holds was 0.00 and 0.01 ms of 6.0 in runs on this VM: near an identity when
  // the hops pair right, so a remainder means pairing went wrong), and that mean against
  // the load generator's own timing, the independent figure, which also holds its
  // client's time outside the socket (6.0-6.1 against 6.9 ms in those runs).
  const w = s.waterfall;
  t.diagnostic(JSON.stringify(w));
  assert.deepEqual(w?.path, ['loadgen', 'frontend', 'catalog-1', 'ratings']);
  assert.equal(w.parts.length, 11, 'a network, sidecar in, app, sidecar out part per pod');
  assert.ok(Math.abs(w.in_no_part_ms) <= 0.15 * w.total_ms + 0.1, `in no part: ${w.in_no_part_ms}`);
  const lg = w.load_generator_mean_ms!;
  assert.ok(w.total_ms >= 0.7 * lg && w.total_ms <= 1.02 * lg, `${w.total_ms} vs ${lg} ms`);
  assert.equal(s.agent.lost_events, 0);
  assert.ok((s.agent.millicores ?? 0) > 0 && (s.agent.rss_mb ?? 0) > 10, JSON.stringify(s.agent));
  assert.match(s.web_url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.deepEqual(listNamespaces(), namespacesBefore, 'the demo tore its lab down');
});

test('in a terminal the demo keeps running, a summary every round, until Ctrl-C', async () => {
  const namespacesBefore = listNamespaces();
  const dataDirs = () => readdirSync(tmpdir()).filter((f) => f.startsWith('tollgate-demo-'));
  const dataDirsBefore = dataDirs();
  const repo = new URL('../..', import.meta.url).pathname;
  // script(1) gives the demo a terminal; ^C written to it is the terminal's interrupt,
  // delivered by the kernel's line discipline as a person's Ctrl-C is. `exec`: script
  // runs its command with $SHELL -c, and dash (the shell when SHELL is unset, as in CI)
  // takes the interrupt itself and exits 130 while the demo still tears down; the exit
  // code and the teardown asserted below are then the demo's own.
  const demo = spawn(
    'script',
    [
      '-qfec',
      `exec ${process.execPath} --import tsx cli/tollgate.ts demo --port 0 --rate 50`,
      '/dev/null',
    ],
    { cwd: repo, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  demo.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => demo.on('exit', (code) => resolve(code)));
  const summaries = () => out.match(/^Tollgate demo, lab /gm)?.length ?? 0;
  const deadline = Date.now() + 120_000;
  while (summaries() < 2 && Date.now() < deadline && demo.exitCode === null)
    await new Promise((r) => setTimeout(r, 250));
  assert.equal(summaries(), 2, `two summaries, the demo still running:\n${out}`);
  assert.equal(demo.exitCode, null, 'still running after two rounds');
  assert.match(out, /Ctrl-C to stop/);
  // Each round its own 15 s at 50 req/s: 750 requests through each chain.
  assert.equal(out.match(/mesh on {2}\(750 ok, 0 failed\)/g)?.length, 2, out);
  demo.stdin.write('\x03');
  const timer = setTimeout(() => demo.kill('SIGKILL'), 30_000);
  const code = await exited;
  clearTimeout(timer);
  assert.equal(code, 0, `exit ${code}: ${out.slice(-600)}`);
  assert.deepEqual(listNamespaces(), namespacesBefore, 'the demo tore its lab down');
  // Tollgate stopped in order too: its store's directory removed.
  assert.deepEqual(dataDirs(), dataDirsBefore, "the demo's data directory removed");
});
