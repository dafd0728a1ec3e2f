// What the lab's open-loop load generators over a transport of their own take besides
// their protocol's sizes (lab/binary-rr.ts, lab/h2-rr.ts), and its bounds.
import { validateStartAt } from '../daemonset/load/load.js';

export interface TransportLoadOptions {
  host: string;
  port: number;
  /** Requests per second, open loop. */
  rate: number;
  durationS: number;
  /** Connections the requests take in turn (for HTTP/2: sessions, each request a stream). */
  connections: number;
  timeoutMs: number;
  /** Seconds of load before the measured part, not counted (see OpenLoopSchedule). */
  warmupS?: number;
  /** Also count each request from its issue (see OpenLoopSchedule). */
  countFromIssue?: boolean;
  /** When the schedule starts, epoch ms (see OpenLoopSchedule). */
  startAtMs?: number;
}

export function validateTransportLoad(o: TransportLoadOptions, maxConnections: number): void {
  if (!(o.rate > 0) || !(o.durationS > 0 && o.durationS <= 3600))
    throw new RangeError('rate and duration must be positive (duration at most 3600 s)');
  if (o.rate * o.durationS > 2_000_000) throw new RangeError('more than 2,000,000 requests');
  if (!(Number.isInteger(o.connections) && o.connections >= 1 && o.connections <= maxConnections))
    throw new RangeError(`connections must be within 1..${maxConnections}`);
  validateStartAt(o.startAtMs);
}
