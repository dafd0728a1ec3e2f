// The overhead benchmark's machinery, small: two rounds each way at a low rate, the order
// flipped in the second. With
// Tollgate on, the agent and collector run as their own processes and are gone after,
// the kernel saw every request's reads and writes on all three connections, and nothing
// was lost.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventsOf } from '../../bench/bpf-stats.js';
import { benchOverhead } from '../../bench/overhead.js';

test('bench overhead: A/B rounds, the agent measured, every hop seen, nothing lost or left', async (t) => {
  const lines: string[] = [];
  const r = await benchOverhead(
    {
      rounds: 2,
      saturationSeconds: 1,
      saturationConnections: 8,
      rate: 400,
      latencyRate: 200,
      rateSeconds: 2,
      rateConnections: 4,
      placement: 'cluster',
    },
    (line) => lines.push(line),
  );
  t.diagnostic(JSON.stringify(r));
  assert.equal(r.placement, 'cluster');
  assert.equal(lines.length, 4);
  // A/B, then B/A: neither side always runs second.
  assert.match(lines[0]!, /without Tollgate/);
  assert.match(lines[1]!, /with Tollgate/);
  assert.match(lines[2]!, /with Tollgate/);
  assert.match(lines[3]!, /without Tollgate/);
  // Every headline figure has its spread over the rounds: a pair per round for ratios.
  for (const s of Object.values(r.spreads)) {
    assert.equal(s.rounds.length, 2, JSON.stringify(s));
    assert.ok(s.min <= s.median && s.median <= s.max, JSON.stringify(s));
  }
  assert.equal(r.load_errors, 0);
  assert.equal(r.lost_events, 0);
  assert.ok(Math.abs(r.requests_per_s - 400) <= 20, `${r.requests_per_s} requests/s`);
  assert.ok(r.saturation_rps_without > 400 && r.saturation_rps_with > 400);
  // No bound on the ratios here: at this size they are noise, and speed is the bench's to
  // judge (`tollgate bench overhead`, 5 rounds each way), not a timed test's.
  assert.ok(r.agent_millicores > 0 && r.agent_rss_mb > 10, 'the agent and runner were measured');
  assert.ok(r.collector_rss_mb > 10);
  // Per request: a send and a receive at each end of client -> sidecar -> sidecar -> app.
  assert.ok(r.events_per_request >= 12, `${r.events_per_request} kernel events per request`);
  assert.ok(r.kernel_ns_per_event > 0);
  // Program by program (whichever variant of each hook loaded): each request's three
  // connections carry it and its reply, so at least 6 sends, 6 receives and, where the
  // arrival hook is there, 6 data segments arriving. The programs' runs and times make up
  // the totals (to their rounding: runs to 0.01 and ns to 1 per request).
  const runsOf = (prefix: string) =>
    r.kernel_by_program
      .filter((p) => p.program.startsWith(prefix))
      .reduce((n, p) => n + p.runs_per_request, 0);
  for (const hook of ['tg_send', 'tg_recv'])
    assert.ok(runsOf(hook) >= 6, `${hook}: ${runsOf(hook)} per request`);
  if (r.kernel_by_program.some((p) => p.program.startsWith('tg_arrival')))
    assert.ok(runsOf('tg_arrival') >= 6, `tg_arrival: ${runsOf('tg_arrival')} per request`);
  const n = r.kernel_by_program.length;
  // A context switch is no event: its program's time is in the total, its runs are not.
  const runs = r.kernel_by_program.reduce((s, p) => s + eventsOf(p.program, p.runs_per_request), 0);
  assert.ok(
    Math.abs(runs - r.events_per_request) <= 0.005 * n + 0.05,
    `programs' runs ${runs} per request, events ${r.events_per_request}`,
  );
  const ns = r.kernel_by_program.reduce((s, p) => s + p.ns_per_request, 0);
  const total = r.kernel_ns_per_event * r.events_per_request;
  assert.ok(
    Math.abs(ns - total) <= 0.5 * n + 0.5 * r.events_per_request + 0.05 * r.kernel_ns_per_event,
    `programs' ${ns} ns per request, ${total} in all`,
  );
  // Counted as a skeptic would: the programs' time on the workload's CPUs and the maps'
  // memory are in the totals the targets judge. The proxies' per-thread queues alone lock
  // 4 MiB (an LRU map is preallocated); the rest grows with use.
  assert.ok(r.kernel_millicores > 0, `kernel ${r.kernel_millicores} millicores`);
  assert.ok(r.map_memory_mb >= 4, `maps ${r.map_memory_mb} MB`);
});
