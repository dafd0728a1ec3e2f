// Who may do what. The collector holds one credential per power, so that the credential
// every node's agent carries cannot start sessions, and the one Prometheus reads with
// cannot order load:
//  - ingest: agents streaming batches over gRPC (and receiving load orders);
//  - read: the viewer, /api reads, /api/live and /metrics;
//  - admin: sessions (start, stop, delete, import), which order load. Admin reads too.
// Ingest is open when no ingest token is set. The HTTP powers are open only when neither
// a read nor an admin token is set (a collector on loopback for one user); once one is,
// reading needs read or admin. `tollgate collector` refuses to listen beyond loopback
// without the tokens of that side.
// Tokens are compared in constant time, so a wrong token's timing says nothing.
import { timingSafeEqual } from 'node:crypto';

export type Power = 'ingest' | 'read' | 'admin';

export interface Credentials {
  ingest?: string;
  read?: string;
  admin?: string;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function bearerMatches(header: string | undefined, token: string): boolean {
  return header !== undefined && sameSecret(header, `Bearer ${token}`);
}

/** The tokens that grant a power, or undefined when the power is open. */
export function tokensFor(power: Power, credentials: Credentials): string[] | undefined {
  if (power === 'ingest')
    return credentials.ingest === undefined ? undefined : [credentials.ingest];
  const { read, admin } = credentials;
  if (read === undefined && admin === undefined) return undefined;
  const granting = power === 'admin' ? [admin] : [read, admin];
  return granting.filter((t): t is string => t !== undefined);
}

/** Whether a presented token (bare, not "Bearer ...") grants a power. */
export function grants(
  presented: string | undefined,
  power: Power,
  credentials: Credentials,
): boolean {
  const tokens = tokensFor(power, credentials);
  if (tokens === undefined) return true;
  if (presented === undefined) return false;
  // Every candidate is compared, so which one matched does not show in the timing.
  let ok = false;
  for (const token of tokens) ok = sameSecret(presented, token) || ok;
  return ok;
}

/** The bare token of an `Authorization: Bearer ...` header, if it is one. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer (.+)$/.exec(header);
  return match?.[1];
}

/**
 * The power a route (its pattern, as the router matched it) needs, or undefined when it
 * needs none (the viewer's files, /healthz). Pure: decided here, in one place, so a new
 * route under /api cannot slip out.
 */
export function powerForRequest(method: string, path: string): Power | undefined {
  if (path === '/metrics') return 'read';
  if (!path.startsWith('/api/')) return undefined;
  if (method === 'GET' || method === 'HEAD') {
    // An export carries everything the session saw; it is a read.
    return 'read';
  }
  return 'admin';
}
