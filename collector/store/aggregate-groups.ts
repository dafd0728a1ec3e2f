// Where range reads and rollups gather the rows they merge, the same for every engine:
// one aggregate per series (a read of every series), per step of time (some series over
// time), or per series and bucket (a rollup's rows). Each aggregate is made empty the
// first time a row falls in it. Pure.
import { type Aggregate, addRow, emptyAggregate, type Row } from './aggregate.js';
import type { SeriesKind } from './series.js';
import { bucketStart } from './tiers.js';

/** The aggregate under `key`, made empty the first time it is asked for. */
export function aggregateAt(map: Map<number, Aggregate>, kind: SeriesKind, key: number): Aggregate {
  let aggregate = map.get(key);
  if (!aggregate) {
    aggregate = emptyAggregate(kind);
    map.set(key, aggregate);
  }
  return aggregate;
}

/** Adds a stored row into the aggregate of the step of `stepMs` its bucket is in (by the step's start). */
export function addToStep(
  kind: SeriesKind,
  steps: Map<number, Aggregate>,
  stepMs: number,
  row: Row & { bucket_ms: number },
): void {
  addRow(kind, aggregateAt(steps, kind, bucketStart(row.bucket_ms, stepMs)), row);
}

/** The steps' aggregates, oldest first. */
export function stepsInOrder(
  steps: ReadonlyMap<number, Aggregate>,
): { startMs: number; aggregate: Aggregate }[] {
  return [...steps.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([startMs, aggregate]) => ({ startMs, aggregate }));
}

/** Aggregates by bucket and series: the rows a rollup makes or merges into. */
export class BucketGroups {
  private readonly groups = new Map<
    string,
    { bucket: number; sid: number; aggregate: Aggregate }
  >();

  constructor(private readonly kind: SeriesKind) {}

  /** The aggregate of a series' bucket, made empty the first time (a fold's `into`). */
  readonly into = (bucket: number, sid: number): Aggregate => {
    const key = `${bucket}/${sid}`;
    let group = this.groups.get(key);
    if (!group) {
      group = { bucket, sid, aggregate: emptyAggregate(this.kind) };
      this.groups.set(key, group);
    }
    return group.aggregate;
  };

  /** The aggregate of a series' bucket, if any row fell in it. */
  get(bucket: number, sid: number): Aggregate | undefined {
    return this.groups.get(`${bucket}/${sid}`)?.aggregate;
  }

  list(): { bucket: number; sid: number; aggregate: Aggregate }[] {
    return [...this.groups.values()];
  }
}
