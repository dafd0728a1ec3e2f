// Histograms are stored as encoded tollgate.v1.Histogram messages: compact, and the same
// bytes the wire carries. Empty histograms are stored as NULL.
import { Histogram } from '../../proto/gen/tollgate/v1.js';
import {
  addInto,
  BUCKET_COUNT,
  emptyHistogram,
  type Layout,
  type SparseHistogram,
} from '../../proto/histogram.js';

export function encodeHistogram(h: Histogram | SparseHistogram | undefined): Buffer | null {
  if (!h || h.indexes.length === 0) return null;
  return Buffer.from(Histogram.encode(h));
}

export function decodeHistogram(blob: Uint8Array | null): SparseHistogram {
  if (!blob) return emptyHistogram();
  const h = Histogram.decode(blob);
  return { layout: h.layout as Layout, indexes: h.indexes, counts: h.counts, sumNs: h.sumNs };
}

const LAYOUTS: readonly (Layout | undefined)[] = [
  undefined,
  'HISTOGRAM_LAYOUT_LOG_LINEAR_16',
  'HISTOGRAM_LAYOUT_POWER_OF_TWO',
];
// One row's buckets, read straight from the blob; reused (reads are synchronous).
const scratchIndexes = new Float64Array(BUCKET_COUNT);
const scratchCounts = new Float64Array(BUCKET_COUNT);

/**
 * Reads a stored histogram's buckets into the scratch arrays without building a message:
 * the wire format of tollgate.v1.Histogram (layout = 1, packed indexes = 2, packed counts
 * = 3, sum_ns = 4), varints read as numbers (exact below 2^53, as the histograms' own
 * arithmetic is). Anything else (an unpacked or unknown field, more buckets than the
 * layout has, a truncated blob) returns undefined and the caller decodes in full.
 */
export function scan(blob: Uint8Array): { layout: Layout; n: number; sumNs: number } | undefined {
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (pos >= blob.length) throw new RangeError('truncated');
      const b = blob[pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
  };
  let layout: Layout | undefined;
  let n = 0;
  let counts = 0;
  let sumNs = 0;
  try {
    while (pos < blob.length) {
      const tag = varint();
      if (tag === 0x08) layout = LAYOUTS[varint()];
      else if (tag === 0x20) sumNs = varint();
      else if (tag === 0x12 || tag === 0x1a) {
        const length = varint();
        const end = pos + length;
        if (end > blob.length) return undefined;
        const into = tag === 0x12 ? scratchIndexes : scratchCounts;
        let k = 0;
        while (pos < end) {
          if (k >= BUCKET_COUNT) return undefined;
          into[k++] = varint();
        }
        if (tag === 0x12) n = k;
        else counts = k;
      } else return undefined;
    }
  } catch {
    return undefined;
  }
  // Proto3 leaves a zero layout out; a histogram always names its layout, so no layout
  // is not a form this reader knows.
  if (layout === undefined || n !== counts) return undefined;
  return { layout, n, sumNs };
}

/**
 * Adds a stored histogram into `into` in place and returns what holds the sum: `into`
 * itself, or, where the layouts differ (a node on the bpftrace fallback), the finer
 * log-linear one kept whole rather than mixing incomparable buckets.
 */
export function addEncoded(into: SparseHistogram, blob: Uint8Array): SparseHistogram {
  const scanned = scan(blob);
  if (!scanned) {
    const h = decodeHistogram(blob);
    return addDecoded(into, h.layout, h.indexes, h.counts, h.indexes.length, h.sumNs);
  }
  return addDecoded(into, scanned.layout, scratchIndexes, scratchCounts, scanned.n, scanned.sumNs);
}

function addDecoded(
  into: SparseHistogram,
  layout: Layout,
  indexes: ArrayLike<number>,
  counts: ArrayLike<number>,
  n: number,
  sumNs: number,
): SparseHistogram {
  if (n === 0) {
    into.sumNs += sumNs;
    return into;
  }
  if (into.indexes.length === 0) into.layout = layout;
  else if (into.layout !== layout) {
    if (into.layout === 'HISTOGRAM_LAYOUT_LOG_LINEAR_16') return into;
    into.layout = layout;
    into.indexes.length = 0;
    into.counts.length = 0;
    into.sumNs = 0;
  }
  addInto(into, indexes, counts, n, sumNs);
  return into;
}
