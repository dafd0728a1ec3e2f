// bench scale at test size: 20 simulated agents (the real shipper, each its own agent,
// boot, node and connection) against one collector process. Ground truths are the
// generator's: the batches the agents made, the bytes their edges carried, and the
// connections between their pods, which give the topology the collector must serve.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { benchScale, DEFAULT_SCALE_BENCH } from '../../bench/scale.js';
import { scaleModel } from '../../bench/scale-model.js';
import {
  BUSY_NODE,
  edgesPerPod,
  nodeInterval,
  nodeStatics,
  recordsPerInterval,
} from '../../bench/scale-node.js';

const AGENTS = 20;
const INTERVALS = 5;

const scratch = () =>
  new Set(readdirSync(tmpdir()).filter((f) => f.startsWith('tollgate-bench-scale-')));

test('shape: records per interval are what a node interval holds', () => {
  const statics = nodeStatics(BUSY_NODE, 3);
  const batch = nodeInterval(BUSY_NODE, AGENTS, 3, 1, 1_000_000, statics);
  assert.equal(batch.processes?.length, BUSY_NODE.pods * 2);
  assert.equal(batch.edges?.length, BUSY_NODE.pods * edgesPerPod(BUSY_NODE));
  assert.equal(
    (batch.edges?.length ?? 0) + (batch.hops?.length ?? 0) + (batch.resources?.length ?? 0),
    recordsPerInterval(BUSY_NODE),
  );
});

test('model: cores, replicas and store sizes, worked by hand', () => {
  const m = scaleModel({
    nodes: 1000,
    recordsPerNodePerS: 100,
    recordsPerSPerCore: 20_000,
    saturatedRecordsPerS: 10_000,
    rawBytesPerRecord: 150,
    rollupBytesPerRow: 240,
    batchBytesPerRecord: 1,
    tupleBytesPerRecord: 60,
  });
  assert.equal(m.records_per_s, 100_000);
  assert.equal(m.collector_cores, 5);
  // A replica planned at 70% of the 10,000 records/s one stored: 100,000 / 7,000.
  assert.equal(m.replica_records_per_s, 7_000);
  assert.equal(m.collector_replicas, 15);
  // Per second: raw 150 + rolled-up rows (one per 10 s, minute, 10 min and hour: 0.11861
  // a second) x 240 + 1 = 179.47 bytes per record; x 100,000 records/s.
  assert.equal(m.store_gb_per_hour, 64.6);
  assert.equal(m.store_gb_per_day, 1550.6);
  // Held: raw 6 h (21,600 rows a series) x 150, 10 s 6 h (2,160) + minute 7 days (10,080)
  // + 10 min 7 days (1,008) + hour 90 days (2,160) = 15,408 rows x 240, a day of batch
  // identities x 1, 10 minutes of tuples x 60 = 7,060,320 bytes; x 100,000 records/s.
  assert.equal(m.store_gb_retained, 706);
});

test('20 agents against one collector: every batch stored once, the topology exact', async (t) => {
  const before = scratch();
  const r = await benchScale(
    {
      ...DEFAULT_SCALE_BENCH,
      agents: AGENTS,
      intervals: INTERVALS,
      drainTimeoutMs: 300_000,
    },
    (line) => t.diagnostic(line),
  );
  t.diagnostic(JSON.stringify({ ...r, model: undefined }));
  const batches = `batches: ${JSON.stringify({ ...r, topology: undefined, model: undefined })}`;

  // Every batch the agents made (one of warm-up and INTERVALS each) is stored, once.
  const made = AGENTS * (INTERVALS + 1);
  assert.equal(r.batches_sent, made, batches);
  assert.equal(r.batches_stored, made, batches);
  assert.equal(r.batches_stored_collector, made, batches);
  assert.equal(r.batches_acked, made, batches);
  assert.equal(r.lost, 0, batches);
  assert.equal(r.rejected, 0, batches);
  assert.equal(r.records, AGENTS * INTERVALS * recordsPerInterval(BUSY_NODE), batches);
  // Once, not twice: the bytes the generator put in every edge of every batch, each
  // counted once in the store (a batch stored twice would count its bytes twice).
  let bytesSent = 0;
  for (let a = 0; a < AGENTS; a++) {
    const statics = nodeStatics(BUSY_NODE, a);
    for (let k = 0; k <= INTERVALS; k++)
      for (const e of nodeInterval(BUSY_NODE, AGENTS, a, k, 0, statics).edges ?? [])
        bytesSent += e.bytesSent ?? 0;
  }
  assert.equal(r.stored_bytes_sent, bytesSent);
  // Each agent on a connection of its own, as separate nodes would be.
  assert.equal(r.connections, AGENTS);

  // The topology: each node's 60 processes, and per pod its sidecar to its 3 upstreams
  // on other nodes (joined across agents) and to its app, its app to its sidecar and
  // to the external endpoint.
  assert.ok(!('error' in r.topology), JSON.stringify(r.topology));
  const topo = r.topology;
  assert.equal(topo.processes, AGENTS * BUSY_NODE.pods * 2);
  assert.deepEqual(topo.processes_per_node, { min: BUSY_NODE.pods * 2, max: BUSY_NODE.pods * 2 });
  const perNode = BUSY_NODE.pods * (BUSY_NODE.upstreams + 3);
  assert.deepEqual(topo.edges_per_node, { min: perNode, max: perNode });
  assert.equal(topo.edges_expected, AGENTS * perNode);
  assert.equal(topo.edges, topo.edges_expected);
  assert.deepEqual(topo.edges_missing, []);
  assert.deepEqual(topo.edges_unexpected, []);
  assert.equal(topo.edges_joined_otherwise, 0);

  // Acknowledgement times: one per measured batch, ordered, and within the run.
  assert.equal(r.acks_timed, AGENTS * INTERVALS);
  assert.ok(r.ack_p50_ms > 0 && r.ack_p50_ms <= r.ack_p99_ms && r.ack_p99_ms <= r.ack_max_ms);
  assert.ok(r.ack_max_ms < 300_000 + INTERVALS * 1000);
  assert.ok(r.records_per_s_wall > 0 && r.records_per_s_per_core > 0);
  assert.ok(r.collector_cpu_s > 0 && r.sender_cpu_s > 0);
  // The store grew by its raw rows at least, a record each.
  assert.ok(r.store_raw_bytes_per_record > 0 && r.store_mb_per_hour > 0);
  assert.ok(r.model.collector_replicas >= 1 && r.model.store_gb_retained > 0);

  // What the bench made it removed.
  assert.deepEqual(
    [...scratch()].filter((f) => !before.has(f)),
    [],
  );
});
