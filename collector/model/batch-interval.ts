// When a batch's interval happened, as its agent's clock said. Pure.
import type { Batch } from '../../proto/gen/tollgate/v1.js';

/**
 * The agent's clock stepped back during the interval (NTP, a VM resumed): it ends before
 * it starts. Its data is real and is kept, at its end, on the clock its next intervals
 * follow; the collector counts such batches.
 */
export function clockStepBack(
  batch: Pick<Batch, 'intervalStartUnixMs' | 'intervalEndUnixMs'>,
): boolean {
  return batch.intervalEndUnixMs > 0 && batch.intervalEndUnixMs < batch.intervalStartUnixMs;
}
