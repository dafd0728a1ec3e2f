// `tollgate demo --json` end to end at its default load: the real command, the real lab,
// exact request counts, and the headline checked against the demo's own A/B: the
// sidecars' added latency summed along the path against what the load generator sees the
// meshed chain add over the unmeshed one. In ambient mode and in compare, short runs: each
// pod's mode as Tollgate detects it against how the lab built it, the node proxy counted
// once, and the three chains side by side. And in a terminal: a summary every round until
// Ctrl-C, then the lab gone.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { type TestContext, test } from 'node:test';
import type { CompareSummary } from '../../lab/demo-compare-summary.js';
import type { AmbientDemoSummary, PodSummary, SidecarDemoSummary } from '../../lab/demo-summary.js';
import { listNamespaces } from '../../lab/ledger.js';

const REQUESTS = 15 * 100; // the default 15 s at 100 req/s

/** Runs `tollgate demo --port 0 --json ARGS` and returns its summary; asserts exit 0. */
function demoJson(...args: string[]): unknown {
  const repo = new URL('../..', import.meta.url).pathname;
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'cli/tollgate.ts', 'demo', '--port', '0', '--json', ...args],
    { cwd: repo, encoding: 'utf8', timeout: 180_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('the demo measures both chains and lists every meshed pod with its sidecar', (t) => {
  const namespacesBefore = listNamespaces();
  const s = demoJson() as SidecarDemoSummary;
  assert.equal(s.mode, 'sidecar', 'the default mode');
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
    assert.equal(p.node_proxy, null, `${p.name} has no part of a node proxy`);
    if (p.name.startsWith('plain-')) {
      assert.equal(p.sidecar, null, `${p.name} is unmeshed`);
      assert.deepEqual([p.built_as, p.mode], ['plain', 'none'], p.name);
    } else {
      // Tollgate's detection against how the lab built the pod.
      assert.deepEqual([p.built_as, p.mode], ['sidecar', 'sidecar'], p.name);
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

  // The chains take turns. Loaded both at once, as they were until the turns, the
  // sidecars' CPU slowed the unmeshed chain too, and on a slow day of this VM the sum of
  // the means came out 2.65, 3.66 and 3.51 ms against 1.49, 2.09 and 2.53 end to end; in
  // turns, 1.94 and 1.94 against 1.77 and 1.88. The allowance: the 20%, and the
  // end-to-end mean's own margin (95%, from the turns' differences since 2026-12-03; two
  // standard errors from the requests, 0.2-0.4 ms on that day, before) or 0.3 ms,
  // the spread of that truth between runs on a faster day, whichever is larger.
  const { chain } = s;
  t.diagnostic(JSON.stringify(chain));
  assert.equal(chain.crossings, 5);
  const sum = chain.sidecar_sum_ms.mean!;
  const endToEnd = chain.end_to_end_added_ms.mean!;
  const margin = chain.end_to_end_added_ms.mean_margin!;
  assert.ok(sum > 0 && endToEnd > 0 && margin > 0, JSON.stringify(chain));
  assert.ok(
    Math.abs(sum - endToEnd) <= 0.2 * endToEnd + Math.max(margin, 0.3),
    `sidecars sum to ${sum} ms, end to end ${endToEnd} ms ± ${margin}`,
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

const SHORT = 4 * 100; // the short runs' 4 s at 100 req/s

/** Every request went through the chain exactly once, by its apps' own counters. */
function assertChainServed(pods: PodSummary[], prefix: string, requests: number): void {
  const pod = (name: string) => pods.find((p) => p.name === `${prefix}${name}`)!;
  assert.equal(pod('frontend').requests, requests, `${prefix}frontend`);
  assert.equal(pod('catalog-1').requests + pod('catalog-2').requests, requests, `${prefix}catalog`);
  assert.equal(pod('ratings').requests, requests, `${prefix}ratings`);
}

/**
 * An ambient chain's pods as Tollgate sees them: each in mode ambient, no sidecar, the node
 * proxy's added latency through its namespace (inbound, and outbound but for ratings, which
 * calls nothing), and a share of the node proxy by its on-CPU time, which the kernel
 * timed: as it serves these four pods alone, those shares add up to nearly all of it (what
 * it ran serving no pod is no pod's; test/daemonset/node-proxy-cpu holds the split to the
 * scheduler's figures), and its bytes through them to all of them.
 */
function assertAmbientPods(pods: PodSummary[], t: TestContext): void {
  assert.equal(pods.length, 4);
  let shares = 0;
  let bytes = 0;
  for (const p of pods) {
    assert.deepEqual([p.built_as, p.mode], ['ambient', 'ambient'], p.name);
    assert.equal(p.sidecar, null, `${p.name} has no sidecar`);
    assert.ok(
      p.mode_signs.some((s) => s.includes('node proxy')),
      `${p.name}: ${p.mode_signs}`,
    );
    const part = p.node_proxy!;
    assert.equal(part.proxy, 'haproxy');
    const { inbound, outbound } = part.added_latency_ms;
    assert.ok((inbound?.p50 ?? 0) > 0, `${p.name} inbound ${JSON.stringify(inbound)}`);
    // ratings calls nothing: no outbound requests through the node proxy in its pod (a
    // CI run once showed an outbound row of its with none, as the node proxy's hops there
    // can have a record without requests).
    if (p.name.endsWith('ratings'))
      assert.ok(
        outbound === null || (outbound.requests === 0 && outbound.p50 === null),
        `ratings calls nothing: ${JSON.stringify(outbound)}`,
      );
    else assert.ok((outbound?.p50 ?? 0) > 0, `${p.name} outbound ${JSON.stringify(outbound)}`);
    assert.ok((part.share?.share ?? 0) > 0, `${p.name} share ${JSON.stringify(part.share)}`);
    assert.equal(part.share?.method, 'on-cpu', p.name);
    shares += part.share!.share!;
    bytes += part.share!.by_method.bytes!;
  }
  t.diagnostic(`shares of the node proxy summed: ${shares} by on-CPU time, ${bytes} by bytes`);
  assert.ok(shares >= 0.9 && shares <= 1.0005, `on-CPU shares sum to ${shares}`);
  assert.ok(Math.abs(bytes - 1) <= 0.005, `bytes shares sum to ${bytes}`);
}

test('ambient mode: the same chain in the ambient mesh, the node proxy counted once', (t) => {
  const namespacesBefore = listNamespaces();
  const s = demoJson('--mode', 'ambient', '--duration', '4') as AmbientDemoSummary;
  assert.equal(s.mode, 'ambient');
  assert.equal(s.end_to_end_ms.meshed.ok, SHORT);
  assert.equal(s.end_to_end_ms.unmeshed.ok, SHORT);
  assertChainServed(s.pods, '', SHORT);
  assertChainServed(s.pods, 'plain-', SHORT);
  assertAmbientPods(
    s.pods.filter((p) => !p.name.startsWith('plain-')),
    t,
  );
  for (const p of s.pods.filter((x) => x.name.startsWith('plain-'))) {
    assert.deepEqual([p.built_as, p.mode, p.sidecar, p.node_proxy], ['plain', 'none', null, null]);
  }
  assert.equal(s.pods.length, 8, 'the node proxy is not an app pod');
  // The node proxy from /proc, once: it did work for the chain's requests.
  const proxy = s.node_proxy;
  t.diagnostic(JSON.stringify(proxy));
  assert.equal(proxy.pod, 'ztunnel');
  assert.ok(proxy.cpu_ms > 0 && (proxy.cpu_ms_per_1k_requests ?? 0) > 0, JSON.stringify(proxy));
  assert.ok(proxy.rss_mb > 1, JSON.stringify(proxy));
  // The headline against the load generator's own A/B. Too few requests to hold the two
  // close (see the default run's test above); both are measured and both positive here.
  const { chain } = s;
  t.diagnostic(JSON.stringify(chain));
  assert.equal(chain.crossings, 5);
  assert.ok((chain.node_proxy_sum_ms.mean ?? 0) > 0, JSON.stringify(chain));
  assert.ok(chain.end_to_end_added_ms.mean !== null && chain.end_to_end_added_ms.p50 !== null);
  assert.equal(s.waterfall, null);
  assert.equal(s.agent.lost_events, 0);
  assert.deepEqual(listNamespaces(), namespacesBefore, 'the demo tore its lab down');
});

test('compare mode: plain, sidecar and ambient under the same load, side by side', (t) => {
  const namespacesBefore = listNamespaces();
  const s = demoJson('--mode', 'compare', '--duration', '4') as CompareSummary;
  assert.equal(s.mode, 'compare');
  assert.deepEqual(Object.keys(s.modes).sort(), ['ambient', 'plain', 'sidecar']);
  t.diagnostic(
    JSON.stringify(Object.entries(s.modes).map(([m, c]) => [m, { ...c, pods: undefined }])),
  );
  for (const [mesh, c] of Object.entries(s.modes)) {
    assert.equal(c.prefix, `${mesh}-`);
    assert.equal(c.end_to_end_ms.ok, SHORT, mesh);
    assert.equal(c.end_to_end_ms.failed, 0, mesh);
    assertChainServed(c.pods, c.prefix, SHORT);
  }
  const { plain, sidecar, ambient } = s.modes;
  for (const p of plain.pods) assert.deepEqual([p.built_as, p.mode], ['plain', 'none'], p.name);
  assert.equal(plain.mesh, null);
  assert.equal(plain.added_over_plain_ms, null);
  for (const p of sidecar.pods) {
    assert.deepEqual([p.built_as, p.mode], ['sidecar', 'sidecar'], p.name);
    assert.ok((p.sidecar?.added_latency_ms.inbound?.p50 ?? 0) > 0, p.name);
  }
  assertAmbientPods(ambient.pods, t);
  // The mesh's processes, from /proc: four sidecars against one node proxy, each working.
  assert.equal(sidecar.mesh?.processes, 4);
  assert.equal(ambient.mesh?.processes, 1);
  for (const c of [sidecar, ambient]) {
    assert.ok((c.mesh?.cpu_ms_per_1k_requests ?? 0) > 0, JSON.stringify(c.mesh));
    assert.ok((c.mesh?.rss_mb ?? 0) > 1, JSON.stringify(c.mesh));
    assert.equal(c.crossings, 5);
    assert.ok((c.tollgate_sum_ms?.p50 ?? 0) > 0, JSON.stringify(c.tollgate_sum_ms));
    assert.ok((c.tollgate_sum_ms?.mean ?? 0) > 0, JSON.stringify(c.tollgate_sum_ms));
    assert.ok(c.added_over_plain_ms?.mean != null && c.added_over_plain_ms.p50 != null);
  }
  assert.ok((sidecar.mesh?.rss_mb ?? 0) > 4, 'four sidecars, a megabyte at least each');
  assert.equal(s.agent.lost_events, 0);
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
  // Each round is 15 s of load into each chain, the two taking turns: some 40 s.
  const deadline = Date.now() + 200_000;
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
