// The collector's HTTP side, as fastify plugins: the JSON API under /api, live updates
// over WebSocket, Prometheus /metrics, health, and the built web viewer. One error
// handler shapes every error as { error, message }.

import { existsSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Credentials } from '../auth.js';
import type { CumulativeMetrics } from '../metrics/cumulative.js';
import type { Reader } from '../read/reader.js';
import type { SessionManager } from '../sessions/session-manager.js';
import { credentialsHook } from './credentials-hook.js';
import liveRoutes from './routes/live.js';
import sessionRoutes from './routes/sessions.js';
import topologyRoutes from './routes/topology.js';
import { type SameOriginOptions, sameOriginHook } from './same-origin.js';

export interface HttpOptions {
  /** Reads for the API and live view, off the ingest thread (read/reader.ts). */
  reader: Reader;
  sessions: SessionManager;
  metrics: CumulativeMetrics;
  registry: Registry;
  /** Read and admin tokens (ingest is gRPC's); none set leaves the API open. */
  credentials?: Credentials;
  /** The built web viewer (web/dist); served at / when present. */
  webRoot?: string;
  liveIntervalMs?: number;
  liveWindowMs?: number;
  /** Called by /healthz; false makes it answer 503. */
  healthy?: () => boolean;
  /** Host names the collector answers to besides IP addresses and localhost (same-origin.ts). */
  allowedHosts?: SameOriginOptions['allowedHosts'];
}

export async function buildHttpApp(options: HttpOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: 1 * 2 ** 20,
    // Unknown parameters are an error, not silently dropped: a typo must not widen a query.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
  });

  app.setErrorHandler(
    (error: Error & { statusCode?: number; validation?: unknown }, request, reply) => {
      const status = error.validation ? 400 : (error.statusCode ?? 500);
      // A failure nobody planned for (500) is logged, and its details stay in the log;
      // errors raised on purpose (a 503 "no agent connected") say what they are.
      const internal = status === 500;
      if (internal) request.log.error(error);
      reply.status(status).send({
        error: internal ? 'internal error' : error.validation ? 'bad request' : error.name,
        message: internal ? 'the collector failed to answer; see its log' : error.message,
      });
    },
  );
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({
      error: 'not found',
      message: `no route ${request.method} ${request.url.split('?')[0]}`,
    });
  });

  // Before anything else: requests addressed to this collector, not made for another site.
  app.addHook('onRequest', sameOriginHook({ allowedHosts: options.allowedHosts }));

  // Then the credential each route's power needs (collector/auth.ts), and sign-in by link.
  app.addHook('onRequest', credentialsHook(options.credentials ?? {}));

  await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });
  await app.register(topologyRoutes, { prefix: '/api', reader: options.reader });
  await app.register(sessionRoutes, { prefix: '/api', sessions: options.sessions });
  await app.register(liveRoutes, {
    prefix: '/api',
    reader: options.reader,
    intervalMs: options.liveIntervalMs ?? 1000,
    windowMs: options.liveWindowMs ?? 10_000,
  });

  app.get('/metrics', async (_request, reply) => {
    const own = await options.registry.metrics();
    reply.type('text/plain; version=0.0.4; charset=utf-8');
    return `${options.metrics.exposition()}${own}`;
  });
  app.get('/healthz', async (_request, reply) => {
    const ok = options.healthy?.() ?? true;
    reply.status(ok ? 200 : 503);
    return { ok };
  });

  if (options.webRoot && existsSync(options.webRoot)) {
    await app.register(fastifyStatic, { root: options.webRoot, prefix: '/' });
  }
  return app;
}
