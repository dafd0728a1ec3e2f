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
  const m = measureHistogram(h);
  if (m === null) return null;
  // A layout this store does not know, or a value that is no count (validation refuses
  // those; a varint written here would be wrong), goes through the generic encoder.
  if (m === undefined) return Buffer.from(Histogram.encode(h!));
  const out = Buffer.allocUnsafe(m.size);
  writeHistogramAt(out, 0, h!, m);
  return out;
}

/** What writeHistogramAt needs of a histogram, measured by measureHistogram. */
export interface HistogramMeasure {
  /** Bytes of the whole encoding. */
  size: number;
  layout: number;
  indexBytes: number;
  countBytes: number;
}

/**
 * The one measure measureHistogram gives, filled afresh by each call: an object made per
 * histogram (three per edge report) was garbage for the collector to collect.
 */
const measure: HistogramMeasure = { size: 0, layout: 0, indexBytes: 0, countBytes: 0 };

/**
 * A histogram's encoded size and parts, for writeHistogramAt: null for none or an empty
 * one (stored as NULL), undefined for one the generic encoder must write. What it gives
 * holds until the next call.
 */
export function measureHistogram(
  h: Histogram | SparseHistogram | undefined,
): HistogramMeasure | null | undefined {
  if (!h || h.indexes.length === 0) return null;
  const layout = LAYOUTS.indexOf(h.layout as Layout);
  const indexBytes = varintsLength(h.indexes);
  const countBytes = varintsLength(h.counts);
  if (layout < 1 || indexBytes < 0 || countBytes < 0 || !isCount(h.sumNs)) return undefined;
  measure.layout = layout;
  measure.indexBytes = indexBytes;
  measure.countBytes = countBytes;
  measure.size =
    2 +
    (1 + varintLength(indexBytes) + indexBytes) +
    (1 + varintLength(countBytes) + countBytes) +
    (h.sumNs > 0 ? 1 + varintLength(h.sumNs) : 0);
  return measure;
}

/** A non-negative integer below 2^53, as a varint here can hold it. */
const isCount = (v: number) => Number.isSafeInteger(v) && v >= 0;

/** Bytes of the varints of `values`, or -1 when one of them is no count (isCount). */
function varintsLength(values: readonly number[]): number {
  let bytes = 0;
  for (const v of values) {
    if (!isCount(v)) return -1;
    bytes += varintLength(v);
  }
  return bytes;
}

/** Bytes of a varint of a non-negative integer below 2^53. */
function varintLength(value: number): number {
  let n = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

function writeVarint(out: Buffer, pos: number, value: number): number {
  while (value >= 128) {
    out[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  return pos;
}

/**
 * tollgate.v1.Histogram's wire format written directly (scan's fields, packed), as
 * protobufjs writes it, at `pos` of `out`, which has `m.size` bytes of room from there;
 * returns where it ended. `m` is measureHistogram's measure of this histogram. The
 * generic encoder builds a message object per histogram first, and three histograms per
 * edge report made it a tenth of ingest.
 */
export function writeHistogramAt(
  out: Buffer,
  pos: number,
  h: Histogram | SparseHistogram,
  m: HistogramMeasure,
): number {
  const { layout, indexBytes, countBytes } = m;
  out[pos++] = 0x08;
  out[pos++] = layout;
  out[pos++] = 0x12;
  pos = writeVarint(out, pos, indexBytes);
  for (const i of h.indexes) pos = writeVarint(out, pos, i);
  out[pos++] = 0x1a;
  pos = writeVarint(out, pos, countBytes);
  for (const c of h.counts) pos = writeVarint(out, pos, c);
  if (h.sumNs > 0) {
    out[pos++] = 0x20;
    pos = writeVarint(out, pos, h.sumNs);
  }
  return pos;
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
