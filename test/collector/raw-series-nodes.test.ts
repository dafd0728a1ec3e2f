// Raw rows are packed per batch, under the node whose agent sent them: a series read at
// 1 s steps gets exactly its own reports, whichever nodes' batches share its seconds, and
// a store written before packing (schema 10) reads the same after its migration.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { Store } from '../../collector/store/store.js';
import { Batch, type EdgeReport, type Init } from '../../proto/gen/tollgate/v1.js';
import { backToSchema } from './older-store.js';

const T0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;

/** Node n's batch of second `sec`: one client end whose bytes sent say node and second. */
function batch(n: number, sec: number): Batch {
  const ref = { pid: 100, startTimeTicks: 1 };
  const edge: Init<EdgeReport> = {
    process: ref,
    side: 'CONNECTION_SIDE_CLIENT',
    local: { address: '10.0.0.1' },
    remote: { address: '10.0.0.2', port: 80 },
    bytesSent: n * 1000 + sec,
    sendOps: 1,
  };
  return Batch.decode(
    Batch.encode({
      agentId: `agent-${n}`,
      bootId: 'b',
      sequence: sec + 1,
      node: `node-${n}`,
      intervalStartUnixMs: T0 + sec * 1000,
      intervalEndUnixMs: T0 + sec * 1000 + 1000,
      processes: [{ ref, comm: 'app', netnsInode: 1 }],
      edges: [edge],
    }),
  );
}

function bytesByNode(store: Store): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const end of store.ends()) {
    const node = store.processes().find((p) => p.id === end.process)!.node;
    const steps = store.readSeries('end', [end.id], T0, T0 + 10_000, 1000, T0 + 11_000);
    out.set(
      node,
      steps.map((s) => s.aggregate.sums.bytes_sent!),
    );
  }
  return out;
}

test("a series' raw steps are its own node's reports, before and after a migration packs them", () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-raw-nodes-'));
  try {
    const path = join(dir, 'tollgate.db');
    const store = Store.open(path);
    for (let sec = 0; sec < 5; sec++)
      store.commit(
        [0, 1, 2].map((n) => batch(n, sec)),
        T0 + 10_000,
      );
    const expected = new Map(
      [0, 1, 2].map((n) => [`node-${n}`, [0, 1, 2, 3, 4].map((sec) => n * 1000 + sec)]),
    );
    assert.deepEqual(bytesByNode(store), expected);
    store.close();

    const db = new Database(path);
    backToSchema(db, 10);
    db.close();
    const migrated = Store.open(path);
    try {
      assert.deepEqual(bytesByNode(migrated), expected);
    } finally {
      migrated.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
