// What the collector does when its disk fills. SQLite cannot write a row, nor even the
// log of a delete, on a full file system; so beside the database lies a ballast file,
// made while there is room. When a write fails for want of space:
//  - the ballast goes, which leaves room for retention to delete what is past it, for the
//    rollups, and for checkpoints;
//  - new batches are refused with a status that says why, so agents keep them in their
//    spools and send them again later (nothing acknowledged is lost; a spool that fills
//    during a long episode drops its oldest batches, counted, as it always does);
//  - ingest resumes once there is room again: on the file system for the ballast and as
//    much again (an operator freed space), or inside the database file, where deleted
//    rows leave pages that new rows reuse (retention freed space).
import { existsSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export const DEFAULT_BALLAST_BYTES = 32 * 2 ** 20;

export function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC';
}

export interface DiskGuardOptions {
  /** The ballast's path (beside the database). */
  path: string;
  bytes?: number;
  /** Bytes free inside the database file (Store.freeBytes). */
  freeInDatabase: () => number;
  /** Told when the disk fills and when ingest resumes, to say so loudly. */
  onChange?: (full: boolean, why: string) => void;
}

export class DiskGuard {
  private full = false;
  /** Times the disk was found full. */
  episodes = 0;
  readonly bytes: number;

  constructor(private readonly options: DiskGuardOptions) {
    this.bytes = options.bytes ?? DEFAULT_BALLAST_BYTES;
    this.refill();
  }

  get isFull(): boolean {
    return this.full;
  }

  get ballastHeld(): boolean {
    return existsSync(this.options.path);
  }

  /** Why a batch may not be stored now, or undefined. */
  refusal(): string | undefined {
    return this.full
      ? "the collector's disk is full: batches wait in the agents' spools until retention or an operator frees space"
      : undefined;
  }

  /** A write failed: when for want of space, the ballast goes and ingest stops. */
  noteFailure(error: unknown): void {
    if (!isDiskFull(error) || this.full) return;
    this.full = true;
    this.episodes++;
    const released = this.release();
    this.options.onChange?.(
      true,
      `disk full (${(error as Error).message}); ingest paused${released ? `, ${this.bytes} bytes of ballast released for retention` : ''}`,
    );
  }

  /** Called after each maintenance: resumes ingest when there is room again. */
  check(): void {
    if (!this.full) {
      if (!this.ballastHeld) this.refill();
      return;
    }
    const onDisk = this.freeOnDisk();
    const inFile = this.options.freeInDatabase();
    if (onDisk >= 2 * this.bytes) {
      this.full = false;
      this.refill();
      this.options.onChange?.(false, `${onDisk} bytes free on disk; ingest resumed`);
    } else if (inFile >= this.bytes) {
      this.full = false;
      this.options.onChange?.(
        false,
        `retention freed ${inFile} bytes inside the database; ingest resumed (no ballast until the disk has room)`,
      );
    }
  }

  private freeOnDisk(): number {
    const s = statfsSync(dirname(this.options.path));
    return s.bavail * s.bsize;
  }

  /** Makes the ballast when there is room for it and as much again. */
  private refill(): void {
    if (this.bytes === 0 || this.ballastHeld) return;
    try {
      if (this.freeOnDisk() < 2 * this.bytes) return;
      writeFileSync(this.options.path, Buffer.alloc(this.bytes), { mode: 0o600 });
    } catch (error) {
      // A ballast half written is worse than none: it holds space nobody can count on.
      try {
        unlinkSync(this.options.path);
      } catch {}
      if (!isDiskFull(error)) throw error;
    }
  }

  private release(): boolean {
    try {
      unlinkSync(this.options.path);
      return true;
    } catch {
      return false;
    }
  }
}
