// A process's first CPU sample: only the baseline for a process found running, counted
// whole for one that started within the sample's interval (all its CPU is that
// interval's), so a process born and busy within one interval is not shown idle. Figures
// worked out by hand from mesh-batches' cumulative samples (10 ms per interval, times the
// process's rank).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Queries } from '../../collector/queries.js';
import { SqliteCollectorStore } from '../../collector/store/sqlite-collector-store.js';
import { Store } from '../../collector/store/store.js';
import { type Batch, Batch as BatchCodec, type Init } from '../../proto/gen/tollgate/v1.js';
import { meshBatch } from './mesh-batches.js';

const MINUTE = 60_000;
const INTERVALS = 4;

function batches(t0: number, startedInInterval: boolean): Batch[] {
  return Array.from({ length: INTERVALS }, (_, k) => {
    const i = k + 1;
    const batch: Init<Batch> = {
      agentId: 'a',
      bootId: 'b',
      sequence: i,
      ...meshBatch(i, t0 + k * 1000),
    };
    batch.resources = batch.resources!.map((r) => ({ ...r, startedInInterval }));
    return BatchCodec.decode(BatchCodec.encode(batch));
  });
}

for (const startedInInterval of [false, true]) {
  test(`a process ${startedInInterval ? 'started within' : 'found running before'} its first interval: its first sample ${startedInInterval ? 'counts whole' : 'is the baseline'}`, async () => {
    const store = Store.open(':memory:');
    try {
      const t0 = Math.floor(Date.now() / MINUTE) * MINUTE - 5 * MINUTE;
      for (const [k, batch] of batches(t0, startedInInterval).entries())
        store.commit([batch], t0 + (k + 1) * 1000);
      const view = await new Queries(new SqliteCollectorStore(store)).view({
        fromMs: t0,
        toMs: t0 + MINUTE,
      });
      // pod-a's sidecar is the second process: 20 ms per interval, cumulative.
      const sidecar = view.costs.find((c) => c.name === 'pod-a')!.sidecar!;
      const counted = startedInInterval ? INTERVALS : INTERVALS - 1;
      assert.equal(sidecar.millicores, Number(((counted * 20) / 60).toPrecision(4)));
    } finally {
      store.close();
    }
  });
}
