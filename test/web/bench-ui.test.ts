// The UI benchmark's machinery on a small mesh: the page draws exactly the processes and
// edges the agents sent, and the pan is measured in frames the page drew.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchUi, meshOfPods } from '../../bench/ui.js';

test('bench ui draws the mesh it sent and counts the frames of the pan', async () => {
  const options = { pods: 50, edgesPerPod: 6, nodes: 2, panMs: 1000 };
  const clientEnds = meshOfPods(options)
    .flatMap((b) => b.edges ?? [])
    .filter((e) => e.side === 'CONNECTION_SIDE_CLIENT').length;
  const r = await benchUi(options);
  assert.equal(r.processes, 100);
  assert.equal(r.edges, clientEnds, 'one edge per client end, every one joined');
  assert.ok(r.first_render_ms > 0);
  assert.ok(r.frames_pan > 10 && r.fps_pan > 10, JSON.stringify(r));
  assert.ok(r.pan_s >= 1 && r.pan_s < 3, JSON.stringify(r));
});
