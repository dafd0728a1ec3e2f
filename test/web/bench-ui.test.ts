// The UI benchmark's machinery on a small mesh: the page draws exactly the processes and
// edges the agents sent, the pan is measured in frames the page drew, and the day of
// history holds a row per series a minute and an hour, which the 6 h and 24 h windows
// chosen in the page load (every node drawn from them).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchUi, meshOfPods } from '../../bench/ui.js';

test('bench ui draws the mesh it sent and counts the frames of the pan', async () => {
  const options = {
    pods: 50,
    edgesPerPod: 6,
    nodes: 2,
    panMs: 1000,
    historyHours: 24,
    recentS: 30,
    windowRounds: 2,
  };
  const clientEnds = meshOfPods(options)
    .flatMap((b) => b.edges ?? [])
    .filter((e) => e.side === 'CONNECTION_SIDE_CLIENT').length;
  const r = await benchUi(options);
  assert.equal(r.processes, 100);
  assert.equal(r.edges, clientEnds, 'one edge per client end, every one joined');
  assert.ok(r.first_render_ms > 0);
  assert.ok(r.frames_pan > 10 && r.fps_pan > 10, JSON.stringify(r));
  assert.ok(r.pan_s >= 1 && r.pan_s < 3, JSON.stringify(r));
  // Series: both ends of every edge, and each sidecar's inbound and outbound hops.
  const series = 2 * clientEnds + 2 * options.pods;
  const { rows } = r.history!;
  assert.equal(rows.minute % series, 0, 'every series has a row each minute');
  assert.equal(rows.hour % series, 0, 'and each hour');
  assert.ok(rows.minute / series >= 24 * 60, `${rows.minute / series} minutes of history`);
  assert.ok(rows.hour / series >= 23, `${rows.hour / series} hours of history`);
  assert.ok(rows.raw >= series * options.recentS, 'the recent part a row a second');
  for (const w of ['6h', '24h'] as const) {
    const load = r.window_loads![w];
    assert.ok(load.min > 0 && load.min <= load.median && load.median <= load.max, w);
  }
  assert.equal(r.window_24h_load_ms, r.window_loads!['24h'].median);
});
