// The paper half of `bench scale`: a cluster of `nodes` nodes of the simulated shape,
// extrapolated from what one collector measured. A model, linear in the nodes: it
// assumes a record costs the collector tier the CPU and the bytes it cost here. Pure.
import { TUPLE_WINDOW_MS } from '../collector/store/connection-join.js';
import { tiers } from '../collector/store/tiers.js';

/** What the store took, measured: SQLite pages in use, tables and indexes. */
export interface StoreSizes {
  /** Bytes per record of the series rows written at one row per interval. */
  rawBytesPerRecord: number;
  /**
   * Bytes per row of the rolled-up tiers, as the run wrote them (a short run has rolled
   * up only the first buckets of each series: their rows per record are no guide).
   */
  rollupBytesPerRow: number;
  /** Bytes per record of the batches' identities (kept a day to drop replays). */
  batchBytesPerRecord: number;
  /** Bytes per record of connection tuples (kept TUPLES_KEPT_S, then pruned). */
  tupleBytesPerRecord: number;
}

export interface ModelInput extends StoreSizes {
  nodes: number;
  /** Records each node ships per second (its shape's records per 1 s interval). */
  recordsPerNodePerS: number;
  /** Records stored per second of collector CPU, measured. */
  recordsPerSPerCore: number;
  /**
   * Records per second one collector process stored when it could not keep up (its
   * ceiling), or undefined when it kept up (then its ceiling is one core's worth).
   */
  saturatedRecordsPerS: number | undefined;
}

export interface ScaleModel {
  nodes: number;
  records_per_node_per_s: number;
  records_per_s: number;
  /** Collector CPU the records need, in cores. */
  collector_cores: number;
  /** Records per second one replica is planned for: its ceiling at REPLICA_LOAD. */
  replica_records_per_s: number;
  collector_replicas: number;
  store_gb_per_hour: number;
  store_gb_per_day: number;
  /** What the store holds once every tier has reached its retention (defaults). */
  store_gb_retained: number;
  assumptions: string[];
}

/** How loaded a replica is planned to be: the rest is headroom for bursts and replays. */
export const REPLICA_LOAD = 0.7;

const GB = 1e9;
const DAY_S = 86_400;
/** How long connection tuples are kept: retention.ts prunes them after 10 join windows. */
const TUPLES_KEPT_S = (10 * TUPLE_WINDOW_MS) / 1000;

/**
 * Rows of the rolled-up tiers per row of raw, for a series with a row every second: one
 * per bucket of each (10 s, minute, 10 min, hour).
 */
export function rollupRowsPerRawRow(): number {
  return tiers()
    .filter((t) => t.name !== 'raw')
    .reduce((s, t) => s + 1000 / t.bucketMs, 0);
}

/** Rows the default retention keeps of one series with a row every second. */
function retainedRowsPerSeries(): { raw: number; rollups: number } {
  let raw = 0;
  let rollups = 0;
  for (const t of tiers()) {
    if (t.name === 'raw') raw += t.retentionMs / t.bucketMs;
    else rollups += t.retentionMs / t.bucketMs;
  }
  return { raw, rollups };
}

/**
 * Bytes the store grows by per second at `recordsPerS` before retention deletes any: a
 * record a second is a series, its raw row and its share of each rolled-up tier's rows.
 */
export function writtenBytesPerS(recordsPerS: number, s: StoreSizes): number {
  return (
    recordsPerS *
    (s.rawBytesPerRecord + rollupRowsPerRawRow() * s.rollupBytesPerRow + s.batchBytesPerRecord)
  );
}

/** Bytes the store holds at `recordsPerS` once every tier is at its default retention. */
export function retainedBytes(recordsPerS: number, s: StoreSizes): number {
  const kept = retainedRowsPerSeries();
  return (
    recordsPerS *
    (s.rawBytesPerRecord * kept.raw +
      s.rollupBytesPerRow * kept.rollups +
      s.batchBytesPerRecord * DAY_S +
      s.tupleBytesPerRecord * TUPLES_KEPT_S)
  );
}

export function scaleModel(m: ModelInput): ScaleModel {
  const recordsPerS = m.nodes * m.recordsPerNodePerS;
  // One collector process writes from one event loop (decode, validation, join and the
  // SQLite writer are on its main thread): its ceiling is at most one core.
  const ceiling = m.saturatedRecordsPerS ?? m.recordsPerSPerCore;
  const replicaRecordsPerS = ceiling * REPLICA_LOAD;
  const written = writtenBytesPerS(recordsPerS, m);
  const round = (x: number) => Number(x.toFixed(1));
  return {
    nodes: m.nodes,
    records_per_node_per_s: m.recordsPerNodePerS,
    records_per_s: Math.round(recordsPerS),
    collector_cores: round(recordsPerS / m.recordsPerSPerCore),
    replica_records_per_s: Math.round(replicaRecordsPerS),
    collector_replicas: Math.ceil(recordsPerS / replicaRecordsPerS),
    store_gb_per_hour: round((written * 3600) / GB),
    store_gb_per_day: round((written * DAY_S) / GB),
    store_gb_retained: round(retainedBytes(recordsPerS, m) / GB),
    assumptions: [
      `${m.nodes} nodes each shipping ${m.recordsPerNodePerS} records/s, the simulated shape`,
      'each record costs the collector tier the CPU it cost one collector here; the collectors share nothing but the store',
      `a replica is one collector process, one event loop (at most one core), planned at ${REPLICA_LOAD * 100}% of ${m.saturatedRecordsPerS === undefined ? "one core's worth of the per-core rate" : 'the rate it stored here when it could not keep up'}`,
      'these figures are of one collector on a SQLite file of its own; replicas sharing one store need the PostgreSQL tier, whose CPU, network and row sizes are not in them (bench ingest --store postgres measures its CPU: more per record than here)',
      'store bytes are SQLite pages in use (tables and indexes) measured here: per record for raw rows, batch identities and connection tuples, per row for rolled-up rows (one row per series and bucket of 10 s, minute, 10 min and hour); identities (as many as the processes and connection ends) do not grow with time and are left out',
      'per hour and per day: series rows and batch identities written, before retention deletes any (connection tuples are pruned after 10 minutes: in retained only); retained: under the default retention (raw and 10 s rows 6 h, minute and 10 min rows 7 days, hour rows 90 days, batch identities a day, tuples 10 minutes)',
    ],
  };
}
