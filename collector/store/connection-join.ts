// Joins the two ends of a sampled connection, reported by different processes (often on
// different nodes, across a REDIRECT), into a link from the client end to the server end.
// Each end leaves its tuples as its report is written; the end that comes second finds
// the first's and links them, so the join is done at write time, in either order.
//
// On SQLite one collector writes, so recent tuples are looked up in memory
// (recent-tuples.ts). The store keeps them as a log, one row per batch, kept as long as
// the tuples table was (TUPLE_KEPT_MS); the newest of it is read back at the first join
// after the store opens and after a commit that failed (its tuples went with it): a
// restart between the two ends' reports still joins them.
import type { EdgeReport } from '../../proto/gen/tollgate/v1.js';
import { tupleScope } from '../model/ids.js';
import { SIDE_CODE } from './identity-rows.js';
import { RecentTuples } from './recent-tuples.js';
import type { Statements } from './statements.js';

/** How far apart the two ends' sightings of one connection may be and still join. */
export const TUPLE_WINDOW_MS = 60_000;

/**
 * How long tuples are kept, by the collector's clock: retention deletes the log's rows
 * past it and memory drops them. Longer than the window, which compares the two ends'
 * own sightings: a collector catching up a backlog, or an agent whose clock is behind,
 * still joins.
 */
export const TUPLE_KEPT_MS = 10 * TUPLE_WINDOW_MS;

/** Connections held in memory (about 150 bytes each): past it, the oldest go first. */
const RECENT_TUPLES_LIMIT = 200_000;

/** Links remembered as written (with the sighting last written) before the memory starts afresh. */
const LINK_CACHE_LIMIT = 200_000;

/**
 * How stale a link's last_seen_ms may be: a link seen again within this long of the
 * sighting last written is not written again. Only retention reads it (hours and more).
 */
const LINK_SEEN_RESOLUTION_MS = 60_000;

/** A tuple as the log keeps it: scope, client address, client port, ISN, side, end id. */
export type LoggedTuple = [string, string, number, number, number, number];

export class ConnectionJoin {
  private readonly recent: RecentTuples;
  /** Links written, by "client end:server end": the last sighting written. */
  private readonly links = new Map<string, number>();
  /** The batch being written's tuples, for its log row. */
  private logged: LoggedTuple[] = [];
  /** Is the log read into memory? Not before the first join: a reader's store never joins. */
  private loaded = false;

  constructor(
    private readonly statements: Statements,
    /** Connections held in memory. */
    private readonly limit = RECENT_TUPLES_LIMIT,
  ) {
    this.recent = new RecentTuples(TUPLE_WINDOW_MS, limit);
  }

  /** Tuples dropped from memory while still inside the window (RecentTuples.evicted). */
  get evicted(): number {
    return this.recent.evicted;
  }

  /** One end's sampled connections: remembered, and linked to the other end where it was seen. */
  join(
    edge: EdgeReport,
    end: { id: number; side: number; node: string; netnsInode: number },
    seen: number,
  ): void {
    // Join the two ends of each sampled connection on the client's (address, port) and
    // initial sequence number: one ephemeral port can serve two destinations at once.
    if (!this.loaded) this.load();
    const client = end.side === SIDE_CODE.CONNECTION_SIDE_CLIENT;
    for (const tuple of edge.connections) {
      const address = tuple.client?.address ?? '';
      const port = tuple.client?.port ?? 0;
      if (!address || !port) continue;
      const key = {
        scope: tupleScope(address, end.node, end.netnsInode),
        address,
        port,
        isn: tuple.clientIsn,
      };
      this.logged.push([key.scope, address, port, key.isn, end.side, end.id]);
      const match = this.recent.meet(key, client ? 0 : 1, end.id, seen);
      if (!match) continue;
      const [clientEnd, serverEnd] = client ? [end.id, match.endId] : [match.endId, end.id];
      this.link(clientEnd, serverEnd, seen);
    }
  }

  /** Writes the tuples of the batch just written as its log row. */
  endBatch(seen: number): void {
    if (this.logged.length === 0) return;
    this.statements.insertTupleLog.run(seen, this.logged.length, JSON.stringify(this.logged));
    this.logged = [];
  }

  /**
   * Forgets what it holds and reads the log again: after a commit that failed (its tuples
   * and links went with it, and the ids of its new ends may be given again).
   */
  forget(): void {
    this.recent.clear();
    this.links.clear();
    this.logged = [];
    this.loaded = false;
  }

  /**
   * After pruning: drops the tuples retention no longer keeps (TUPLE_KEPT_MS before
   * `nowMs`), and forgets which links are written (pruning may have taken some).
   */
  pruned(nowMs: number): void {
    this.recent.expire(nowMs - TUPLE_KEPT_MS);
    this.links.clear();
  }

  private link(clientEnd: number, serverEnd: number, seen: number): void {
    const key = `${clientEnd}:${serverEnd}`;
    const written = this.links.get(key);
    if (written !== undefined && Math.abs(seen - written) < LINK_SEEN_RESOLUTION_MS) return;
    this.statements.upsertLink.run(clientEnd, serverEnd, seen, seen);
    if (this.links.size >= LINK_CACHE_LIMIT) this.links.clear();
    this.links.set(key, Math.max(seen, written ?? seen));
  }

  /**
   * The log's newest rows, as many as memory holds (`limit` tuples: about 6 MB of rows
   * at the default), noted oldest first: retention keeps the log to TUPLE_KEPT_MS, and the
   * rows are taken by when they were written, not by their sightings, whose clocks are
   * the agents'.
   */
  private load(): void {
    this.loaded = true;
    const rows: { seen_ms: number; body: string }[] = [];
    let tuples = 0;
    for (const row of this.statements.tupleLogNewestFirst.iterate() as IterableIterator<{
      seen_ms: number;
      body: string;
      tuples: number;
    }>) {
      rows.push(row);
      tuples += row.tuples;
      if (tuples >= this.limit) break;
    }
    for (const { seen_ms, body } of rows.reverse())
      for (const [scope, address, port, isn, side, endId] of JSON.parse(body) as LoggedTuple[])
        this.recent.meet(
          { scope, address, port, isn },
          side === SIDE_CODE.CONNECTION_SIDE_CLIENT ? 0 : 1,
          endId,
          seen_ms,
        );
  }
}
