// The bearer-token check gRPC and HTTP share: compared in constant time, so a wrong
// token's timing says nothing about the right one.
import { timingSafeEqual } from 'node:crypto';

export function bearerMatches(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  const given = Buffer.from(header);
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
