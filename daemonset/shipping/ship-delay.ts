// When an agent sends each interval's batch. The runner ends intervals at whole multiples
// of the interval on the node's clock, so every agent of a cluster has a batch ready at
// the same moment; sent at once, they would reach the collectors as one burst a second.
// Each node waits a delay of its own instead, spread over part of the interval by a hash
// of its name (as Prometheus spreads its scrapes), the same every interval so that its
// batches keep their order and their spacing. The counting spans stay aligned: only the
// send moves.

/** The longest delay: a batch reaches the collector at most this much later. */
export const SHIP_SPREAD_MAX_MS = 500;

/** This node's delay, ms: in [0, min(interval / 2, SHIP_SPREAD_MAX_MS)). */
export function shipDelayMs(node: string, intervalMs: number): number {
  const spread = Math.min(intervalMs / 2, SHIP_SPREAD_MAX_MS);
  if (!(spread > 0)) return 0;
  return Math.floor((fnv1a32(node) / 2 ** 32) * spread);
}

/** FNV-1a, 32 bits, over the name's UTF-8 bytes: stable across processes and versions. */
function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/**
 * Holds each batch for the node's delay, then sends it; `flush` sends what is held at
 * once, in order (at shutdown, so that nothing held is lost).
 */
export class DelayedSender<T> {
  private readonly held = new Map<NodeJS.Timeout, T>();

  constructor(
    /** How long each item is held, ms (0 or less: none). */
    readonly delayMs: number,
    private readonly send: (item: T) => void,
  ) {}

  push(item: T): void {
    if (this.delayMs <= 0) {
      this.send(item);
      return;
    }
    const timer = setTimeout(() => {
      this.held.delete(timer);
      this.send(item);
    }, this.delayMs);
    this.held.set(timer, item);
  }

  /** How many are held now. */
  get pending(): number {
    return this.held.size;
  }

  flush(): void {
    for (const [timer, item] of this.held) {
      clearTimeout(timer);
      this.held.delete(timer);
      this.send(item);
    }
  }
}
