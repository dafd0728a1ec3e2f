// The queue between a child process that writes records and the consumer of records():
// bounded by pausing the child's stdout at a high-water mark, so a slow consumer makes
// the child block on its pipe instead of growing our memory.
import type { Readable } from 'node:stream';
import type { ProbeRecord } from './records.js';

/** Records queued before the stream is paused. */
const HIGH_WATER = 10_000;

export class RecordQueue {
  private readonly queue: ProbeRecord[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private failure: Error | undefined;
  private unbounded = false;

  constructor(private readonly stream: Readable) {}

  get finished(): boolean {
    return this.ended;
  }

  push(records: ProbeRecord[]): void {
    this.queue.push(...records);
    if (this.queue.length >= HIGH_WATER && !this.unbounded) this.stream.pause();
    this.wakeUp();
  }

  /** For the child's last words at stop: bounded by what it has left to say. */
  drainFreely(): void {
    this.unbounded = true;
    this.stream.resume();
  }

  fail(error: Error): void {
    this.failure ??= error;
    this.wakeUp();
  }

  finish(): void {
    this.ended = true;
    this.wakeUp();
  }

  async *records(): AsyncGenerator<ProbeRecord> {
    for (;;) {
      const next = this.queue.shift();
      if (next) {
        if (this.queue.length < HIGH_WATER / 2 || this.unbounded) this.stream.resume();
        yield next;
        continue;
      }
      if (this.failure) throw this.failure;
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
