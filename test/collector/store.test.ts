// The store's tiers: rows rolled up to minutes and hours read back as the same totals and
// histograms as the raw rows they came from; a range reaching past raw retention is
// answered from the rollups; a batch arriving after its minute was rolled up still counts;
// and nothing is kept forever: identities and ends go when their rows have.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { Store } from '../../collector/store/store.js';
import { planRange, tiers } from '../../collector/store/tiers.js';
import type { Batch } from '../../proto/gen/tollgate/v1.js';
import { Batch as BatchCodec } from '../../proto/gen/tollgate/v1.js';
import { quantile, totalCount } from '../../proto/histogram.js';
import { meshBatch } from './mesh-batches.js';
import { backToSchema } from './older-store.js';

const MINUTE = 60_000;
const asBatch = (i: number, startMs: number): Batch =>
  BatchCodec.decode(
    BatchCodec.encode({ agentId: 'a', bootId: 'b', sequence: i, ...meshBatch(i, startMs) }),
  );

test('planRange sends each part of a range to the finest tier that still holds it', () => {
  const list = tiers({
    rawMs: 60 * MINUTE,
    minuteMs: 24 * 60 * MINUTE,
    hourMs: 7 * 24 * 60 * MINUTE,
  });
  const now = 100 * 60 * MINUTE;
  const rolled = new Map([
    ['minute', now - 5 * MINUTE],
    ['hour', now - 2 * 60 * MINUTE],
  ] as const);
  // Within raw retention: raw only.
  assert.deepEqual(
    planRange(now - 30 * MINUTE, now, now, list, rolled).map((s) => s.tier.name),
    ['raw'],
  );
  // Reaching 3 h back: minutes for what raw no longer holds, raw for the rest.
  const spans = planRange(now - 3 * 60 * MINUTE, now, now, list, rolled);
  assert.deepEqual(
    spans.map((s) => [s.tier.name, s.fromMs, s.toMs]),
    [
      ['minute', now - 3 * 60 * MINUTE, now - 60 * MINUTE],
      ['raw', now - 60 * MINUTE, now],
    ],
  );
});

test('planRange never reads a bucket from two tiers, nor leaves one to a tier that no longer holds it', () => {
  const list = tiers({
    rawMs: 60 * MINUTE,
    minuteMs: 24 * 60 * MINUTE,
    hourMs: 7 * 24 * 60 * MINUTE,
  });
  const now = 100 * 60 * MINUTE + 17_000; // raw rows are kept from 99 h 17 s
  const rolled = new Map([
    ['minute', 100 * 60 * MINUTE - MINUTE],
    ['hour', 98 * 60 * MINUTE],
  ] as const);
  const at = (h: number, m: number, s = 0) => h * 60 * MINUTE + m * MINUTE + s * 1000;
  // Read as finely as kept: the minute 99:00 is read whole from the minute tier, and raw
  // rows only from 99:01, not from 99:00:17 as well.
  assert.deepEqual(
    planRange(now - 2 * 60 * MINUTE, now, now, list, rolled).map((s) => [
      s.tier.name,
      s.fromMs,
      s.toMs,
    ]),
    [
      ['minute', at(98, 0), at(99, 1)],
      ['raw', at(99, 1), now],
    ],
  );
  // A range ending inside that minute, read by the minute: the minute tier answers for
  // all of it; raw rows do not hold 99:00:00-99:00:17.
  const to = at(99, 0, 22);
  assert.deepEqual(
    planRange(to - 2 * 60 * MINUTE, to, now, list, rolled, 72_000).map((s) => [
      s.tier.name,
      s.fromMs,
      s.toMs,
    ]),
    [['minute', at(97, 0), to]],
  );
});

test('rollups keep totals and histograms; old ranges are read from them; late batches count', () => {
  const hour = 3_600_000;
  const store = Store.open(':memory:', {
    retention: { rawMs: hour, minuteMs: 10 * hour, hourMs: 100 * hour },
    rollupGraceMs: 0,
  });
  const start = Math.floor(Date.now() / hour) * hour - 3 * hour;
  // 90 one-second intervals spread over two minutes, three hours ago.
  const batches = Array.from({ length: 90 }, (_, k) => asBatch(k + 1, start + k * 1333));
  store.commit(batches, start + 200_000);
  const range = { from: start, to: start + 10 * MINUTE };
  const before = store.read('end', range.from, range.to, start + 200_000);

  // Roll up as of now: the raw rows are past their retention and deleted.
  const now = Date.now();
  store.maintain(now);
  const after = store.read('end', range.from, range.to, now);
  assert.equal(after.size, before.size);
  for (const [sid, aggregate] of before) {
    const rolled = after.get(sid)!;
    assert.deepEqual(rolled.sums, aggregate.sums, `end ${sid} counters`);
    const h = aggregate.hists.exchange_latency!;
    assert.equal(totalCount(rolled.hists.exchange_latency!), totalCount(h));
    assert.equal(quantile(rolled.hists.exchange_latency!, 0.99), quantile(h, 0.99));
  }

  // A replayed batch of that old minute lands in the rollup directly.
  const exchangesBefore = [...after.values()].reduce((n, a) => n + a.sums.exchanges!, 0);
  store.commit([asBatch(91, start + 1000)], now);
  const late = store.read('end', range.from, range.to, now);
  const exchangesAfter = [...late.values()].reduce((n, a) => n + a.sums.exchanges!, 0);
  assert.equal(exchangesAfter - exchangesBefore, 7 * 50, 'seven ends with 50 exchanges each');
  // Late rows of one series and rollup bucket in one group of batches are merged together,
  // and a replay among them is still stored once.
  store.commit(
    [asBatch(92, start + 2000), asBatch(93, start + 3000), asBatch(92, start + 2000)],
    now,
  );
  const later = store.read('end', range.from, range.to, now);
  const exchangesLater = [...later.values()].reduce((n, a) => n + a.sums.exchanges!, 0);
  assert.equal(exchangesLater - exchangesAfter, 2 * 7 * 50, 'two more batches, not three');
  store.close();
});

test('a window is read from the coarsest rollups inside it: the same totals from a few rows', () => {
  const hour = 3_600_000;
  const store = Store.open(':memory:', { rollupGraceMs: 0, rollupBudgetMs: 60_000 });
  const start = Math.floor(Date.now() / hour) * hour - 4 * hour;
  // A report every 20 s for 2.5 h, each with the same seven ends: 450 raw rows per end.
  store.commit(
    Array.from({ length: 450 }, (_, k) => asBatch(k + 1, start + k * 20_000)),
    start + 3 * hour,
  );
  const range = { from: start, to: start + 2.5 * hour };
  const spent = (read: (budget: { rows: number }) => void) => {
    const budget = { rows: 1e9 };
    read(budget);
    return 1e9 - budget.rows;
  };
  let raw = new Map<number, { sums: Record<string, number> }>();
  assert.equal(
    spent((b) => {
      raw = store.read('end', range.from, range.to, start + 3 * hour, b);
    }),
    7 * 450,
    'before any rollup: every raw row',
  );
  // Rolled up (raw rows are kept 6 h, so they are all still there): two whole hours from
  // the hour tier and the half hour after them as three rows of 10 minutes, 5 per end.
  const now = Date.now();
  store.maintain(now);
  let rolled = new Map<number, { sums: Record<string, number> }>();
  assert.equal(
    spent((b) => {
      rolled = store.read('end', range.from, range.to, now, b);
    }),
    7 * 5,
  );
  assert.equal(rolled.size, 7);
  for (const [sid, aggregate] of raw) assert.deepEqual(rolled.get(sid)!.sums, aggregate.sums);
  store.close();
});

test('a tier far behind catches up over calls, a few buckets each; nothing is pruned before it is rolled up', () => {
  const hour = 3_600_000;
  // No time budget: each maintain rolls one chunk per tier, so the catch-up is visible.
  const store = Store.open(':memory:', {
    retention: { rawMs: hour, minuteMs: 10 * hour, hourMs: 100 * hour },
    rollupGraceMs: 0,
    rollupBudgetMs: 0,
  });
  const start = Math.floor(Date.now() / hour) * hour - 5 * hour;
  // A report every 20 s for 2 h, five hours ago: all of it past the raw rows' retention.
  store.commit(
    Array.from({ length: 360 }, (_, k) => asBatch(k + 1, start + k * 20_000)),
    start + 2 * hour,
  );
  const range = { from: start, to: start + 2 * hour };
  const read = () => {
    const budget = { rows: 1e9 };
    const sums = [...store.read('end', range.from, range.to, Date.now(), budget).entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([sid, a]) => [sid, a.sums]);
    return { sums, rows: 1e9 - budget.rows };
  };
  const raw = read();
  assert.equal(raw.rows, 7 * 360);
  // One call: the 10 s tier rolls ten buckets (100 s), the minute tier what that covers,
  // and only the raw rows rolled up are pruned; the range still reads whole.
  store.maintain();
  const first = read();
  assert.deepEqual(first.sums, raw.sums);
  assert.ok(first.rows > 7 * 300, `${first.rows} rows: most still raw`);
  // Call after call it catches up; in the end two hour rows per end, the same sums.
  for (let i = 0; i < 400; i++) store.maintain();
  const caughtUp = read();
  assert.deepEqual(caughtUp.sums, raw.sums);
  assert.equal(caughtUp.rows, 7 * 2);
  store.close();
});

test('what describes rows past retention goes with them: processes, ends, hop series, peer names', () => {
  const hour = 3_600_000;
  const dir = mkdtempSync(join(tmpdir(), 'tg-store-prune-'));
  try {
    const path = join(dir, 'store.db');
    const retention = { rawMs: hour, minuteMs: 10 * hour, hourMs: 100 * hour };
    const now = Math.floor(Date.now() / hour) * hour;
    const count = () => {
      const db = new Database(path, { readonly: true });
      try {
        return Object.fromEntries(
          ['processes', 'ends', 'hop_series', 'resource_last', 'links', 'peer_names'].map(
            (table) => [
              table,
              (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n,
            ],
          ),
        );
      } finally {
        db.close();
      }
    };
    const store = Store.open(path, { retention, rollupGraceMs: 0 });
    try {
      // Seen last 101 hours ago, past the longest retention (100 h), with a Service's name.
      const old = BatchCodec.decode(
        BatchCodec.encode({
          agentId: 'a',
          bootId: 'b',
          sequence: 1,
          ...meshBatch(1, now - 101 * hour),
          peers: [
            { address: '10.96.0.10', kind: 'PEER_KIND_SERVICE', namespace: 'shop', name: 'db' },
          ],
        }),
      );
      store.commit([old], now - 101 * hour + 2000);
      const seen = count();
      assert.ok(
        seen.processes! > 0 && seen.ends! > 0 && seen.hop_series! > 0,
        JSON.stringify(seen),
      );
      store.maintain(now - 50 * hour);
      assert.deepEqual(count(), seen, 'within retention: all kept');
      store.maintain(now);
      assert.deepEqual(count(), {
        processes: 0,
        ends: 0,
        hop_series: 0,
        resource_last: 0,
        links: 0,
        peer_names: 0,
      });
      // The same processes seen again: back, and kept while they are seen.
      store.commit([asBatch(2, now - hour)], now - hour + 2000);
      store.maintain(now);
      assert.equal(count().processes, seen.processes);
      assert.equal(count().ends, seen.ends);
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a schema 8 store keeps its ends and hop series, ids and all; a node proxy's per pod are kept apart", () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-schema9-'));
  try {
    const path = join(dir, 'store.db');
    const t0 = Math.floor(Date.now() / MINUTE) * MINUTE - 10 * MINUTE;
    const before = Store.open(path);
    before.commit([asBatch(1, t0)], t0 + 2000);
    const ends = before.ends();
    const hops = before.hopSeries();
    before.close();
    const db = new Database(path);
    backToSchema(db, 8);
    db.close();

    const after = Store.open(path);
    try {
      assert.deepEqual(after.ends(), ends);
      assert.deepEqual(after.hopSeries(), hops);
      assert.ok(ends.every((e) => e.socketPod === null));
      // The same end of one process, once per pod whose namespace holds its sockets.
      const b = asBatch(2, t0 + 1000);
      const end = b.edges[0]!;
      const hop = b.hops[0]!;
      const served = (name: string) => ({
        namespace: 'netns',
        name,
        uid: '',
        node: b.node,
        source: 'POD_SOURCE_NETNS' as const,
        labels: {},
      });
      b.edges = [
        { ...end, socketPod: served('pod-x') },
        { ...end, socketPod: served('pod-y') },
      ];
      b.hops = [
        { ...hop, socketPod: served('pod-x') },
        { ...hop, socketPod: served('pod-y') },
      ];
      after.commit([b], t0 + 3000);
      const added = after.ends().filter((e) => !ends.some((o) => o.id === e.id));
      assert.deepEqual(added.map((e) => e.socketPod).sort(), [
        'pod:netns/pod-x',
        'pod:netns/pod-y',
      ]);
      const addedHops = after.hopSeries().filter((h) => !hops.some((o) => o.id === h.id));
      assert.deepEqual(addedHops.map((h) => h.socketPod).sort(), [
        'pod:netns/pod-x',
        'pod:netns/pod-y',
      ]);
    } finally {
      after.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
