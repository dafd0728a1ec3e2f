// The accuracy benchmark's machinery, small: one server with a known service time, one
// lossy transfer, and eight mesh conditions (haproxy in TCP mode at low load, haproxy in
// HTTP mode reusing upstream connections, two sidecars with HTTP/2 between them, with
// mutual TLS, and with HTTP/2 inside mutual TLS, ambient mode's node proxy between two pods
// of one node, two node proxies between pods of two nodes, and HTTP/2 on both sides of one
// sidecar, as gRPC runs) against their A/B truth. The ground truths must
// agree with what Tollgate reported end to end (probes, agent, collector). The bench's own
// verdicts are not recomputed here: a test that repeats the code's arithmetic proves
// nothing.
//
// This runs on busy shared machines (CI, after some sixty other test files), so it asserts
// what holds with margin there: structure, exact counts, and the added latency within the
// tolerance plus the noise floor measured in the same run (the round-to-round spread of
// the A/B truth itself). Runs this short often have a noise floor larger than the truth
// (seen here: per-round B - A of the mean from 0.03 to 0.19 ms in one condition, where
// Tollgate's per-round mean stayed within 0.12-0.16); there a bound would be no bound, so
// the test says so in a diagnostic instead of asserting one.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { STATS } from '../../bench/ab-truth.js';
import { type AccuracyBenchResult, benchAccuracy, INTERVAL_MS } from '../../bench/accuracy.js';
import { type AddedLatencyOptions, DEFAULT_ADDED_LATENCY } from '../../bench/added-latency.js';
import { MAX_RELATIVE_ERROR } from '../../proto/histogram.js';

// Six rounds of 1 s rather than four of 1.5 s, for a few seconds more: the noise floor is
// the spread of the per-round B - A, and the spread of four values falls below the
// per-round scatter itself about one time in ten, so a bound built on it failed now and
// then. Taking per-round B - A as normal, a statistic lands further from the truth than
// tolerance + spread in ~1% of runs with four rounds and ~0.06% with six.
const ROUNDS = 6;
const ADDED: AddedLatencyOptions = {
  ...DEFAULT_ADDED_LATENCY,
  conditions: [
    'tcp_low',
    'http_reuse',
    'h2_sidecars',
    'tls_sidecars',
    'ambient',
    'ambient_cross_node',
    'h2_end_to_end',
    'h2_tls_sidecars',
  ],
  rounds: ROUNDS,
  runSeconds: 1,
  // 0.2 s (62 requests) is past a fresh generator's first slow requests, and keeps the
  // whole test near a minute.
  runWarmupS: 0.2,
  conditionWarmupS: 1,
};

let r: AccuracyBenchResult;

before(async () => {
  r = await benchAccuracy({
    serviceTimesMs: [5],
    // Two connections of 60, as this test ran in CI for many sessions. (One of 120 was
    // tried with the server in Node; a CI run then saw the server's own p50 at 4.89 ms,
    // below the 5 ms its service times centre on, and the kernel's at 4.59: Node's timers,
    // set against a loop clock older than the read, moved the truth itself.)
    // Both connections run the same service times in lockstep, so the two largest are
    // served at the same moment and one scheduling delay lands in both.
    connections: 2,
    requestsPerConnection: 60,
    addedLatency: ADDED,
  });
});

test('bench accuracy: bytes exact, retransmits as the kernel counts, quantiles recovered', (t) => {
  t.diagnostic(`exchange: ${JSON.stringify(r.exchange)}`);
  assert.equal(r.bytes.length, 4);
  assert.deepEqual(
    r.bytes.map((b) => b.reported),
    [120 * 120, 120 * 700, 120 * 120, 120 * 700],
    'request and response bytes at both ends, exactly',
  );
  assert.equal(r.bytes_exact, true);
  assert.ok(r.retransmits.kernel > 0, 'the rule caused retransmissions');
  assert.equal(r.retransmits.reported, r.retransmits.kernel);
  assert.equal(r.retransmits_match_kernel, true);
  const [exchange] = r.exchange;
  assert.equal(exchange!.requests, 120);
  // Each request's recv -> send at the server's socket holds the server's own time for it
  // (its clock, read after its read returned and before its write) and lies
  // inside the client's own exchange for it (from before its write to after its read), so
  // each of the kernel's quantiles lies between the same quantiles of those two clocks,
  // rank for rank; the reported one is its bucket's midpoint, within 1/32 of it (and the
  // truths are rounded to 4 digits). The server's clock read after its write is no upper
  // bound: the server's clock starts after its read returned, the kernel's within it (with
  // the server in Node, whose clock started in its data callback, that put the kernel's p50
  // in the bucket [4.72, 4.98) ms in a CI run where the server's p50 after its write was
  // 4.601).
  const s = exchange!.server;
  const c = exchange!.client;
  const within = (q: 'p50' | 'p99') => {
    const reported = s[`${q}_reported_ms`];
    const held = s[`${q}_truth_ms`];
    const round = c[`${q}_truth_ms`];
    assert.ok(
      reported !== null &&
        reported >= held * (1 - MAX_RELATIVE_ERROR) - 0.0005 &&
        reported <= round * (1 + MAX_RELATIVE_ERROR) + 0.0005,
      `server ${q} ${reported} vs the server's own ${held}, the client's ${round}`,
    );
  };
  within('p50');
  within('p99');
  t.diagnostic(
    `server p50 ${s.p50_reported_ms} ms; its own clock ${s.p50_truth_ms} before the write, ${s.p50_truth_after_write_ms} after it; the client's ${c.p50_truth_ms}`,
  );
});

test('bench accuracy: every condition has an A/B truth, a noise floor and what Tollgate saw', (t) => {
  assert.deepEqual(
    r.added_latency.map((c) => c.name),
    ADDED.conditions,
    'every condition asked for, in order',
  );
  for (const c of r.added_latency) {
    assert.equal(c.rounds, ROUNDS);
    assert.deepEqual(
      c.per_round.map((round) => round.order),
      ['AB', 'BA', 'AB', 'BA', 'AB', 'BA'],
      'the order flips every round',
    );
    assert.equal(c.load_failures, 0, `${c.name}: every request of the load succeeded`);
    // Open loop, so the counts are known: the load's measured requests of every B run,
    // and through the sidecar those and each run's warm-up, planned to end some 200 ms
    // before a whole second. A B run's rows are read from that second on, so they hold
    // none of the warm-up (no more exchanges than the measured requests) and all of the
    // measured requests due one agent interval after that second (a row holds the
    // intervals that start in it). What else Tollgate sees there it counts as requests it
    // could not pair (once in a few runs one such in HTTP mode), so requests may exceed
    // the exchanges.
    const measured = Math.round(c.rate_rps * ADDED.runSeconds);
    // Each B run's warm-up is planned for it: at least runWarmupS, less one interval.
    const warmups = c.per_round.map((round) => round.warmup_requests_b);
    const lowest = Math.floor(c.rate_rps * ADDED.runWarmupS) - 1;
    assert.ok(Math.min(...warmups) >= lowest, `${c.name}: warm-ups ${warmups}`);
    const sentB = warmups.reduce((n, w) => n + w + measured, 0);
    const inRows = Math.floor(
      c.rate_rps * (ADDED.runSeconds - (c.rows_from_after_measured_max_ms + INTERVAL_MS) / 1000),
    );
    assert.ok(
      c.rows_from_after_measured_max_ms >= ADDED.runClearMs &&
        c.rows_from_after_measured_max_ms <= ADDED.runClearMs + 1 + 1000 / c.rate_rps,
      `${c.name}: rows from ${c.rows_from_after_measured_max_ms} ms into the measured part`,
    );
    assert.ok(inRows > 0, `${c.name}: ${inRows} requests due inside the rows read`);
    assert.equal(c.load_requests_b, ROUNDS * measured, `${c.name}: the load's B requests`);
    const sidecars = c.per_round.flatMap((round) => round.sidecars);
    const counts = `${c.name}: ${measured} measured per B run after ${warmups} in its warm-up, ${inRows} inside its rows; requests ${sidecars.map((s) => s.requests)}, exchanges ${sidecars.map((s) => s.exchanges)}, ${c.requests} requests in all, ${c.unpaired} unpaired`;
    // Each sidecar on the path pairs each request it carried at most once: what the span
    // (from the first B run's rows to the last's, the other runs' warm-ups within it)
    // holds beyond the requests sent can only be unpaired. (A hop split by the runner's
    // swaps was once counted again from its buckets: 2,241 paired of 2,238 sent.)
    assert.ok(
      c.requests - c.unpaired <= c.sidecars.length * sentB,
      `no request paired twice; ${counts}`,
    );
    // Each B run's rows are its own: no two share a row, so together they hold no more
    // than the span does.
    const inRuns = sidecars.reduce((n, s) => n + s.requests, 0);
    assert.ok(c.requests >= inRuns, `each B run's rows are its own; ${counts}`);
    // This kernel has the context switch's hook: every sidecar's hand-offs run from
    // wake-up to wake-up, and the collector says so (and nothing of a sidecar without any).
    for (const s of c.sidecars)
      assert.equal(
        s.handoff_timing,
        s.handoffs + s.reply_handoffs > 0 ? 'wake-up to wake-up' : null,
        `${c.name}: ${s.pod} ${s.direction}'s hand-offs' ends`,
      );
    for (const round of c.per_round) {
      assert.equal(
        round.sidecars.length,
        c.sidecars.length,
        `${c.name}: every sidecar, every round`,
      );
      const busy = round.load_busy_periods_b;
      const perRun = measured + round.warmup_requests_b;
      assert.ok(
        busy !== null && busy > 0 && busy <= perRun,
        `${c.name}: the load counts its busy periods (${busy})`,
      );
      round.sidecars.forEach((s, k) => {
        // Each sidecar on the path carries every request once. Where its downstream is
        // one HTTP/2 connection (h2_sidecars' server side), what it counts are the
        // direction changes of that connection until the kernel takes it for one carrying
        // several requests at once (then each request, by the upstream it goes out on),
        // and requests whose streams overlap before that count as one: how many that is
        // moves with the machine's load (short by 0-3% in quiet runs, 18% in one CI run),
        // so the floor there is the load generator's own count of its busy periods (over
        // the whole run, warm-up too), in the share of the run's requests that the rows
        // hold, which no proxy on the path can see fewer of.
        // HTTP/2 inside TLS between two sidecars (h2_tls_sidecars) likewise: its frames
        // cannot be read there.
        const multiplexed =
          (c.name === 'h2_sidecars' || c.name === 'h2_tls_sidecars') &&
          c.sidecars[k]!.direction === 'inbound';
        const floor = multiplexed ? Math.floor((busy! * inRows) / perRun) : inRows;
        assert.ok(s.requests >= floor, `${counts}; ${busy} busy periods`);
        assert.ok(s.exchanges <= measured, `none of the warm-up in the rows; ${counts}`);
        assert.ok(s.exchanges > 0, `${c.name}: Tollgate saw every B run`);
        assert.equal(
          s.added_count,
          s.exchanges,
          `${c.name}: the prediction's added latency is the collector's figure's, exchange for exchange`,
        );
      });
      for (const s of STATS) {
        assert.ok(round.reported[s] !== null, `${c.name} ${s}: reported in every round`);
        assert.ok(round.reported_direct[s] !== null, `${c.name} ${s}: direct in every round`);
      }
    }
    assert.ok(c.truth.p50_ms > 0, `${c.name}: the sidecar adds latency at p50 (${c.truth.p50_ms})`);
    assert.ok(c.truth.mean_ms > 0, `${c.name}: and on average (${c.truth.mean_ms})`);
    for (const s of STATS) {
      assert.ok(Number.isFinite(c.truth[s]), `${c.name} ${s} truth`);
      assert.ok(c.noise_floor_ms[s] >= 0, `${c.name} ${s} noise floor`);
      assert.ok(c.a_spread_ms[s] >= 0, `${c.name} ${s} A - A spread`);
    }
    assert.ok(c.unpaired >= 0 && c.unpaired <= c.requests, `${c.name}: unpaired ${c.unpaired}`);
    assert.ok(
      c.share_paired !== null && c.share_paired >= 0 && c.share_paired <= 1,
      `${c.name}: share paired ${c.share_paired}`,
    );
  }
  const reuse = r.added_latency.find((c) => c.name === 'http_reuse')!;
  assert.equal(reuse.details.downstream_connections, 32);
  assert.ok(
    Number(reuse.details.upstream_connections_max) < 32,
    `few upstream connections: ${reuse.details.upstream_connections_max}`,
  );
  // Two sidecars on the path, HTTP/2 between them: the app's 32 connections ride on one
  // shared connection (two at most, should one be replaced), and each sidecar's figure
  // stands for nearly all requests (what it cannot pair are HTTP/2's own frames, SETTINGS
  // and WINDOW_UPDATE exchanges, and the few replies read with the next ones).
  const h2 = r.added_latency.find((c) => c.name === 'h2_sidecars')!;
  assert.deepEqual(
    h2.sidecars.map((s) => `${s.pod} ${s.direction}`),
    ['ab-h2-client outbound', 'ab-h2 inbound'],
  );
  t.diagnostic(
    `h2_sidecars per B run, the inbound sidecar's requests against the load's busy periods: ${h2.per_round
      .map((round) => `${round.sidecars[1]!.requests} >= ${round.load_busy_periods_b}`)
      .join(', ')}`,
  );
  const between = Number(h2.details.sidecar_connections_max);
  assert.ok(between >= 1 && between <= 2, `connections between the sidecars: ${between}`);
  // Requests overlap on it only by chance at this size: at 311/s they are due 3.2 ms apart
  // and each is in flight for about 0.5 ms, so two overlap where the generator's loop
  // issues a bunch after a late tick. Then the kernel sees a second request forwarded
  // before a reply and marks the edge ('yes' in the table's run and in the CI runs before; a CI
  // run saw no overlap, 'no'). Said in the diagnostics; the marking itself is tested where
  // calls overlap by construction (test/probes/multiplexed: gRPC, 16 calls in flight).
  t.diagnostic(
    `HTTP/2 edge between the sidecars marked multiplexed: ${h2.details.sidecar_edge_multiplexed}`,
  );
  // Mutual TLS in TCP mode carries one request at a time per connection. Where the
  // handshakes of several new connections interleave with their first requests, the
  // pairing can take one connection's handshake write for another's request: that marked
  // the edge in two runs of four while one such write sufficed; now it is one sign of the
  // three a mark needs, and four runs were unmarked. Not asserted (a proxy's write in two
  // parts while another request waits can still be taken for a second request); said in
  // the diagnostics.
  const tls = r.added_latency.find((c) => c.name === 'tls_sidecars')!;
  t.diagnostic(
    `TLS edge between the sidecars marked multiplexed: ${tls.details.sidecar_edge_multiplexed}`,
  );
  for (const s of tls.sidecars)
    assert.ok(s.share_paired !== null && s.share_paired >= 0.9, `${s.pod}: ${s.share_paired}`);
  for (const s of h2.sidecars)
    assert.ok(s.share_paired !== null && s.share_paired >= 0.9, `${s.pod}: ${s.share_paired}`);
  // HTTP/2 inside mutual TLS between them, as Istio's sidecars speak: haproxy may open more
  // than one connection to the other while the first's handshake is under way, and the
  // outbound sidecar's WINDOW_UPDATE after each reply reaches the inbound one as a read it
  // forwards nothing for. With two or more such connections every inbound hop once ran a
  // connection's request spacing long in some rounds (rearm_request in
  // probes/src/tollgate.bpf.c; held by the next test's accuracy check, as every
  // condition is).
  const h2tls = r.added_latency.find((c) => c.name === 'h2_tls_sidecars')!;
  assert.deepEqual(
    h2tls.sidecars.map((s) => `${s.pod} ${s.direction}`),
    ['ab-h2t-client outbound', 'ab-h2t inbound'],
  );
  t.diagnostic(
    `h2_tls_sidecars: ${h2tls.details.sidecar_connections_max} TLS connections between the sidecars at most; paired ${h2tls.sidecars.map((s) => `${s.pod} ${s.share_paired}`).join(', ')}`,
  );
  for (const s of h2tls.sidecars)
    assert.ok(s.share_paired !== null && s.share_paired >= 0.9, `${s.pod}: ${s.share_paired}`);
  // Ambient mode: no sidecars; the node proxy's hops through the load's pod (outbound)
  // and through the server's (inbound) stand in their place, each for nearly every
  // request (what it cannot pair there are the tunnels' TLS handshakes).
  const ambient = r.added_latency.find((c) => c.name === 'ambient')!;
  assert.deepEqual(
    ambient.sidecars.map((s) => `${s.pod} ${s.direction}`),
    ['ab-amb-client outbound', 'ab-amb inbound'],
  );
  for (const s of ambient.sidecars)
    assert.ok(s.share_paired !== null && s.share_paired >= 0.9, `${s.pod}: ${s.share_paired}`);
  // One node proxy serving both ends: its inbound side reads what its outbound side wrote
  // into the tunnel, and its request hops there are handed off to the app with the pickup
  // the outbound side had (inherit_pickup in probes/src/handoff.bpf.h). Its outbound side's
  // next reader is itself, so there are none (said, not asserted).
  const [, sameNodeInbound] = ambient.sidecars;
  assert.ok(
    sameNodeInbound!.handoffs >= 0.5 * sameNodeInbound!.requests,
    `${sameNodeInbound!.pod}: ${sameNodeInbound!.handoffs} of ${sameNodeInbound!.requests} handed off`,
  );
  // Across two nodes, each node's proxy: the first's hops through the load's pod, the
  // second's through the server's. Each waits for its bytes (the load's, the first's over
  // the tunnel) as the app waits for the second's, so their request hops are handed off
  // as two sidecars' are (98-99.8% in README's runs).
  const crossNode = r.added_latency.find((c) => c.name === 'ambient_cross_node')!;
  assert.deepEqual(
    crossNode.sidecars.map((s) => `${s.pod} ${s.direction}`),
    ['ab-ambx-client outbound', 'ab-ambx inbound'],
  );
  for (const s of crossNode.sidecars) {
    assert.ok(s.share_paired !== null && s.share_paired >= 0.9, `${s.pod}: ${s.share_paired}`);
    assert.ok(
      s.handoffs >= 0.5 * s.requests,
      `${s.pod}: ${s.handoffs} of ${s.requests} handed off`,
    );
  }
  t.diagnostic(
    `one node proxy, request hops handed off: ${ambient.sidecars.map((s) => `${s.pod} ${s.handoffs} of ${s.requests}`).join(', ')}`,
  );
  // HTTP/2 on both sides of one sidecar, each request a POST with a body as a gRPC call
  // is: its requests are counted from the frames (each HEADERS frame that opens a stream),
  // so each B run's rows hold no more than the run's measured requests, and no fewer than
  // those due inside them (above). Before de579b5 the sidecar's WINDOW_UPDATE to its
  // client after each request's body was taken for the reply, and every request went
  // unpaired (4,426 of 4,426 in a run of 6 rounds). The app waits for each request as it would
  // without the sidecar, so the request hops are handed off to its read.
  const h2e = r.added_latency.find((c) => c.name === 'h2_end_to_end')!;
  assert.deepEqual(
    h2e.sidecars.map((s) => `${s.pod} ${s.direction}`),
    ['ab-h2e inbound'],
  );
  const measured = Math.round(h2e.rate_rps * ADDED.runSeconds);
  for (const round of h2e.per_round)
    assert.ok(
      round.sidecars[0]!.requests <= measured,
      `h2_end_to_end: ${round.sidecars[0]!.requests} requests counted in a B run of ${measured}`,
    );
  const [h2eSidecar] = h2e.sidecars;
  assert.ok(
    h2eSidecar!.share_paired !== null && h2eSidecar!.share_paired >= 0.9,
    `${h2eSidecar!.pod}: ${h2eSidecar!.share_paired}`,
  );
  assert.ok(
    h2eSidecar!.handoffs >= 0.5 * h2eSidecar!.requests,
    `${h2eSidecar!.pod}: ${h2eSidecar!.handoffs} of ${h2eSidecar!.requests} handed off`,
  );
});

// What the hops cannot hold at low load, per condition, below the truth: what is left in
// the caller's own process (14-24 us of the mean in README's split of its run at d0ce0a4,
// 13-52 in the run before it on a slower VM: the sidecar running on its CPU), the app
// serving more slowly beside the sidecar (10-20 us there, 20-71 before) and, where a
// request is not handed off, the wake-up of the process its hop hands it to (up to 33
// us), each measured apart (README's split of the truth by the caller's sockets) and
// explained in docs/added-latency.md; in README's run the worst miss beyond the target's
// tolerance was 27 us (HTTP mode's p50; 43 us, TCP mode's mean, in the run before; the
// p99s missed by more, under their noise floors). The issue's target (15%) is not met
// there, and README says so; the bench judges it (its JSON's rel_error keys), not this
// test. Above it, the bound is the target's; a figure over the truth gets no such allowance, and neither does
// ambient mode across two nodes, whose node proxies' hops are handed off both ways (see
// above) and met every target but a p99 under its noise floor in README's runs.
const LOW_LOAD_SHORTFALL_MS = 0.1;
const HELD_TO_THE_TARGET = new Set(['ambient_cross_node']);

test('bench accuracy: the mean and the predicted quantiles are within tolerance plus the noise floor of the A/B truth (below it, by at most the low-load shortfall more)', (t) => {
  const misses: string[] = [];
  let asserted = 0;
  for (const c of r.added_latency) {
    t.diagnostic(
      `${c.name}: share paired ${c.share_paired}, ${c.requests} requests, ${c.method}; Tollgate's own quantiles (not comparable with B - A) ${JSON.stringify(c.reported_direct)}; reported's spread over rounds ${JSON.stringify(c.reported_spread_ms)}`,
    );
    for (const s of STATS) {
      const truth = c.truth[s];
      const reported = c.reported[s];
      assert.ok(reported !== null && reported > 0, `${c.name} ${s}: reported ${reported}`);
      const noise = c.noise_floor_ms[s];
      const tolerance = c.checks[s].tolerance_ms;
      const error = Math.abs(reported - truth);
      const shortfall =
        reported < truth && !HELD_TO_THE_TARGET.has(c.name) ? LOW_LOAD_SHORTFALL_MS : 0;
      const line = `${c.name} ${s}: truth ${truth}, reported ${reported}, error ${Number(error.toPrecision(3))}, tolerance ${tolerance} + noise floor ${noise}${shortfall ? ` + low-load shortfall ${shortfall}` : ''}`;
      if (noise > truth) {
        t.diagnostic(`${line}: not asserted, the noise floor at this size exceeds the truth`);
        continue;
      }
      t.diagnostic(line);
      asserted++;
      if (!(error <= tolerance + noise + shortfall)) misses.push(line);
    }
  }
  t.diagnostic(`${asserted} of ${r.added_latency.length * STATS.length} statistics asserted`);
  assert.deepEqual(misses, []);
});

// Where the truth's time is spent, from the load generator's clock inward. Each run's
// generator is a process of its own, so its sockets' exchanges (Tollgate's client edge)
// are that run's alone: with the sidecar in the path they take longer, by a B - A that
// holds the sidecars' hops and lies inside the generator's own B - A. Like the truth, the
// sockets' B - A scatters from round to round (A's mean at the sockets alone moves by
// 30-50 us between runs here), so the medians over rounds are held to each other, each
// bound widened by the mean's tolerance and the spread of the figures it compares.
test("bench accuracy: the truth's mean splits into the client's sockets and its own process", (t) => {
  for (const c of r.added_latency) {
    const socket = c.client_socket;
    t.diagnostic(`${c.name}: ${JSON.stringify(socket)}; truth mean ${c.truth.mean_ms}`);
    assert.equal(socket.per_round.length, ROUNDS);
    // Each run's generator has one client edge, so its sockets' p90 is known.
    for (const [k, round] of socket.per_round.entries())
      assert.ok(
        round.a_p90 !== null && round.b_p90 !== null,
        `${c.name} round ${k + 1}: the sockets' p90 of both runs`,
      );
    const differences = socket.per_round.map((round, k) => {
      assert.ok(round.a !== null && round.b !== null, `${c.name} round ${k + 1}: both runs seen`);
      return round.b - round.a;
    });
    // As for the truth itself: where its rounds scatter more than it is large (a busy
    // machine: one A run of a CI run came out 0.35 ms slower than its neighbours), a
    // bound would be no bound.
    if (c.noise_floor_ms.mean_ms > c.truth.mean_ms) {
      t.diagnostic(`${c.name}: not asserted, the noise floor at this size exceeds the truth`);
      continue;
    }
    const spread = Math.max(...differences) - Math.min(...differences);
    const added = socket.added_mean_ms!;
    assert.ok(added > 0, `${c.name}: slower at the sockets with the sidecar`);
    const hops = c.reported.mean_ms!;
    const slack = (x: number) => Math.max(0.02, 0.15 * x);
    assert.ok(
      added >= hops - slack(hops) - spread,
      `${c.name}: sockets +${added} ms (spread ${spread}) holds the hops' ${hops}`,
    );
    assert.ok(
      added <= c.truth.mean_ms + slack(c.truth.mean_ms) + c.noise_floor_ms.mean_ms,
      `${c.name}: sockets +${added} ms within the generator's +${c.truth.mean_ms}`,
    );
  }
});

test("bench accuracy: the app's read-to-write time lies inside the client's exchange, in both runs of every round", (t) => {
  for (const c of r.added_latency) {
    const app = c.app_socket;
    t.diagnostic(`${c.name}: ${JSON.stringify(app)}`);
    assert.equal(app.per_round.length, ROUNDS);
    // In these two the app's connections carry one request at a time (TCP, HTTP/1.1), so
    // its exchanges are timed in every run.
    if (c.name === 'tcp_low' || c.name === 'http_reuse')
      for (const [k, round] of app.per_round.entries())
        assert.ok(
          round.a !== null && round.b !== null,
          `${c.name} round ${k + 1}: the app seen in both runs`,
        );
    // The app serves each request inside the generator's exchange at its sockets: its
    // server end and the generator's client end are two processes' sockets, timed apart.
    for (const [k, round] of app.per_round.entries()) {
      const client = c.client_socket.per_round[k]!;
      for (const run of ['a', 'b'] as const) {
        const served = round[run];
        const exchange = client[run];
        if (served === null || exchange === null) continue;
        assert.ok(served > 0, `${c.name} round ${k + 1} ${run}: the app took time`);
        assert.ok(
          served < exchange,
          `${c.name} round ${k + 1} ${run}: the app's ${served} ms inside the generator's ${exchange} ms`,
        );
      }
    }
  }
});
