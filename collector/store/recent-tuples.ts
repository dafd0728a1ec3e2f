// The connection tuples seen in the last minute, in memory: what the SQLite store's join
// looks its other end up in (connection-join.ts), where a keyed table took an upsert and a
// lookup per tuple, a fifth of ingest's time. Bounded by count: when full, the oldest go
// first and are counted. The two ends of a connection are reported within seconds of each
// other in the usual case (the same interval, shipped at once), so the minute is for
// agents that lag; under a flood of new connections the window shrinks, and the ends of a
// tuple evicted before its other end came are joined by address instead. Pure.

export interface RecentTuple {
  endId: number;
  seen: number;
}

export class RecentTuples {
  /**
   * By key, in the order first noted (a tuple noted again keeps its place: one hash
   * operation per note, and a connection's tuple is reported once, when it opens).
   */
  private readonly byKey = new Map<string, RecentTuple>();
  /** Tuples dropped to stay within the limit while still inside the window. */
  evicted = 0;

  constructor(
    private readonly windowMs: number,
    private readonly limit: number,
  ) {}

  get size(): number {
    return this.byKey.size;
  }

  /** The end that noted this key within the window of `seen`, if any. */
  find(key: string, seen: number): RecentTuple | undefined {
    const found = this.byKey.get(key);
    return found && Math.abs(found.seen - seen) <= this.windowMs ? found : undefined;
  }

  /** Notes that `endId` was seen with this key at `seen`. */
  note(key: string, endId: number, seen: number): void {
    this.byKey.set(key, { endId, seen });
    if (this.byKey.size <= this.limit) return;
    const [oldestKey, oldest] = this.byKey.entries().next().value as [string, RecentTuple];
    this.byKey.delete(oldestKey);
    if (oldest.seen >= seen - this.windowMs) this.evicted++;
  }

  /**
   * Drops the tuples noted first while they are older than the window before `nowMs`
   * (up to the first that is not: the rest wait for the limit or a later call).
   */
  expire(nowMs: number): void {
    for (const [key, tuple] of this.byKey) {
      if (tuple.seen >= nowMs - this.windowMs) return;
      this.byKey.delete(key);
    }
  }

  clear(): void {
    this.byKey.clear();
  }
}
