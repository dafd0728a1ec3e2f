// The raw rows of one batch and series kind, packed into one blob: SQLite's cost of a row
// is per row and per column (a B-tree insert and a record of 30 columns, about 3 us
// here), and raw rows are only ever written whole and read by time range, never updated
// one at a time. So the store writes one row per batch and kind, and reads unpack it.
//
// Layout: varint(header length), header (UTF-8: the numeric columns' names, ','-joined,
// then '|', then the histograms'), then per report: varint(sid), each numeric column's
// value, then each histogram as varint(length + 1) and its bytes (0 for none). A value is
// varint(zigzag(v) * 2) when it is an integer of magnitude below 2^51 (every counter and
// peak of the contract), else a 1 and its float64 (little-endian): every number survives.
// The header names the columns, so a row written before a column existed reads it as 0
// and a reader ignores columns it does not know. Pure.

import type { Histogram } from '../../proto/gen/tollgate/v1.js';
import type { SparseHistogram } from '../../proto/histogram.js';
import type { Aggregate, Row } from './aggregate.js';
import {
  addEncoded,
  encodeHistogram,
  measureHistogram,
  writeHistogramAt,
} from './histogram-blob.js';
import { type ReadBudget, spend } from './read-budget.js';
import type { SeriesKind } from './series.js';

const SMALL_LIMIT = 2 ** 51;

/** A growable output buffer: a batch's rows of a kind are written into it, then copied out. */
class Writer {
  buf = Buffer.allocUnsafe(4096);
  pos = 0;

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(value: number): void {
    this.reserve(8);
    const b = this.buf;
    let p = this.pos;
    while (value >= 128) {
      b[p++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    b[p++] = value;
    this.pos = p;
  }

  number(value: number): void {
    if (Number.isInteger(value) && value > -SMALL_LIMIT && value < SMALL_LIMIT) {
      // zigzag, then one bit for "integer": v >= 0 -> 4v, v < 0 -> -4v - 2
      this.varint(value >= 0 ? value * 4 : -value * 4 - 2);
      return;
    }
    this.reserve(9);
    this.buf[this.pos++] = 1;
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  bytes(value: Uint8Array): void {
    this.reserve(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }
}

/** A kind's header: the names of the columns a body holds, as it is written. */
const headers = new Map<SeriesKind, Buffer>();

function headerOf(kind: SeriesKind): Buffer {
  let header = headers.get(kind);
  if (!header) {
    header = Buffer.from(`${[...kind.sums, ...kind.maxes].join(',')}|${kind.hists.join(',')}`);
    headers.set(kind, header);
  }
  return header;
}

/**
 * A packed row being made: reports added one at a time, then taken as one blob. Its
 * buffer is reused from blob to blob.
 */
export class RawPacker {
  private readonly w = new Writer();
  private readonly header: Buffer;
  /** Reports added since the last take. */
  reports = 0;

  constructor(readonly kind: SeriesKind) {
    this.header = headerOf(kind);
    this.reset();
  }

  /** A report given as a row of every column. */
  addRow(sid: number, row: Row): void {
    const { kind, w } = this;
    w.varint(sid);
    for (const c of kind.sums) w.number(numberOf(kind, row, c));
    for (const c of kind.maxes) w.number(numberOf(kind, row, c));
    for (const c of kind.hists) {
      const blob = row[c];
      if (blob === undefined || typeof blob === 'number')
        throw new Error(`a ${kind.name} row lacks its histogram ${c}`);
      this.histogram(blob);
    }
    this.reports++;
  }

  /**
   * A report given as its numbers in column order (the sums, then the peaks) and its
   * histograms in column order, encoded here, into the packed row: no row object made for
   * it, nor a buffer per histogram.
   */
  addValues(
    sid: number,
    numbers: readonly number[],
    hists: readonly (Histogram | SparseHistogram | undefined)[],
  ): void {
    const { kind, w } = this;
    if (
      numbers.length !== kind.sums.length + kind.maxes.length ||
      hists.length !== kind.hists.length
    )
      throw new Error(
        `a ${kind.name} report of ${numbers.length} numbers and ${hists.length} histograms`,
      );
    w.varint(sid);
    for (const n of numbers) w.number(n);
    for (const h of hists) {
      const m = measureHistogram(h);
      if (m === undefined) this.histogram(encodeHistogram(h));
      else if (m === null) w.varint(0);
      else {
        w.varint(m.size + 1);
        w.reserve(m.size);
        w.pos = writeHistogramAt(w.buf, w.pos, h!, m);
      }
    }
    this.reports++;
  }

  /** The blob of the reports added, and a fresh start. */
  take(): Buffer {
    const blob = Buffer.from(this.w.buf.subarray(0, this.w.pos));
    this.reset();
    return blob;
  }

  /** Forgets the reports added. */
  reset(): void {
    this.w.pos = 0;
    this.w.varint(this.header.length);
    this.w.bytes(this.header);
    this.reports = 0;
  }

  private histogram(blob: Uint8Array | null): void {
    if (blob === null) this.w.varint(0);
    else {
      this.w.varint(blob.length + 1);
      this.w.bytes(blob);
    }
  }
}

/** One blob of reports of a kind: `rows[i]` is series `sids[i]`'s; each row with every column. */
export function packRows(kind: SeriesKind, sids: readonly number[], rows: readonly Row[]): Buffer {
  const packer = new RawPacker(kind);
  for (let i = 0; i < rows.length; i++) packer.addRow(sids[i]!, rows[i]!);
  return packer.take();
}

function numberOf(kind: SeriesKind, row: Row, column: string): number {
  const value = row[column];
  if (typeof value !== 'number') throw new Error(`a ${kind.name} row lacks its column ${column}`);
  return value;
}

/** Where each column a body holds goes in this collector's kind (null: one it does not know). */
interface Plan {
  numeric: { sum: string | null; max: string | null }[];
  hists: (string | null)[];
}

const plans = new Map<SeriesKind, Map<string, Plan>>();

function planOf(kind: SeriesKind, header: string): Plan {
  let byHeader = plans.get(kind);
  if (!byHeader) {
    byHeader = new Map();
    plans.set(kind, byHeader);
  }
  let plan = byHeader.get(header);
  if (!plan) {
    const [numeric = '', hists = ''] = header.split('|');
    const names = (list: string) => (list ? list.split(',') : []);
    plan = {
      numeric: names(numeric).map((c) => ({
        sum: kind.sums.includes(c) ? c : null,
        max: kind.maxes.includes(c) ? c : null,
      })),
      hists: names(hists).map((c) => (kind.hists.includes(c) ? c : null)),
    };
    // Bodies come from this store's own writers; a few header versions at most.
    if (byHeader.size < 64) byHeader.set(header, plan);
  }
  return plan;
}

/** A cursor over a body's bytes. */
class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  varint(): number {
    const b = this.buf;
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= b.length) throw new Error('a packed raw row ends early');
      const byte = b[this.pos++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
  }

  number(): number {
    const first = this.buf[this.pos];
    if (first === 1) {
      const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos + 1, 8);
      this.pos += 9;
      return view.getFloat64(0, true);
    }
    const v = this.varint();
    return v % 4 === 0 ? v / 4 : -(v + 2) / 4;
  }

  bytes(n: number): Uint8Array {
    if (this.pos + n > this.buf.length) throw new Error('a packed raw row ends early');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

function open(kind: SeriesKind, body: Uint8Array): { reader: Reader; plan: Plan } {
  const reader = new Reader(body);
  const headerLength = reader.varint();
  const header = Buffer.from(reader.bytes(headerLength)).toString('utf8');
  return { reader, plan: planOf(kind, header) };
}

/**
 * Each report of a body (of the series in `only`, when given: the others are skipped, no
 * row made for them) as a row of this collector's columns; a column the body lacks reads
 * as 0, or null for a histogram.
 */
export function* unpackRows(
  kind: SeriesKind,
  body: Uint8Array,
  only?: ReadonlySet<number>,
): Generator<{ sid: number; row: Row }> {
  const { reader, plan } = open(kind, body);
  while (reader.pos < body.length) {
    const sid = reader.varint();
    if (only && !only.has(sid)) {
      for (let i = 0; i < plan.numeric.length; i++) reader.number();
      for (let i = 0; i < plan.hists.length; i++) {
        const length = reader.varint();
        if (length > 0) reader.bytes(length - 1);
      }
      continue;
    }
    const row: Row = {};
    for (const c of kind.sums) row[c] = 0;
    for (const c of kind.maxes) row[c] = 0;
    for (const c of kind.hists) row[c] = null;
    for (const column of plan.numeric) {
      const value = reader.number();
      const name = column.sum ?? column.max;
      if (name !== null) row[name] = value;
    }
    for (const name of plan.hists) {
      const length = reader.varint();
      const blob = length === 0 ? null : reader.bytes(length - 1);
      if (name !== null) row[name] = blob;
    }
    yield { sid, row };
  }
}

/**
 * Adds each report of a body into the aggregate `into` gives for its bucket and series,
 * spending a row of `budget` per report: what a fold of the raw tier reads.
 */
export function foldPacked(
  kind: SeriesKind,
  body: Uint8Array,
  bucket: number,
  into: (bucket: number, sid: number) => Aggregate,
  budget?: ReadBudget,
): void {
  const { reader, plan } = open(kind, body);
  while (reader.pos < body.length) {
    spend(budget);
    const aggregate = into(bucket, reader.varint());
    for (const column of plan.numeric) {
      const value = reader.number();
      if (column.sum !== null) aggregate.sums[column.sum]! += value;
      else if (column.max !== null)
        aggregate.maxes[column.max] = Math.max(aggregate.maxes[column.max]!, value);
    }
    for (const name of plan.hists) {
      const length = reader.varint();
      if (length === 0) continue;
      const blob = reader.bytes(length - 1);
      if (name !== null) aggregate.hists[name] = addEncoded(aggregate.hists[name]!, blob);
    }
  }
}
