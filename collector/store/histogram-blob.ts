// Histograms are stored as encoded tollgate.v1.Histogram messages: compact, and the same
// bytes the wire carries. Empty histograms are stored as NULL.
import { Histogram } from '../../proto/gen/tollgate/v1.js';
import { emptyHistogram, type Layout, type SparseHistogram } from '../../proto/histogram.js';

export function encodeHistogram(h: Histogram | SparseHistogram | undefined): Buffer | null {
  if (!h || h.indexes.length === 0) return null;
  return Buffer.from(Histogram.encode(h));
}

export function decodeHistogram(blob: Uint8Array | null): SparseHistogram {
  if (!blob) return emptyHistogram();
  const h = Histogram.decode(blob);
  return { layout: h.layout as Layout, indexes: h.indexes, counts: h.counts, sumNs: h.sumNs };
}
