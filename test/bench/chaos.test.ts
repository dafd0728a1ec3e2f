// bench chaos at test size: the collector SIGKILLed twice and stalled once under
// long-lived load, while a million short connections go through the node. Every batch
// the agent made is stored exactly once, the long-lived connections' bytes are exact,
// every short connection is counted, the topology of the long-lived and the short
// connections stays exact, and kernel, agent and collector memory stay bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchChaos, expectedClientEdges, parseAgentExitSummary } from '../../bench/chaos.js';

test('collector killed and stalled under load, a million short connections: nothing lost, doubled or unbounded', async (t) => {
  const r = await benchChaos(
    {
      durationS: 30,
      rate: 200,
      connections: 2,
      churnConnections: 1_000_000,
      churnConcurrency: 64,
      collectorKills: 2,
      downS: [4, 0],
      stallS: 3,
      intervalS: 0.5,
    },
    (line) => t.diagnostic(line),
  );
  t.diagnostic(JSON.stringify(r));
  const batches = `batches: ${JSON.stringify({ ...r, long_lived: undefined, churn: undefined, client_edges: undefined })}`;
  assert.equal(r.collector_kills, 2);
  assert.ok(r.batches_sent >= 100, `batches made: ${r.batches_sent}`);
  assert.equal(r.batches_stored, r.batches_sent, `every batch made is stored; ${batches}`);
  assert.equal(r.lost, 0, batches);
  assert.equal(
    r.batches_acked,
    r.batches_sent,
    `every batch acknowledged once in the end; ${batches}`,
  );
  assert.equal(r.rejected, 0, batches);
  assert.equal(r.spool_dropped, 0, batches);
  assert.deepEqual(
    r.long_lived.counters.filter((c) => c.expected !== c.reported),
    [],
    'long-lived bytes exact: nothing counted twice, nothing missing',
  );
  assert.ok(r.long_lived.exchanges >= 0.9 * 200 * 30);
  const churn = `churn: ${JSON.stringify(r.churn)}`;
  assert.equal(r.churn.failed, 0, churn);
  assert.equal(r.churn.connections, 1_000_000, churn);
  assert.equal(r.churn.connects_reported, 1_000_000, churn);
  assert.equal(r.churn.accepts_reported, 1_000_000, churn);
  assert.deepEqual(
    r.client_edges,
    expectedClientEdges(),
    'each client one edge, to its own server: shared ephemeral ports do not cross the join',
  );
  assert.ok(r.churn.kernel_map_bytes_before > 0, churn);
  // The maps' memory follows what they hold: a million sockets later, within 1 MiB of
  // where it was (a million states kept would be ~200 MB).
  assert.ok(r.churn.kernel_map_bytes_after - r.churn.kernel_map_bytes_before < 2 ** 20, churn);
  // A million sockets came and went; their states went with them.
  assert.ok(r.churn.socket_states_after <= r.churn.socket_states_bound, churn);
  // Aggregation follows process pairs, not connections: a million connections are a few ends.
  assert.ok(r.store.ends < 50, `ends stored: ${r.store.ends}`);
  assert.ok(r.max_agent_rss_mb > 0 && r.max_agent_rss_mb <= 150, `agent ${r.max_agent_rss_mb} MB`);
  assert.ok(
    r.max_collector_rss_mb > 0 && r.max_collector_rss_mb <= 300,
    `collector ${r.max_collector_rss_mb} MB`,
  );
  assert.equal(r.programs_left, 0, 'tg_ programs left after the agent stopped');
});

test("the agent's exit summary is read back exactly, and its absence is an error", () => {
  assert.deepEqual(
    parseAgentExitSummary(
      'x\ntollgate agent: stopped after 12 batches: 9 stored, 2 already stored, 0 rejected, 1 not acknowledged (lost at exit), 3 dropped from a full spool\n',
    ),
    { made: 12, stored: 9, duplicates: 2, rejected: 0, unacknowledged: 1, spoolDropped: 3 },
  );
  assert.throws(() => parseAgentExitSummary('tollgate agent: node n1'), /exit summary/);
});
