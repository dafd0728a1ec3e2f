// The runner ends its intervals at whole multiples of the interval on the wall clock, so
// that agents on nodes whose clocks agree count over the same spans and an interval, keyed
// by the second it starts in, holds that second. The truth is the wall clock itself: each
// interval record's own end, read by the runner after the swap that ends it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProbeSource } from '../../probes/probe-source.js';
import type { IntervalRecord, ProbeRecord } from '../../probes/records.js';
import { LiveRecords } from './fixture.js';

const INTERVAL_MS = 1000;
/**
 * How late past its multiple an interval's record may say it ended: the poll's wake-up and
 * the swaps, which wait for the programs running (20-30 ms here), come before its clock read.
 */
const LATE_MS = 150;
const INTERVALS = 3;

const isInterval = (r: ProbeRecord): r is IntervalRecord => r.type === 'interval';
/** How far past a multiple of the interval `ms` lies, in [0, INTERVAL_MS), negative `ms` too. */
const pastMultiple = (ms: number) => ((ms % INTERVAL_MS) + INTERVAL_MS) % INTERVAL_MS;

test('intervals end at whole multiples of the interval on the wall clock', async (t) => {
  // A runner that counted its intervals from its own start would end them at the phase it
  // came up at. Started where that phase is near a multiple, such a runner would pass
  // too, so the test starts it again until it comes up away from one. Each retry is
  // timed to come up mid-interval by the last start's duration. With a fixed pause of a
  // third of an interval, five retries came up near a whole second in CI (2026-12-07): a
  // start took 651-665 ms here and a stop 32-44, so each retry came up only 25-45 ms later
  // in its second than the one before.
  let probes: ProbeSource | undefined;
  let cameUpAt = 0;
  for (let attempt = 0; attempt < 5; attempt++) {
    const startedAt = Date.now();
    probes = await ProbeSource.start({ intervalMs: INTERVAL_MS });
    cameUpAt = Date.now();
    const phase = pastMultiple(cameUpAt);
    if (phase > LATE_MS + 20 && phase < INTERVAL_MS - 20) break;
    await probes.stop();
    probes = undefined;
    // Where in an interval to start so that, taking as long again, it comes up halfway.
    const startAt = INTERVAL_MS / 2 - (cameUpAt - startedAt);
    await sleep(pastMultiple(startAt - Date.now()));
  }
  assert.ok(probes, 'the runner came up near a whole second five times running');
  const source = probes;
  t.after(() => source.stop());
  t.diagnostic(`runner came up ${pastMultiple(cameUpAt)} ms past a whole second`);

  const live = new LiveRecords(source);
  const ends: number[] = [];
  let from = 0;
  for (let i = 0; i < INTERVALS; i++) {
    const interval = await live.until(isInterval, from, 3 * INTERVAL_MS);
    ends.push(interval.realtimeMs);
    from = live.records.indexOf(interval) + 1;
  }
  t.diagnostic(`interval ends, ms past a whole second: ${ends.map(pastMultiple).join(', ')}`);

  for (const end of ends)
    assert.ok(
      pastMultiple(end) < LATE_MS,
      `an interval ended ${pastMultiple(end)} ms past a multiple`,
    );
  // The first is what was left of one after the runner came up; the rest are whole.
  const [first, ...rest] = ends;
  assert.ok(
    first !== undefined && first - cameUpAt < INTERVAL_MS,
    'the first interval ends at the next multiple',
  );
  let previous = first;
  for (const end of rest) {
    const gap = end - previous;
    assert.ok(Math.abs(gap - INTERVAL_MS) < LATE_MS, `intervals ${gap} ms apart`);
    previous = end;
  }
});
