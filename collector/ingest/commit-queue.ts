// Groups incoming batches into one store transaction each few milliseconds: one fsync
// per group instead of per batch, and each batch acknowledged only once its group is
// committed. One group is committed at a time, in the order the batches came: the next
// group waits for the last to commit (a store never sees two of the queue's transactions
// at once), and is made of what arrived meanwhile. The queue is bounded by batches and by
// bytes (a batch may be 1 KiB or 16 MiB), counting the group being committed as well as
// those waiting: when it holds `highWater` batches or `highWaterBytes` of them as they
// came on the wire, `hasRoom()` turns false and the streams stop reading until 'drain',
// so gRPC flow control pushes back on the agents (which spool) instead of the
// collector's memory growing. A stream pauses after the batch that crossed the line, so
// the queue holds at most the bound plus one batch per stream.
import { EventEmitter } from 'node:events';
import type { Batch } from '../../proto/gen/tollgate/v1.js';
import type { CollectorStore, CommitStatus } from '../store/collector-store.js';

export interface CommitQueueOptions {
  /** Batches per transaction at most. */
  maxGroup?: number;
  /** How long the first batch of a group waits for company. */
  lingerMs?: number;
  /** Batches held (waiting or being committed) before the streams are paused. */
  highWater?: number;
  /**
   * Bytes of batches held (their encoded size) before the streams are paused. Decoded,
   * a batch holds about ten times its wire size in memory (bench scale's busy-node shape),
   * so the default 16 MiB is some 160 MB of heap; at 64 MiB a collector that fell behind
   * grew past 1 GB.
   */
  highWaterBytes?: number;
}

interface Pending {
  batch: Batch;
  bytes: number;
  resolve(status: CommitStatus): void;
  reject(error: Error): void;
}

export class CommitQueue extends EventEmitter {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly maxGroup: number;
  private readonly lingerMs: number;
  private readonly highWater: number;
  private readonly highWaterBytes: number;
  /** Batches and bytes held: waiting, and in the group being committed. */
  private heldBatches = 0;
  private heldBytes = 0;
  /** Whether groups are being committed (one after another, while anything waits). */
  private committing = false;
  /** Settles when the batch submitted last has (groups settle in order: so has all before it). */
  private lastSettled: Promise<void> = Promise.resolve();
  /** Batches committed, and batches found already stored (replays), since the start. */
  committed = 0;
  duplicates = 0;

  constructor(
    private readonly store: CollectorStore,
    options: CommitQueueOptions = {},
  ) {
    super();
    // A 'drain' listener per stream paused while the queue is full (grpc-server.ts): as
    // many as the agents, and gone at the next drain. Node's warning at 10 is for leaks.
    this.setMaxListeners(0);
    this.maxGroup = options.maxGroup ?? 256;
    this.lingerMs = options.lingerMs ?? 5;
    this.highWater = options.highWater ?? 1024;
    this.highWaterBytes = options.highWaterBytes ?? 16 * 2 ** 20;
  }

  /** Queues a batch; `bytes` is its size as it came (the gRPC message). */
  submit(batch: Batch, bytes: number): Promise<CommitStatus> {
    const settled = new Promise<CommitStatus>((resolve, reject) => {
      this.pending.push({ batch, bytes, resolve, reject });
      this.heldBatches += 1;
      this.heldBytes += bytes;
      if (this.pending.length >= this.maxGroup) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), this.lingerMs);
    });
    this.lastSettled = settled.then(
      () => {},
      () => {},
    );
    return settled;
  }

  hasRoom(): boolean {
    return this.heldBatches < this.highWater && this.heldBytes < this.highWaterBytes;
  }

  /** Batches waiting for their transaction or in it. */
  get depth(): number {
    return this.heldBatches;
  }

  /** Bytes of the batches waiting for their transaction or in it. */
  get depthBytes(): number {
    return this.heldBytes;
  }

  /**
   * Commits what is waiting now (also called by the timer and when a group is full), after
   * the group being committed if there is one. Resolves once every batch submitted so far
   * is settled, committed or failed (each batch's own promise says which).
   */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length > 0) {
      if (!this.committing) void this.commitAll();
    } else if (this.hasRoom()) this.emit('drain');
    return this.lastSettled;
  }

  /** Commits group after group, one at a time, until nothing waits. */
  private async commitAll(): Promise<void> {
    this.committing = true;
    try {
      while (this.pending.length > 0) {
        // Whatever waits now goes, its own timer due or not: it waited for the group
        // before it, which is company enough.
        clearTimeout(this.timer);
        this.timer = undefined;
        const group = this.pending.splice(0, this.maxGroup);
        let outcome: { statuses: CommitStatus[] } | { error: Error };
        try {
          outcome = { statuses: await this.store.commit(group.map((p) => p.batch)) };
        } catch (error) {
          outcome = { error: error as Error };
        }
        for (const p of group) {
          this.heldBatches -= 1;
          this.heldBytes -= p.bytes;
        }
        if ('error' in outcome) for (const p of group) p.reject(outcome.error);
        else
          group.forEach((p, i) => {
            const status = outcome.statuses[i]!;
            if (status === 'stored') this.committed++;
            else this.duplicates++;
            p.resolve(status);
          });
        if (this.hasRoom()) this.emit('drain');
      }
    } finally {
      this.committing = false;
    }
  }
}
