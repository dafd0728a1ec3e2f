// The HTTP side's credential check, and the viewer's sign-in by link.
//
// A request presents its token as `Authorization: Bearer` (the CLI, Prometheus), as the
// `tollgate_token` cookie (a browser that opened the link `tollgate up` printed), or as
// `?token=` (a browser's WebSocket, which cannot set headers). The link, `/?token=...`,
// is answered with the cookie and a redirect to the same page without the token, so the
// token leaves the address bar and the history after one use, as Jupyter does.
// The cookie is HttpOnly (no script reads it) and SameSite=Strict (no other site's
// request carries it); same-origin.ts refuses other sites' requests besides.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken, type Credentials, grants, powerForRequest, tokensFor } from '../auth.js';
import { refuse } from './refuse.js';

export const TOKEN_COOKIE = 'tollgate_token';

/** One cookie's value from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * The URL without its `token` query parameter (the rest kept as given), as a path on this
 * collector: `//host/...` or `/\host` would send a browser elsewhere, so they become `/`.
 */
export function withoutToken(url: string): string {
  const [path, query = ''] = url.split('?', 2) as [string, string?];
  if (!path.startsWith('/') || /^\/[/\\]/.test(path)) return '/';
  const kept = query.split('&').filter((p) => p !== '' && !/^token(=|$)/.test(p));
  return kept.length > 0 ? `${path}?${kept.join('&')}` : path;
}

export function credentialsHook(credentials: Credentials) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const query = request.query as { token?: unknown } | undefined;
    const queryToken = typeof query?.token === 'string' ? query.token : undefined;
    // The power is the matched route's, not the raw path's: the router also answers
    // `/%61pi/...` and absolute-form request lines (`POST http://x/api/...`) by the route
    // they decode to. A request that matched no route needs the read power to be told so.
    const route = request.routeOptions.url;
    const power = route === undefined ? 'read' : powerForRequest(request.method, route);
    if (power === undefined) {
      // A page of the viewer: sign in by link when it carries a token.
      if (queryToken === undefined || request.method !== 'GET') return;
      const open = tokensFor('read', credentials) === undefined;
      if (open) return reply.redirect(withoutToken(request.url), 303);
      if (!grants(queryToken, 'read', credentials))
        return refuse(request, reply, 401, {
          error: 'unauthorized',
          message: 'the link carries a wrong token',
        });
      return reply
        .header(
          'set-cookie',
          `${TOKEN_COOKIE}=${encodeURIComponent(queryToken)}; Path=/; HttpOnly; SameSite=Strict`,
        )
        .header('cache-control', 'no-store')
        .redirect(withoutToken(request.url), 303);
    }
    const presented =
      bearerToken(request.headers.authorization) ??
      cookieValue(request.headers.cookie, TOKEN_COOKIE) ??
      queryToken;
    if (grants(presented, power, credentials)) return;
    const wrongPower = presented !== undefined && grants(presented, 'read', credentials);
    return refuse(request, reply, wrongPower ? 403 : 401, {
      error: wrongPower ? 'forbidden' : 'unauthorized',
      message: wrongPower
        ? `this needs the ${power} credential; the token given only reads`
        : 'missing or wrong bearer token',
    });
  };
}
