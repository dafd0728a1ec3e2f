// The agent's bounded spool of batches the collector has not acknowledged yet. Bounded in
// batches and in bytes; when either bound is reached the oldest batch is dropped and
// counted, so an absent collector costs a fixed amount of memory and the loss is said.
export interface SpoolEntry {
  sequence: number;
  /** The encoded tollgate.v1.Batch. */
  bytes: Uint8Array;
}

export interface SpoolLimits {
  maxBatches: number;
  maxBytes: number;
}

export class Spool {
  private entries: SpoolEntry[] = [];
  private head = 0;
  private size = 0;
  dropped = 0;

  constructor(readonly limits: SpoolLimits) {
    if (!(limits.maxBatches >= 1 && limits.maxBytes >= 1))
      throw new RangeError('a spool must hold at least one batch and one byte');
  }

  get batches(): number {
    return this.entries.length - this.head;
  }

  get bytes(): number {
    return this.size;
  }

  /** Adds a batch, dropping the oldest ones to stay within bounds; returns how many. */
  push(entry: SpoolEntry): number {
    let dropped = 0;
    while (
      this.batches > 0 &&
      (this.batches + 1 > this.limits.maxBatches ||
        this.size + entry.bytes.length > this.limits.maxBytes)
    ) {
      this.shift();
      dropped++;
    }
    this.entries.push(entry);
    this.size += entry.bytes.length;
    this.dropped += dropped;
    return dropped;
  }

  /** Entries oldest first, from index `from` (0 is the oldest held). */
  at(index: number): SpoolEntry | undefined {
    return this.entries[this.head + index];
  }

  /** Removes the batch with this sequence once acknowledged; true when it was held. */
  remove(sequence: number): boolean {
    const oldest = this.entries[this.head];
    if (oldest?.sequence === sequence) {
      this.shift();
      return true;
    }
    // Acknowledgements come in order; anything else is rare (a replay raced an ack).
    const i = this.entries.findIndex((e, k) => k >= this.head && e.sequence === sequence);
    if (i < 0) return false;
    this.size -= this.entries[i]!.bytes.length;
    this.entries.splice(i, 1);
    return true;
  }

  /** Index of a held sequence, or -1. */
  indexOf(sequence: number): number {
    for (let k = this.head; k < this.entries.length; k++)
      if (this.entries[k]!.sequence === sequence) return k - this.head;
    return -1;
  }

  private shift(): void {
    const entry = this.entries[this.head++]!;
    this.size -= entry.bytes.length;
    // Compact now and then so the array does not grow with every batch ever sent.
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
