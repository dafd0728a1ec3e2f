// The collector's HTTP side answers only requests addressed to it and not made on another
// site's behalf. A page on any site can make the browser send requests to
// 127.0.0.1:7470 (a WebSocket needs no permission at all), and with DNS rebinding its own
// name comes to point there, so the browser takes the collector for that site. So:
//  - Host must name the collector: an IP address, `localhost`, or a name the operator
//    allows (a Service or ingress name). A rebound name is none of these.
//  - Origin, which browsers send with cross-site requests, every POST and every WebSocket
//    handshake, must be the collector's own (scheme, host and port as in Host). Clients
//    that are not browsers (agents' operators, curl, Prometheus) send none.
import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { refuse } from './refuse.js';

export interface SameOriginOptions {
  /** Host names besides IP addresses and `localhost`; '*' accepts any (the check off). */
  allowedHosts?: readonly string[];
}

/** The host part of a Host header (`name`, `name:port`, `[v6]:port`), lowercased. */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

/** Why a request may not be answered, or undefined when it may. Pure. */
export function refusal(
  headers: { host?: string; origin?: string },
  allowedHosts: readonly string[] = [],
): string | undefined {
  const host = headers.host;
  if (!host) return 'a request must name its host';
  if (!allowedHosts.includes('*')) {
    const name = hostName(host);
    if (!(isIP(name) || name === 'localhost' || allowedHosts.includes(name)))
      return `host ${JSON.stringify(name.slice(0, 253))} is not this collector's (allow it with --allowed-hosts)`;
  }
  const origin = headers.origin;
  if (origin === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return 'the request came from another site';
  }
  if (url.host.toLowerCase() !== host.trim().toLowerCase() || !/^(http|https):$/.test(url.protocol))
    return 'the request came from another site';
  return undefined;
}

/** An onRequest hook that answers 403, with the reason, what `refusal` refuses. */
export function sameOriginHook(options: SameOriginOptions) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const why = refusal(
      { host: request.headers.host, origin: request.headers.origin },
      options.allowedHosts,
    );
    if (why) return refuse(request, reply, 403, { error: 'forbidden', message: why });
  };
}
