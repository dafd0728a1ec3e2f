// The timers that stop running sessions at their planned end, one per session, unref'd
// so none keeps the collector's process alive. Apart from the manager, which says what a
// due timer does.
export class PlannedStops {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  /** Calls `due` at `atMs`, or at once when that has passed. */
  schedule(id: string, atMs: number, due: () => void): void {
    const timer = setTimeout(
      () => {
        this.timers.delete(id);
        due();
      },
      Math.max(0, atMs - Date.now()),
    );
    timer.unref();
    this.timers.set(id, timer);
  }

  /** Is a timer set for this session? */
  has(id: string): boolean {
    return this.timers.has(id);
  }

  cancel(id: string): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
