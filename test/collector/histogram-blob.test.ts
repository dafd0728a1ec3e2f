// Stored histograms are added into a read's running sum in place, read straight from
// their bytes: the result must be what decoding each in full and merging gives, for
// every form the store can hold.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addEncoded,
  decodeHistogram,
  encodeHistogram,
  scan,
} from '../../collector/store/histogram-blob.js';
import { Histogram } from '../../proto/gen/tollgate/v1.js';
import { emptyHistogram, fromValues, merge, type SparseHistogram } from '../../proto/histogram.js';

/** A deterministic pseudo-random histogram: `n` values spread over six decades. */
function sample(seed: number, n: number): SparseHistogram {
  let x = seed;
  const values = Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return Math.floor(10 ** (3 + (x / 2 ** 31) * 6));
  });
  return fromValues(values);
}

const plain = (h: SparseHistogram) => ({
  layout: h.layout,
  indexes: [...h.indexes],
  counts: [...h.counts],
  sumNs: h.sumNs,
});

test('rows added in place from their bytes equal rows decoded and merged', () => {
  let reference = emptyHistogram();
  let running = emptyHistogram();
  for (let seed = 1; seed <= 200; seed++) {
    // Some rows are one value, some thousands: new buckets arrive at any position.
    const h = sample(seed, seed % 7 === 0 ? 3000 : 1 + (seed % 40));
    // Read from the bytes, not by the full decoder it falls back to.
    assert.deepEqual(scan(encodeHistogram(h)!), {
      layout: h.layout,
      n: h.indexes.length,
      sumNs: h.sumNs,
    });
    reference = merge(reference, h);
    running = addEncoded(running, encodeHistogram(h)!);
  }
  assert.deepEqual(plain(running), plain(reference));
});

test('counts and sums past 2^32 stay exact', () => {
  const big: SparseHistogram = {
    layout: 'HISTOGRAM_LAYOUT_LOG_LINEAR_16',
    indexes: [3, 200, 607],
    counts: [2 ** 33 + 5, 1, 2 ** 40],
    sumNs: 2 ** 50 + 3,
  };
  const sum = addEncoded(
    addEncoded(emptyHistogram(), encodeHistogram(big)!),
    encodeHistogram(big)!,
  );
  assert.deepEqual(plain(sum), {
    ...plain(big),
    counts: big.counts.map((c) => 2 * c),
    sumNs: 2 * big.sumNs,
  });
});

test('a histogram of the coarse layout does not mix into a log-linear sum, and gives way to one', () => {
  const fine = sample(7, 50);
  const coarse: SparseHistogram = {
    layout: 'HISTOGRAM_LAYOUT_POWER_OF_TWO',
    indexes: [10, 12],
    counts: [4, 5],
    sumNs: 9000,
  };
  const fineFirst = addEncoded(
    addEncoded(emptyHistogram(), encodeHistogram(fine)!),
    encodeHistogram(coarse)!,
  );
  assert.deepEqual(plain(fineFirst), plain(fine));
  const coarseFirst = addEncoded(
    addEncoded(emptyHistogram(), encodeHistogram(coarse)!),
    encodeHistogram(fine)!,
  );
  assert.deepEqual(plain(coarseFirst), plain(fine));
  const coarseOnly = addEncoded(emptyHistogram(), encodeHistogram(coarse)!);
  assert.deepEqual(plain(coarseOnly), plain(coarse));
});

test('bytes in another valid form (unpacked repeated fields) are decoded in full, the same', () => {
  // layout = 1; indexes 5 and 9 unpacked (tag 0x10); counts 2 and 3 unpacked (tag 0x18);
  // sum_ns = 100.
  const unpacked = Uint8Array.from([0x08, 1, 0x10, 5, 0x10, 9, 0x18, 2, 0x18, 3, 0x20, 100]);
  assert.equal(scan(unpacked), undefined);
  assert.equal(scan(encodeHistogram(sample(3, 20))!.subarray(0, 9)), undefined, 'truncated');
  assert.deepEqual(plain(decodeHistogram(unpacked)), {
    layout: 'HISTOGRAM_LAYOUT_LOG_LINEAR_16',
    indexes: [5, 9],
    counts: [2, 3],
    sumNs: 100,
  });
  const sum = addEncoded(addEncoded(emptyHistogram(), unpacked), encodeHistogram(sample(3, 20))!);
  assert.deepEqual(plain(sum), plain(merge(decodeHistogram(unpacked), sample(3, 20))));
});

test('a histogram is stored in the bytes the generic encoder gives, every layout and size', () => {
  const cases: SparseHistogram[] = [
    sample(1, 1),
    sample(2, 500),
    { ...sample(3, 20), sumNs: 0 },
    { layout: 'HISTOGRAM_LAYOUT_POWER_OF_TWO', indexes: [0, 5, 63], counts: [1, 2, 3], sumNs: 9 },
    // Past 2^32 and up to 2^53 - 1, where a varint takes 8 bytes.
    { ...sample(4, 3), counts: [2 ** 40, 2 ** 53 - 1, 127], sumNs: 2 ** 52 + 1 },
    // 128 bucket indexes and more: the packed field's length takes two bytes.
    sample(5, 20_000),
  ];
  for (const h of cases) {
    const stored = encodeHistogram(h)!;
    assert.deepEqual(stored, Buffer.from(Histogram.encode(h)), JSON.stringify(h).slice(0, 80));
    assert.deepEqual(plain(decodeHistogram(stored)), plain(h));
  }
  assert.equal(encodeHistogram(emptyHistogram()), null);
});
