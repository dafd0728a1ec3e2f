// The probes benchmark's machinery, small, on the real kernel: the ping-pong's rates are
// read with the kernel's run-time accounting off, and each timed phase counts exactly its
// own ping-pong, which the ping-pong's own count of exchanges pins down (a send and a
// receive at each end per exchange). Had the accounting been on while the rate was read,
// the programs would have run twice as often as the timed exchanges allow.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { benchProbes, phaseOrder } from '../../bench/probes.js';

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

test('bench probes: phases rotated, rates untimed, each timed phase holds its own ping-pong', async (t) => {
  const statsBefore = readFileSync(STATS_SYSCTL, 'utf8').trim();
  const r = await benchProbes({ rounds: 4, roundSeconds: 1, connections: 2 });
  t.diagnostic(JSON.stringify(r));
  assert.equal(readFileSync(STATS_SYSCTL, 'utf8').trim(), statsBefore);

  // Every phase took each place once over four rounds.
  assert.deepEqual(r.phase_orders, [0, 1, 2, 3].map(phaseOrder));
  for (const place of [0, 1, 2, 3])
    assert.equal(new Set(r.phase_orders.map((order) => order[place])).size, 4);

  assert.ok(r.exchanges_timed > 200, `${r.exchanges_timed} exchanges timed`);
  assert.ok(r.exchanges_timed_empty_programs! > 200);
  assert.ok(r.exchanges_timed_clock_read_programs! > 200);
  const runs = (name: string) => r.programs.find((p) => p.name === name)?.events ?? 0;
  // A send per exchange at each end; the receives as many, and a connection's end read
  // (0 bytes) at each of its two ends. Slack for what else on the machine sent meanwhile.
  const near = (name: string, exact: number) => {
    const n = runs(name);
    assert.ok(n >= exact && n <= exact * 1.01 + 20, `${name}: ${n} runs against ${exact}`);
  };
  near('tg_send', 2 * r.exchanges_timed);
  near('tg_recv', 2 * r.exchanges_timed);
  near('floor_send', 2 * r.exchanges_timed_empty_programs!);
  near('floor_recv', 2 * r.exchanges_timed_empty_programs!);
  near('clock_send', 2 * r.exchanges_timed_clock_read_programs!);
  near('clock_recv', 2 * r.exchanges_timed_clock_read_programs!);

  assert.equal(r.kernel_ns_per_event_spread.rounds.length, 4);
  assert.equal(r.empty_program_ns_per_event_spread!.rounds.length, 4);
  assert.equal(r.clock_read_program_ns_per_event_spread!.rounds.length, 4);
  assert.equal(r.throughput_ratio_rounds.length, 4);
  assert.equal(r.empty_program_throughput_ratio_spread!.rounds.length, 4);
  assert.equal(r.clock_read_program_throughput_ratio_spread!.rounds.length, 4);
  // A program costs more than none, a clock read more than nothing, and Tollgate's
  // programs more than an empty one.
  assert.ok(r.empty_program_ns_per_event! > 0);
  assert.ok(r.clock_read_program_ns_per_event! > r.empty_program_ns_per_event!);
  assert.ok(r.kernel_ns_per_event > r.empty_program_ns_per_event!);
  assert.equal(r.lost_events, 0);
});
