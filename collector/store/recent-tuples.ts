// The connection tuples seen in the last minute, in memory: what the SQLite store's join
// looks its other end up in (connection-join.ts), where a keyed table took an upsert and a
// lookup per tuple, a fifth of ingest's time. Bounded by count: when full, the oldest go
// first and are counted. The two ends of a connection are reported within seconds of each
// other in the usual case (the same interval, shipped at once), so the minute is for
// agents that lag; under a flood of new connections the window shrinks, and the ends of a
// tuple evicted before its other end came are joined by address instead. Pure.

/** A connection as both its ends name it: the client's address and port, and its ISN. */
export interface TupleKey {
  /** Where the client address means one host (tupleScope: a node and netns for loopback). */
  scope: string;
  address: string;
  port: number;
  /** The client's initial sequence number (0 from agents that send none). */
  isn: number;
}

export interface RecentTuple {
  endId: number;
  seen: number;
}

/**
 * One connection's two ends as seen so far (side 0, the client, and 1, the server; an
 * end not seen has id -1). Flat fields, not an object per end: hundreds of thousands of
 * slots live long enough for the garbage collector to walk them.
 */
interface Slot {
  scope: string;
  address: string;
  end0: number;
  seen0: number;
  end1: number;
  seen1: number;
  /** Another connection with the same port and ISN (a different client address or scope). */
  next: Slot | undefined;
}

export class RecentTuples {
  /**
   * By port and ISN, as one number (a string key cost a concatenation and a hash per
   * look-up), in the order first noted; a connection's tuple is reported once, when it
   * opens, so that is nearly the order of age.
   */
  private readonly byPortIsn = new Map<number, Slot>();
  private count = 0;
  /** Tuples dropped to stay within the limit while still inside the window. */
  evicted = 0;

  constructor(
    private readonly windowMs: number,
    private readonly limit: number,
  ) {}

  /** Connections held. */
  get size(): number {
    return this.count;
  }

  /**
   * Notes that end `endId` (on `side`: 0 client, 1 server) was seen with this tuple at
   * `seen`, and gives the other side's end if it was seen within the window of it.
   */
  meet(key: TupleKey, side: 0 | 1, endId: number, seen: number): RecentTuple | undefined {
    const numeric = key.isn * 65_536 + key.port;
    const first = this.byPortIsn.get(numeric);
    let slot = first;
    while (slot && (slot.address !== key.address || slot.scope !== key.scope)) slot = slot.next;
    if (!slot) {
      slot = {
        scope: key.scope,
        address: key.address,
        end0: -1,
        seen0: 0,
        end1: -1,
        seen1: 0,
        next: first,
      };
      this.byPortIsn.set(numeric, slot);
      this.count++;
      if (this.count > this.limit) this.evictOldest(seen);
    }
    let other: RecentTuple;
    if (side === 0) {
      slot.end0 = endId;
      slot.seen0 = seen;
      other = { endId: slot.end1, seen: slot.seen1 };
    } else {
      slot.end1 = endId;
      slot.seen1 = seen;
      other = { endId: slot.end0, seen: slot.seen0 };
    }
    return other.endId >= 0 && Math.abs(other.seen - seen) <= this.windowMs ? other : undefined;
  }

  /**
   * Drops the connections noted first while they are older than the window before
   * `nowMs` (up to the first that is not: the rest wait for the limit or a later call).
   */
  expire(nowMs: number): void {
    for (const [numeric, slot] of this.byPortIsn) {
      if (newest(slot) >= nowMs - this.windowMs) return;
      this.byPortIsn.delete(numeric);
      this.count -= chainLength(slot);
    }
  }

  clear(): void {
    this.byPortIsn.clear();
    this.count = 0;
  }

  private evictOldest(seen: number): void {
    const [numeric, slot] = this.byPortIsn.entries().next().value as [number, Slot];
    this.byPortIsn.delete(numeric);
    for (let s: Slot | undefined = slot; s; s = s.next) {
      this.count--;
      if (newest(s) >= seen - this.windowMs) this.evicted++;
    }
  }
}

function newest(slot: Slot): number {
  let seen = Number.NEGATIVE_INFINITY;
  for (let s: Slot | undefined = slot; s; s = s.next) {
    if (s.end0 >= 0) seen = Math.max(seen, s.seen0);
    if (s.end1 >= 0) seen = Math.max(seen, s.seen1);
  }
  return seen;
}

function chainLength(slot: Slot): number {
  let n = 0;
  for (let s: Slot | undefined = slot; s; s = s.next) n++;
  return n;
}
