// Runs tasks one after another, in the order they were given. The session manager's
// changes of state read the store, decide and write; with a store that answers
// asynchronously, two of them could otherwise interleave between the read and the write
// (two stops of one session both finding it running, two starts both under the limit).
export class OneAtATime {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `task` once every task given before has settled; settles as it does. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => {});
    return result;
  }

  /** Settles once every task given so far has. */
  async idle(): Promise<void> {
    await this.tail;
  }
}
