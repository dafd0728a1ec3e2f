// The demo's summaries, pure, on synthesised measurements with hand-worked figures: the
// check of the headline against its own A/B (the proxies' added latency summed along the
// path, replicas weighted by the requests each took, against the load generator's
// end-to-end difference), an ambient chain's node proxy counted once beside Tollgate's
// per-pod shares of it, the three-way comparison, and the text of each.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LoadResult } from '../../daemonset/load/load.js';
import { meshPath } from '../../lab/bookinfo.js';
import { type ChainRun, compareSummary, renderCompare } from '../../lab/demo-compare-summary.js';
import {
  handoffNote,
  type PodMeasurement,
  renderText,
  summarize,
  type Usage,
} from '../../lab/demo-summary.js';
import type { DirectionCost, MeshMode, PodCost, ProcessCost } from '../../proto/api.js';
import { onTimeLoad } from './load-fixture.js';

const direction = (
  requests: number,
  p50Ms: number,
  meanMs: number,
  neighbourWaitMsPerRequest: number | null = null,
): DirectionCost => {
  const stats = { count: requests, p50Ms, p90Ms: p50Ms, p99Ms: p50Ms, meanMs };
  return {
    requests,
    unpaired: 0,
    exchanges: requests,
    coverage: 1,
    method: 'arrival-to-forward, joint',
    unmatchedForwards: 0,
    arrivalUnknown: 0,
    handoffs: 0,
    handoffTiming: null,
    handoffsByEnds: { wakeUps: 0, reads: 0, notSaid: 0 },
    replyHandoffs: 0,
    neighbourWaitMsPerRequest,
    addedLatency: stats,
    requestHop: stats,
    responseHop: stats,
    overheadShare: null,
    downstreamLatency: stats,
  };
};

const processCost = (cpuMsPer1kRequests: number, rssMb: number): ProcessCost => ({
  cpuMsPer1kRequests,
  millicores: 0,
  rssMb,
  rssMbMax: rssMb,
});

/** A pod's cost as the API gives it; an ambient pod's `sidecar` is its node proxy share. */
const podCost = (
  name: string,
  mode: MeshMode,
  fields: Partial<Pick<PodCost, 'inbound' | 'outbound' | 'sidecar' | 'proxyShare' | 'requests'>>,
): PodCost => ({
  pod: `pod:netns/${name}`,
  namespace: 'netns',
  name,
  mode,
  modeSigns: mode === 'ambient' ? ["node proxy haproxy holds sockets in the pod's namespace"] : [],
  proxy: mode === 'none' ? null : 'haproxy',
  proxyShare: null,
  waypoint: null,
  sidecarUnmeasured: null,
  requests: 0,
  requestsPerS: 0,
  inbound: null,
  outbound: null,
  sidecar: null,
  app: null,
  ...fields,
});

const usage = (cpuMs: number, rssMb: number) => ({
  cpuUserNs: cpuMs * 1e6,
  cpuSystemNs: 0,
  rssBytes: rssMb * 2 ** 20,
});
/** CPU ms `from` -> `to` over the run, RSS `rssMb` at its end. */
const used = (from: number, to: number, rssMb: number): Usage => ({
  before: usage(from, rssMb),
  after: usage(to, rssMb),
});

const pod = (
  name: string,
  inbound: DirectionCost | null,
  outbound: DirectionCost | null,
): PodMeasurement => ({
  name,
  builtAs: 'sidecar',
  requests: 1,
  app: used(0, 0, 0),
  profile: podCost(name, 'sidecar', { inbound, outbound }),
});

const PATH = [
  { replicas: ['front'], direction: 'outbound' },
  { replicas: ['back-1', 'back-2'], direction: 'inbound' },
] as const;

const noAgent = { millicores: null, rssMb: null, lostEvents: 0 };

/**
 * A load as the generator gives it: its own figures counted from due times, `lagMs` later
 * than from the issue, and the issue's figures beside them.
 */
/**
 * A load whose requests were issued after their due times: by 0 and 2 x lagMs in turn, so
 * that counted from the due time the latencies have another mean and another spread.
 */
const lagging = (latenciesMs: number[], lagMs: number): LoadResult => {
  return {
    ...onTimeLoad(latenciesMs.map((ms, i) => ms + (i % 2) * 2 * lagMs)),
    fromIssue: onTimeLoad(latenciesMs).fromIssue,
    issueLagMeanMs: lagMs,
  };
};

test("end to end is the generator's figures from each request's issue, not its timer's lag", () => {
  const s = summarize({
    lab: 'lab',
    mesh: 'sidecar',
    // From due times the meshed chain adds 1.4 ms, 0.4 ms of it the timer's lag moving.
    meshed: lagging(
      Array.from({ length: 100 }, (_, i) => 3 + i / 100),
      0.9,
    ),
    // Its generator began its turns 300.4 ms after the time set.
    unmeshed: {
      ...lagging(
        Array.from({ length: 100 }, (_, i) => 2 + i / 100),
        0.5,
      ),
      startLateMs: 300.4,
    },
    pods: [
      pod('front', null, direction(100, 0.5, 0.5)),
      pod('back-1', direction(100, 0.5, 0.5), null),
    ],
    agent: noAgent,
    webUrl: 'http://127.0.0.1:1',
    path: [
      { replicas: ['front'], direction: 'outbound' },
      { replicas: ['back-1'], direction: 'inbound' },
    ],
    entry: 'front',
  });
  // The mean's margin from the issue's figures too: two standard errors of 100 values
  // 0.01 ms apart on each side, 2 * sqrt(2 * 0.2901^2 / 100) (from the due times, where
  // the lags alternate, it would be 0.2 or more).
  assert.deepEqual(s.chain.end_to_end_added_ms, {
    p50: 1,
    mean: 1,
    mean_margin: 0.082,
    mean_margin_from: 'requests',
  });
  assert.deepEqual(s.chain.unexplained_ms, { p50: 0, mean: 0 });
  // The screen's quantiles of each chain too: 3.49 and 2.49 ms at p50, not the due times'.
  assert.equal(s.end_to_end_ms.meshed.p50, 3.49);
  // How late each chain's load began, so that a run whose turns overlapped shows in --json.
  assert.equal(s.end_to_end_ms.meshed.started_late_ms, null);
  assert.equal(s.end_to_end_ms.unmeshed.started_late_ms, 300);
  assert.equal(s.end_to_end_ms.added.p50, 1);
});

test('the sidecars along the path sum, replicas weighted by their requests', () => {
  const pods = [
    pod('front', null, direction(400, 0.5, 0.6, 0.05)),
    // 100 requests at 0.2 ms and 300 at 0.6 ms: 0.5 ms for the crossing on average.
    // Their neighbours waited 0.04 and 0.08 ms a request: 0.07 on average.
    pod('back-1', direction(100, 0.2, 0.2, 0.04), null),
    pod('back-2', direction(300, 0.6, 0.6, 0.08), null),
  ];
  const s = summarize({
    lab: 'lab',
    mesh: 'sidecar',
    meshed: onTimeLoad(Array.from({ length: 100 }, (_, i) => 3 + i / 100)),
    unmeshed: onTimeLoad(Array.from({ length: 100 }, (_, i) => 2 + i / 100)),
    pods,
    agent: noAgent,
    webUrl: 'http://127.0.0.1:1',
    path: PATH,
    entry: 'front',
  });
  assert.ok(s.mode === 'sidecar');
  assert.equal(s.chain.crossings, 2);
  assert.deepEqual(s.chain.sidecar_sum_ms, { p50: 1, mean: 1.1 });
  assert.equal(s.chain.neighbour_wait_ms, 0.12, "the neighbours' wait summed the same way");
  assert.equal(s.chain.end_to_end_added_ms.p50, 1);
  // Both loads' means are exact (the histogram's sum is of the raw values): 3.495 - 2.495.
  assert.equal(s.chain.end_to_end_added_ms.mean, 1);
  assert.equal(s.chain.unexplained_ms.p50, 0);
  assert.deepEqual(
    s.pods.map((p) => [p.name, p.built_as, p.mode]),
    [
      ['front', 'sidecar', 'sidecar'],
      ['back-1', 'sidecar', 'sidecar'],
      ['back-2', 'sidecar', 'sidecar'],
    ],
  );
});

/** What a sidecar chain's summary says the mesh adds end to end, from its two loads alone. */
const endToEnd = (meshed: LoadResult, unmeshed: LoadResult) =>
  summarize({
    lab: 'lab',
    mesh: 'sidecar',
    meshed,
    unmeshed,
    pods: [],
    agent: noAgent,
    webUrl: 'http://127.0.0.1:1',
    path: [],
    entry: 'front',
  }).chain.end_to_end_added_ms;

test("without turns, the end-to-end mean's margin: two standard errors of the means' difference", () => {
  const input = (meshed: number[], unmeshed: number[]) =>
    endToEnd(onTimeLoad(meshed), onTimeLoad(unmeshed));
  // 1 and 3 ms (variance 2, over 2 requests) against four of 1 ms (none): 2 * sqrt(1).
  assert.deepEqual(input([1, 3], [1, 1, 1, 1]), {
    p50: 0,
    mean: 1,
    mean_margin: 2,
    mean_margin_from: 'requests',
  });
  // One request on a side gives no spread to draw a margin from.
  assert.equal(input([2], [1, 1]).mean_margin, null);
  assert.equal(input([2], [1, 1]).mean_margin_from, null);
  // The margin is printed beside the mean it belongs to.
  const text = renderText(
    summarize({
      lab: 'lab',
      mesh: 'sidecar',
      meshed: onTimeLoad([1, 3]),
      unmeshed: onTimeLoad([1, 1, 1, 1]),
      pods: [],
      agent: noAgent,
      webUrl: 'http://127.0.0.1:1',
      path: [],
      entry: 'front',
    }),
  );
  assert.match(text, /end to end, mesh on - off +0\.00 ms +1\.00 ms ± 2\.00/);
});

test("in turns, the mean's margin comes from the turns' paired differences", () => {
  // Two requests a turn, four turns. Within a turn every request of a chain is alike, so
  // the requests' own spread is small beside what moves from turn to turn: the machine's
  // moments, which both chains share turn by turn, and the mesh's 1 ms, 2 ms, 1 ms, 2 ms.
  const inTurns = (perTurnMs: readonly number[]): LoadResult => {
    const load = onTimeLoad(perTurnMs.flatMap((ms) => [ms, ms]));
    const summary = { ...load.fromIssue!, turnMeansMs: [...perTurnMs] };
    return { ...load, ...summary, fromIssue: summary };
  };
  const unmeshed = inTurns([1, 4, 2, 5]);
  const added = endToEnd(inTurns([2, 6, 3, 7]), unmeshed);
  // Differences 1, 2, 1, 2: mean 1.5, standard deviation sqrt(1/3), t(3) = 3.182, so
  // 3.182 * sqrt(1/3) / 2 = 0.919. From the requests as independent it would be
  // 2 * sqrt((4.857 + 2.857) / 8) = 1.964, the turns' shared moments taken for noise.
  assert.deepEqual(added, { p50: 1, mean: 1.5, mean_margin: 0.919, mean_margin_from: 'turns' });
  // Turns that do not pair (another count) fall back to the requests.
  assert.equal(endToEnd(inTurns([2, 6, 3]), unmeshed).mean_margin_from, 'requests');
});

test('a crossing with no figure leaves the sum unknown, not short', () => {
  const s = summarize({
    lab: 'lab',
    mesh: 'sidecar',
    meshed: onTimeLoad([3]),
    unmeshed: onTimeLoad([2]),
    pods: [pod('front', null, direction(10, 0.5, 0.6))],
    agent: noAgent,
    webUrl: 'http://127.0.0.1:1',
    path: PATH,
    entry: 'front',
  });
  assert.ok(s.mode === 'sidecar');
  assert.deepEqual(s.chain.sidecar_sum_ms, { p50: null, mean: null });
  assert.deepEqual(s.chain.unexplained_ms, { p50: null, mean: null });
});

/** An ambient chain of two pods as Tollgate sees it: a third and two thirds of the bytes. */
function ambientPods(): PodMeasurement[] {
  const share = (bytes: number) => ({
    processes: ['p:lab:7:7'],
    method: 'bytes' as const,
    share: bytes,
    byMethod: { onCpu: null, bytes },
  });
  return [
    {
      name: 'front',
      builtAs: 'ambient',
      requests: 1500,
      app: used(0, 600, 40),
      // Tollgate: 40 ms per 1,000 of its 3,000 requests (served and made): 120 ms.
      profile: podCost('front', 'ambient', {
        requests: 3000,
        inbound: direction(1500, 0.2, 0.25),
        outbound: direction(1500, 0.3, 0.35),
        sidecar: processCost(40, 4),
        proxyShare: share(0.667),
      }),
    },
    {
      name: 'back',
      builtAs: 'ambient',
      requests: 1500,
      app: used(0, 300, 40),
      // 100 ms per 1,000 of its 1,500: 150 ms.
      profile: podCost('back', 'ambient', {
        requests: 1500,
        inbound: direction(1500, 0.4, 0.5),
        sidecar: processCost(100, 2),
        proxyShare: share(0.333),
      }),
    },
    {
      name: 'plain-front',
      builtAs: 'plain',
      requests: 1500,
      app: used(0, 500, 40),
      profile: podCost('plain-front', 'none', {}),
    },
  ];
}

const AMBIENT_PATH = [
  { replicas: ['front'], direction: 'inbound' },
  { replicas: ['front'], direction: 'outbound' },
  { replicas: ['back'], direction: 'inbound' },
] as const;

test('ambient: the node proxy counted once from /proc, beside the pods its shares went to', () => {
  const s = summarize({
    lab: 'lab',
    mesh: 'ambient',
    meshed: onTimeLoad([3, 3.2]),
    unmeshed: onTimeLoad([2, 2.2]),
    pods: ambientPods(),
    agent: noAgent,
    webUrl: 'http://127.0.0.1:1',
    path: AMBIENT_PATH,
    entry: 'front',
    // 300 ms of CPU over the run for the 1,500 requests into the chain: 200 per 1,000.
    nodeProxy: { pod: 'ztunnel', pid: 42, usage: used(100, 400, 12) },
  });
  assert.ok(s.mode === 'ambient');
  assert.deepEqual(s.node_proxy, {
    pod: 'ztunnel',
    pid: 42,
    cpu_ms: 300,
    cpu_ms_per_1k_requests: 200,
    rss_mb: 12,
    tollgate_shares_cpu_ms: 270,
  });
  assert.deepEqual(s.chain.node_proxy_sum_ms, { p50: 0.9, mean: 1.1 });
  assert.equal('sidecar_sum_ms' in s.chain, false, 'no sidecar crossed');
  assert.deepEqual(s.chain.end_to_end_added_ms, {
    p50: 1,
    mean: 1,
    mean_margin: 0.283,
    mean_margin_from: 'requests',
  });
  assert.deepEqual(s.chain.unexplained_ms, { p50: 0.1, mean: -0.1 });
  assert.equal(s.waterfall, null);
  const front = s.pods[0]!;
  assert.equal(front.sidecar, null, 'no sidecar in an ambient pod');
  assert.deepEqual(front.node_proxy, {
    proxy: 'haproxy',
    share: { method: 'bytes', share: 0.667, by_method: { on_cpu: null, bytes: 0.667 } },
    cpu_ms_per_1k_requests: 40,
    rss_mb: 4,
    added_latency_ms: {
      inbound: {
        p50: 0.2,
        p90: 0.2,
        p99: 0.2,
        mean: 0.25,
        requests: 1500,
        coverage: 1,
        overhead_share: null,
      },
      outbound: {
        p50: 0.3,
        p90: 0.3,
        p99: 0.3,
        mean: 0.35,
        requests: 1500,
        coverage: 1,
        overhead_share: null,
      },
    },
  });
  assert.deepEqual([front.built_as, front.mode], ['ambient', 'ambient']);
  assert.equal(s.pods[2]!.node_proxy, null);
  assert.deepEqual([s.pods[2]!.built_as, s.pods[2]!.mode], ['plain', 'none']);

  const text = renderText(s);
  assert.match(text, /^Tollgate demo \(ambient\), lab lab:/);
  assert.match(text, /Along the meshed path \(3 node proxy crossings\)/);
  assert.match(text, /node proxy's added latency, summed\s+0\.90 ms\s+1\.10 ms/);
  assert.match(
    text,
    /200\.00 ms CPU per 1,000 requests into the chain, 12\.00 MB RSS; over the run 300\.00 ms CPU, of which Tollgate put 270\.00 ms/,
  );
  // Per pod: its detected mode, its part of the node proxy (Tollgate's) and its share.
  assert.match(
    text,
    /\n {2}front\s+ambient\s+1500\s+40\.00 ms\s+4\.00 MB\s+67%\s+0\.20 \/ 0\.20 ms/,
  );
  assert.match(text, /\n {2}plain-front\s+none\s+1500\s+—\s+—\s+—\s+—\s+—/);
});

test("ambient: Tollgate's shares are left unknown when a pod lacks its figure", () => {
  const pods = ambientPods();
  pods[1] = { ...pods[1]!, profile: undefined };
  const s = summarize({
    lab: 'lab',
    mesh: 'ambient',
    meshed: onTimeLoad([3]),
    unmeshed: onTimeLoad([2]),
    pods,
    agent: noAgent,
    webUrl: 'http://127.0.0.1:1',
    path: AMBIENT_PATH,
    entry: 'front',
    nodeProxy: { pod: 'ztunnel', pid: 42, usage: used(100, 400, 12) },
  });
  assert.ok(s.mode === 'ambient');
  assert.equal(s.node_proxy.tollgate_shares_cpu_ms, null);
  assert.equal(s.pods[1]!.mode, null, 'Tollgate did not see it');
  assert.deepEqual(s.chain.node_proxy_sum_ms, { p50: null, mean: null });
});

test('compare: the three chains side by side, each mesh against plain', () => {
  const chainPods = (prefix: string, builtAs: 'sidecar' | 'ambient' | 'plain') =>
    ['frontend', 'catalog-1', 'catalog-2', 'ratings'].map((n): PodMeasurement => {
      const wait = builtAs === 'sidecar' ? 0.02 : 0.01;
      return {
        name: `${prefix}${n}`,
        builtAs,
        // 1,000 requests into each chain, the catalog replicas taking 600 and 400.
        requests: n === 'catalog-1' ? 600 : n === 'catalog-2' ? 400 : 1000,
        app: used(0, 100, 40),
        ...(builtAs === 'sidecar' ? { sidecar: used(50, 250, 15) } : {}),
        profile: podCost(`${prefix}${n}`, builtAs === 'plain' ? 'none' : builtAs, {
          // Neighbours wait 0.02 ms a request behind a sidecar, 0.01 behind the node proxy.
          inbound: builtAs === 'plain' ? null : direction(1000, 0.1, 0.2, wait),
          outbound: builtAs === 'plain' || n === 'ratings' ? null : direction(1000, 0.1, 0.2, wait),
        }),
      };
    });
  const run = (
    prefix: 'plain-' | 'sidecar-' | 'ambient-',
    mesh: 'plain' | 'sidecar' | 'ambient',
    latencyMs: number,
  ): ChainRun => ({
    prefix,
    load: onTimeLoad([latencyMs, latencyMs + 0.5]),
    pods: chainPods(prefix, mesh),
    path: mesh === 'plain' ? [] : meshPath(prefix),
    entry: `${prefix}frontend`,
  });
  const s = compareSummary({
    lab: 'lab',
    runs: {
      plain: run('plain-', 'plain', 4),
      sidecar: run('sidecar-', 'sidecar', 5.5),
      ambient: run('ambient-', 'ambient', 4.75),
    },
    // 120 ms over 1,000 requests, against four sidecars of 200 ms each (800 per 1,000).
    nodeProxy: { pod: 'ztunnel', pid: 7, usage: used(30, 150, 11) },
    agent: noAgent,
    webUrl: 'http://127.0.0.1:1',
  });
  const { plain, sidecar, ambient } = s.modes;
  assert.deepEqual(plain.end_to_end_ms, {
    p50: 4,
    p90: 4.5,
    p99: 4.5,
    mean: 4.25,
    ok: 2,
    failed: 0,
    started_late_ms: null,
  });
  assert.equal(plain.added_over_plain_ms, null);
  assert.equal(plain.tollgate_sum_ms, null);
  assert.equal(plain.mesh, null);
  assert.equal(plain.crossings, 0);
  // Two requests each, 0.5 ms apart (variance 0.125): a margin of 2 * sqrt(2 * 0.125 / 2).
  const margin = Number((2 * Math.sqrt(0.125)).toFixed(3));
  assert.deepEqual(sidecar.added_over_plain_ms, {
    p50: 1.5,
    mean: 1.5,
    mean_margin: margin,
    mean_margin_from: 'requests',
  });
  assert.deepEqual(ambient.added_over_plain_ms, {
    p50: 0.75,
    mean: 0.75,
    mean_margin: margin,
    mean_margin_from: 'requests',
  });
  // Five crossings of 0.1 ms p50 and 0.2 ms mean each.
  assert.deepEqual(sidecar.tollgate_sum_ms, { p50: 0.5, mean: 1 });
  assert.deepEqual(ambient.tollgate_sum_ms, { p50: 0.5, mean: 1 });
  assert.deepEqual(ambient.unexplained_ms, { p50: 0.25, mean: -0.25 });
  // Beside the sum, not in it: five crossings' neighbours' wait, 0.02 and 0.01 ms each.
  assert.equal(sidecar.neighbour_wait_ms, 0.1);
  assert.equal(ambient.neighbour_wait_ms, 0.05);
  assert.equal(plain.neighbour_wait_ms, null);
  assert.deepEqual(sidecar.mesh, {
    proxy: 'sidecar',
    processes: 4,
    cpu_ms_per_1k_requests: 800,
    rss_mb: 60,
  });
  assert.deepEqual(ambient.mesh, {
    proxy: 'node proxy',
    processes: 1,
    cpu_ms_per_1k_requests: 120,
    rss_mb: 11,
  });
  assert.deepEqual(
    ambient.pods.map((p) => [p.name, p.mode, p.sidecar, p.node_proxy?.proxy]),
    [
      ['ambient-frontend', 'ambient', null, 'haproxy'],
      ['ambient-catalog-1', 'ambient', null, 'haproxy'],
      ['ambient-catalog-2', 'ambient', null, 'haproxy'],
      ['ambient-ratings', 'ambient', null, 'haproxy'],
    ],
  );

  const text = renderCompare(s);
  assert.match(text, /\n\s+plain\s+sidecar\s+ambient\n/);
  assert.match(text, /added over plain, p50\s+—\s+\+1\.50 ms\s+\+0\.75 ms/);
  assert.match(text, /the mesh's processes\s+—\s+4 sidecars\s+1 node proxy/);
  assert.match(text, /their CPU per 1,000 requests\s+—\s+800\.00 ms\s+120\.00 ms/);
  assert.match(text, /neighbours' wait, not in the sum\s+—\s+0\.10 ms\s+0\.05 ms/);
  assert.match(text, /their RSS\s+—\s+60\.00 MB\s+11\.00 MB/);
  assert.match(text, /\n {2}ratings\s+sidecar\s+0\.10 \/ —\s+ambient\s+0\.10 \/ —/);
  assert.match(text, /How this was measured/);
});

test('the note says where hand-offs were not timed from wake-up to wake-up, and only there', () => {
  const handedOff = (wakeUps: number, reads: number, notSaid: number) => ({
    ...direction(100, 0.2, 0.2),
    handoffs: wakeUps + reads + notSaid,
    handoffsByEnds: { wakeUps, reads, notSaid },
  });
  assert.equal(handoffNote([pod('front', handedOff(90, 0, 0), null)]), '');
  assert.equal(handoffNote([pod('front', direction(100, 0.2, 0.2), null)]), '', 'none came');
  assert.equal(
    handoffNote([pod('front', handedOff(90, 0, 0), null), pod('back', null, handedOff(0, 5, 0))]),
    " Here some hand-offs ran from read to read: the agent had no hook on the scheduler's switches (none in its kernel, or its attach failed).",
  );
  assert.equal(
    handoffNote([pod('back', handedOff(80, 0, 5), null)]),
    ' Here an older agent did not say where its hand-offs began and ended.',
  );
});
