// A batch's raw rows of a kind packed into one blob, and read back: every number as it
// was written, histograms byte for byte, columns the body lacks as 0, columns the reader
// does not know skipped, and a fold's sums and peaks the rows' own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyAggregate, type Row } from '../../collector/store/aggregate.js';
import { decodeHistogram, encodeHistogram } from '../../collector/store/histogram-blob.js';
import { foldPacked, packRows, RawPacker, unpackRows } from '../../collector/store/packed-rows.js';
import { type SeriesKind, seriesKind } from '../../collector/store/series.js';
import { Histogram } from '../../proto/gen/tollgate/v1.js';
import { emptyHistogram, fromValues } from '../../proto/histogram.js';

const resource = seriesKind('resource');

function resourceRow(cpu: number, rssSum: number, samples: number, rssMax: number): Row {
  return { cpu_ns: cpu, rss_bytes_sum: rssSum, samples, rss_bytes_max: rssMax };
}

test('every number comes back as it was written', () => {
  const values = [
    0,
    1,
    -1,
    127,
    128,
    2 ** 31,
    2 ** 32 + 5,
    2 ** 51 - 1,
    -(2 ** 51) + 1,
    2 ** 51,
    Number.MAX_SAFE_INTEGER,
    -Number.MAX_SAFE_INTEGER,
    0.5,
    -1234.25,
    1e300,
  ];
  const sids = values.map((_, i) => i * 1000 + 7);
  const rows = values.map((v, i) => resourceRow(v, i, 2 ** 40 + i, v === 0 ? 7 : -v));
  const back = [...unpackRows(resource, packRows(resource, sids, rows))];
  assert.deepEqual(
    back.map((r) => r.sid),
    sids,
  );
  assert.deepEqual(
    back.map((r) => r.row),
    rows,
  );
});

test('histograms come back byte for byte, and none as null', () => {
  const end = seriesKind('end');
  const hist = encodeHistogram(fromValues([1_000, 2_000, 5_000_000]))!;
  const row: Row = {};
  for (const c of end.sums) row[c] = 3;
  row.connect_latency = null;
  row.exchange_latency = hist;
  row.srtt = null;
  const [back] = [...unpackRows(end, packRows(end, [42], [row]))];
  assert.equal(back!.sid, 42);
  assert.deepEqual(Buffer.from(back!.row.exchange_latency as Uint8Array), hist);
  assert.equal(back!.row.connect_latency, null);
  assert.deepEqual(decodeHistogram(back!.row.exchange_latency as Uint8Array).counts, [1, 1, 1]);
});

test('a body written with fewer columns reads them as 0; columns the reader lacks are skipped', () => {
  const older: SeriesKind = { name: 'resource', sums: ['cpu_ns', 'gone'], maxes: [], hists: [] };
  const body = packRows(older, [5], [{ cpu_ns: 11, gone: 99 }]);
  const [back] = [...unpackRows(resource, body)];
  assert.deepEqual(back!.row, { cpu_ns: 11, rss_bytes_sum: 0, samples: 0, rss_bytes_max: 0 });
});

test('a fold adds the reports of each series and takes their peaks', () => {
  const body = packRows(
    resource,
    [1, 2, 1],
    [resourceRow(10, 100, 1, 50), resourceRow(20, 200, 1, 70), resourceRow(5, 300, 2, 90)],
  );
  const out = new Map<number, ReturnType<typeof emptyAggregate>>();
  const into = (bucket: number, sid: number) => {
    assert.equal(bucket, 60_000);
    let a = out.get(sid);
    if (!a) {
      a = emptyAggregate(resource);
      out.set(sid, a);
    }
    return a;
  };
  const budget = { rows: 10 };
  foldPacked(resource, body, 60_000, into, budget);
  assert.deepEqual(out.get(1)!.sums, { cpu_ns: 15, rss_bytes_sum: 400, samples: 3 });
  assert.deepEqual(out.get(1)!.maxes, { rss_bytes_max: 90 });
  assert.deepEqual(out.get(2)!.sums, { cpu_ns: 20, rss_bytes_sum: 200, samples: 1 });
  assert.equal(budget.rows, 7, 'a row of the budget per report');
});

test('a row without a column, or a truncated body, is refused', () => {
  assert.throws(() => packRows(resource, [1], [{ cpu_ns: 1 }]), /lacks its column/);
  const body = packRows(resource, [1], [resourceRow(2 ** 40, 1, 1, 1)]);
  assert.throws(() => [...unpackRows(resource, body.subarray(0, body.length - 2))], /ends early/);
});

test("a report's histograms written in place read back as protobuf's own encoding of them", () => {
  const end = seriesKind('end');
  const numbers = end.sums.map((_, i) => i * 3);
  const exchange = fromValues([1_000, 2_000, 2_000, 5_000_000, 9e9]);
  const packer = new RawPacker(end);
  packer.addValues(9, numbers, [undefined, exchange, emptyHistogram()]);
  packer.addValues(10, numbers, [exchange, undefined, undefined]);
  const back = [...unpackRows(end, packer.take())];
  assert.deepEqual(
    back.map((r) => r.sid),
    [9, 10],
  );
  const wire = Buffer.from(Histogram.encode(exchange));
  assert.deepEqual(Buffer.from(back[0]!.row.exchange_latency as Uint8Array), wire);
  assert.equal(back[0]!.row.connect_latency, null);
  assert.equal(back[0]!.row.srtt, null, 'an empty histogram is stored as none');
  assert.deepEqual(Buffer.from(back[1]!.row.connect_latency as Uint8Array), wire);
  assert.deepEqual(
    end.sums.map((c) => back[1]!.row[c]),
    numbers,
  );
  assert.throws(() => packer.addValues(1, [1, 2], []), /report of 2 numbers/);
});
