// When to roll up. A bucket is rolled up once the rollups' grace has passed since it
// ended, and rows that arrive after that are merged into the rollups one by one, which
// costs several times a raw row. A collector that falls behind by more than the grace
// (agents' spools draining after an outage, more agents than it can take) would then get
// every row late, work slower per row, and fall further behind: bench scale showed it at
// 200 agents. So while most of what is being stored is older than half the grace, the
// rollups wait, for at most maxDeferMs; reads meanwhile come from the raw rows, which are
// kept far longer (retention never deletes what is not rolled up). Pure.

export interface RollupPacingOptions {
  /** The rollups' grace (ms): how long after a bucket ends before it is rolled up. */
  graceMs: number;
  /** The longest the rollups wait for a collector that is behind (ms). */
  maxDeferMs: number;
}

export class RollupPacing {
  private stored = 0;
  private behind = 0;
  private lastRollUpMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: RollupPacingOptions) {}

  /** A batch stored `lagMs` after its interval ended (by the collector's clock). */
  noteStored(lagMs: number): void {
    this.stored++;
    if (lagMs > this.options.graceMs / 2) this.behind++;
  }

  /**
   * At a maintenance pass: roll up now? No while more than half the batches stored since
   * the last pass were behind, unless the rollups have waited maxDeferMs already.
   */
  shouldRollUp(nowMs: number): boolean {
    const behind = this.behind * 2 > this.stored;
    this.stored = 0;
    this.behind = 0;
    if (behind && nowMs - this.lastRollUpMs < this.options.maxDeferMs) return false;
    this.lastRollUpMs = nowMs;
    return true;
  }
}
