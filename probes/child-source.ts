// What the two record sources share: a child process whose stdout becomes records
// through a bounded queue, its hello, and its last words on stderr for error messages.
import type { ChildProcess } from 'node:child_process';
import { RecordQueue } from './record-queue.js';
import type { HelloRecord, ProbeRecord } from './records.js';

export abstract class ChildRecordSource {
  protected readonly queue: RecordQueue;
  protected stderr = '';
  /** Resolves with the exit code once the child has exited and its stdout is read. */
  protected readonly exited: Promise<number | null>;

  protected constructor(
    protected readonly child: ChildProcess,
    readonly hello: HelloRecord,
  ) {
    this.queue = new RecordQueue(child.stdout!);
    this.exited = new Promise((resolve) => child.once('close', resolve));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Every record until the child exits (after stop(), that includes its last output). */
  records(): AsyncGenerator<ProbeRecord> {
    return this.queue.records();
  }
}
