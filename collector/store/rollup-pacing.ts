// How far the rollups may go. A bucket is rolled up once the rollups' grace has passed
// since it ended, and a row that comes after that is merged into the rollups already
// made, one by one, which costs several raw rows. A collector that falls behind by more
// than the grace (agents' spools draining after an outage, more agents than it can take)
// would then get every row late, work slower per row, and fall further behind: bench
// scale showed it at 200 agents. So the rollups also stay below what is still arriving:
// the interval start that 9 in 10 of the batches stored since the last pass began at or
// after. Kept up, that is later than now less the grace and changes nothing; behind, the
// rollups follow the backlog at its pace instead of passing it, and most of its rows stay
// raw rows. A few stragglers (an agent replaying an old spool) still come late; they are
// counted (Rollups.lateRows). The hold-back is bounded, so the rollups, and the reads
// that use them, are never more than maxHoldBackMs behind. Intervals are the agents'
// clocks, compared with the collector's: an agent whose clock runs behind holds the
// rollups back by as much, up to the bound. Pure.
import type { Batch } from '../../proto/gen/tollgate/v1.js';
import type { CommitStatus } from './collector-store.js';

export interface RollupPacingOptions {
  /** The rollups' grace (ms): how long after a bucket ends before it may be rolled up. */
  graceMs: number;
  /** The most the rollups hold back for what is still arriving (ms). */
  maxHoldBackMs: number;
}

/** Interval starts remembered per pass: some 80 s of 100 batches a second; the rest are left out. */
const STARTS_PER_PASS = 8192;

export class RollupPacing {
  private starts: number[] = [];

  constructor(private readonly options: RollupPacingOptions) {}

  /** A batch whose interval started at `intervalStartMs` was stored (committed). */
  noteStored(intervalStartMs: number): void {
    if (this.starts.length < STARTS_PER_PASS) this.starts.push(intervalStartMs);
  }

  /**
   * A group of batches was committed with these statuses: notes those stored now, each at
   * its interval's start (its end, or `nowMs`, when it has none).
   */
  noteGroup(
    batches: readonly Pick<Batch, 'intervalStartUnixMs' | 'intervalEndUnixMs'>[],
    statuses: readonly CommitStatus[],
    nowMs: number,
  ): void {
    batches.forEach((batch, i) => {
      if (statuses[i] === 'stored')
        this.noteStored(batch.intervalStartUnixMs || batch.intervalEndUnixMs || nowMs);
    });
  }

  /**
   * At a maintenance pass: the time the rollups may reach (exclusive), and it forgets the
   * batches noted.
   */
  rollUpTo(nowMs: number): number {
    const onTime = nowMs - this.options.graceMs;
    const starts = this.starts.sort((a, b) => a - b);
    this.starts = [];
    if (starts.length === 0) return onTime;
    const arriving = starts[Math.floor(0.1 * (starts.length - 1))]!;
    return Math.min(onTime, Math.max(nowMs - this.options.maxHoldBackMs, arriving));
  }
}
