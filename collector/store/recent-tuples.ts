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
  /** Its key in the map: port and ISN as one number. */
  numeric: number;
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
   * look-up): the first of a chain of the connections that share them.
   */
  private readonly byPortIsn = new Map<number, Slot>();
  /**
   * The connections held, in the order first noted (a connection's tuple is reported
   * once, when it opens, so nearly the order of age), from `head` on: the oldest is
   * found here, where the map's own order would be walked past every key deleted before
   * it (an eviction per new tuple made that quadratic).
   */
  private order: Slot[] = [];
  private head = 0;
  /** Tuples dropped to stay within the limit while still inside the window. */
  evicted = 0;

  constructor(
    private readonly windowMs: number,
    private readonly limit: number,
  ) {}

  /** Connections held. */
  get size(): number {
    return this.order.length - this.head;
  }

  /**
   * Notes that end `endId` (on `side`: 0 client, 1 server) was seen with this tuple at
   * `seen`, and gives the other side's end if it was seen within the window of it.
   */
  meet(key: TupleKey, side: 0 | 1, endId: number, seen: number): RecentTuple | undefined {
    // Unique per (port, ISN): validation refuses ports past 65535, and an ISN is a uint32.
    const numeric = key.isn * 65_536 + key.port;
    const first = this.byPortIsn.get(numeric);
    let slot = first;
    while (slot && (slot.address !== key.address || slot.scope !== key.scope)) slot = slot.next;
    if (!slot) {
      slot = {
        numeric,
        scope: key.scope,
        address: key.address,
        end0: -1,
        seen0: 0,
        end1: -1,
        seen1: 0,
        next: first,
      };
      this.byPortIsn.set(numeric, slot);
      this.order.push(slot);
      if (this.size > this.limit) {
        const oldest = this.shift();
        if (newest(oldest) >= seen - this.windowMs) this.evicted++;
      }
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
   * Drops the connections noted first while they were last seen before `beforeMs` (up
   * to the first that was not: the rest wait for the limit or a later call).
   */
  expire(beforeMs: number): void {
    while (this.size > 0 && newest(this.order[this.head]!) < beforeMs) this.shift();
  }

  clear(): void {
    this.byPortIsn.clear();
    this.order = [];
    this.head = 0;
  }

  /** Removes the connection noted first, and gives it. */
  private shift(): Slot {
    const oldest = this.order[this.head++]!;
    // Unlinked from its chain: the map holds the chain's first.
    const first = this.byPortIsn.get(oldest.numeric);
    if (first === oldest) {
      if (oldest.next) this.byPortIsn.set(oldest.numeric, oldest.next);
      else this.byPortIsn.delete(oldest.numeric);
    } else
      for (let s = first; s; s = s.next)
        if (s.next === oldest) {
          s.next = oldest.next;
          break;
        }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
    return oldest;
  }
}

/** When a connection was last seen, by either end. */
function newest(slot: Slot): number {
  return Math.max(slot.end0 >= 0 ? slot.seen0 : -Infinity, slot.end1 >= 0 ? slot.seen1 : -Infinity);
}
