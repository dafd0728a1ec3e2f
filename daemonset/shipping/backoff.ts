// Reconnect delays: exponential with full jitter, so many agents that lost the same
// collector do not come back in lockstep. Pure apart from the random source.
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
}

/** 250 ms doubling to 30 s: quick after a blip, gentle on a collector that is down. */
export const DEFAULT_BACKOFF = { initialMs: 250, maxMs: 30_000 } as const;

export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;

  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.initialMs = options.initialMs ?? DEFAULT_BACKOFF.initialMs;
    this.maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
  }

  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.floor(this.random() * ceiling);
  }

  reset(): void {
    this.attempt = 0;
  }
}
