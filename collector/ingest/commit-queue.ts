// Groups incoming batches into one store transaction each few milliseconds: one fsync
// per group instead of per batch, and each batch acknowledged only once its group is
// committed. The queue is bounded by batches and by bytes (a batch may be 1 KiB or 16 MiB):
// when it holds `highWater` batches or `highWaterBytes` of them as they came on the wire,
// `hasRoom()` turns false and the streams stop reading until 'drain', so gRPC flow
// control pushes back on the agents (which spool) instead of the collector's memory
// growing. A stream pauses after the batch that crossed the line, so the queue holds at
// most the bound plus one batch per stream.
import { EventEmitter } from 'node:events';
import type { Batch } from '../../proto/gen/tollgate/v1.js';
import type { CommitStatus, Store } from '../store/store.js';

export interface CommitQueueOptions {
  /** Batches per transaction at most. */
  maxGroup?: number;
  /** How long the first batch of a group waits for company. */
  lingerMs?: number;
  /** Batches waiting before the streams are paused. */
  highWater?: number;
  /**
   * Bytes of batches waiting (their encoded size) before the streams are paused. Decoded,
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
  private pendingBytes = 0;
  /** Batches committed, and batches found already stored (replays), since the start. */
  committed = 0;
  duplicates = 0;

  constructor(
    private readonly store: Store,
    options: CommitQueueOptions = {},
  ) {
    super();
    this.maxGroup = options.maxGroup ?? 256;
    this.lingerMs = options.lingerMs ?? 5;
    this.highWater = options.highWater ?? 1024;
    this.highWaterBytes = options.highWaterBytes ?? 16 * 2 ** 20;
  }

  /** Queues a batch; `bytes` is its size as it came (the gRPC message). */
  submit(batch: Batch, bytes: number): Promise<CommitStatus> {
    return new Promise((resolve, reject) => {
      this.pending.push({ batch, bytes, resolve, reject });
      this.pendingBytes += bytes;
      if (this.pending.length >= this.maxGroup) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.lingerMs);
    });
  }

  hasRoom(): boolean {
    return this.pending.length < this.highWater && this.pendingBytes < this.highWaterBytes;
  }

  get depth(): number {
    return this.pending.length;
  }

  /** Bytes of the batches waiting. */
  get depthBytes(): number {
    return this.pendingBytes;
  }

  /** Commits what is waiting now (also called by the timer and when a group is full). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.pending.length > 0) {
      const group = this.pending.splice(0, this.maxGroup);
      for (const p of group) this.pendingBytes -= p.bytes;
      let statuses: CommitStatus[];
      try {
        statuses = this.store.commit(group.map((p) => p.batch));
      } catch (error) {
        for (const p of group) p.reject(error as Error);
        continue;
      }
      group.forEach((p, i) => {
        const status = statuses[i]!;
        if (status === 'stored') this.committed++;
        else this.duplicates++;
        p.resolve(status);
      });
    }
    this.emit('drain');
  }
}
