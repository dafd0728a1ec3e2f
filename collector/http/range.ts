// The time range every read route takes: `from` and `to` in unix milliseconds, or
// `window` seconds ending now (the default: the last 60 s).
import type { TimeRange } from '../queries.js';

export interface RangeQuery {
  from?: number;
  to?: number;
  window?: number;
}

export const rangeQuerySchema = {
  type: 'object',
  properties: {
    from: { type: 'integer', minimum: 0 },
    to: { type: 'integer', minimum: 0 },
    window: { type: 'number', exclusiveMinimum: 0, maximum: 400 * 86_400 },
  },
  additionalProperties: false,
} as const;

export class BadRequest extends Error {
  readonly statusCode = 400;
}

export function toRange(q: RangeQuery, nowMs = Date.now()): TimeRange {
  if ((q.from === undefined) !== (q.to === undefined))
    throw new BadRequest('give both from and to, or neither');
  if (q.from !== undefined && q.to !== undefined) {
    if (q.to <= q.from) throw new BadRequest('to must be after from');
    if (q.to - q.from > 400 * 86_400_000) throw new BadRequest('a range is at most 400 days');
    return { fromMs: q.from, toMs: q.to };
  }
  const windowMs = Math.round((q.window ?? 60) * 1000);
  return { fromMs: nowMs - windowMs, toMs: nowMs };
}
