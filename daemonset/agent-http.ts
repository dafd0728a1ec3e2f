// The agent's small HTTP side, for kubelet probes and Prometheus:
// - /healthz (liveness): the kernel probes still deliver records. A dead runner is the
//   one failure a restart repairs; a missing collector is not (restarting would only
//   throw the spool away), so it does not fail liveness.
// - /readyz (readiness): the collector stream is up and the Kubernetes watches have
//   listed, i.e. what the agent reports is complete.
// - /metrics: the agent's own Prometheus metrics.
// - /status: the same status as JSON, for people; `?programs=1` also has the kernel count
//   the BPF programs' run time for the next minute (off otherwise: it costs every program
//   on the node two clock reads per run), so a second ask shows what they cost.
import Fastify, { type FastifyInstance } from 'fastify';
import type { AgentStatus } from './agent.js';
import { agentRegistry } from './agent-metrics.js';

/** What the HTTP side reads of the agent, and the one thing it may ask of it. */
export interface AgentHttpSource {
  status(): AgentStatus;
  countProgramRunTime(): boolean;
}

// One answer shape for both checks, healthy (200) or not (503).
const checkSchema = { response: { 200: { $ref: 'check#' }, 503: { $ref: 'check#' } } } as const;
const statusSchema = {
  querystring: {
    type: 'object',
    properties: { programs: { type: 'string', enum: ['0', '1'] } },
    additionalProperties: false,
  },
} as const;

export async function buildAgentHttp(agent: AgentHttpSource): Promise<FastifyInstance> {
  const status = () => agent.status();
  const app = Fastify({ logger: false });
  const { registry, stop: stopProcessMetrics } = agentRegistry(status);
  app.addHook('onClose', async () => stopProcessMetrics());
  app.addSchema({
    $id: 'check',
    type: 'object',
    properties: { ok: { type: 'boolean' }, reasons: { type: 'array', items: { type: 'string' } } },
  });
  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    const code = error.statusCode ?? 500;
    reply
      .status(code)
      .send({ error: code >= 500 ? 'internal error' : error.name, message: error.message });
  });

  const answer = (reasons: string[], reply: { status(code: number): unknown }) => {
    reply.status(reasons.length ? 503 : 200);
    return { ok: reasons.length === 0, reasons };
  };
  app.get('/healthz', { schema: checkSchema }, async (_request, reply) => {
    const s = status();
    return answer(s.probesRunning ? [] : ['the kernel probes stopped'], reply);
  });
  app.get('/readyz', { schema: checkSchema }, async (_request, reply) => {
    const s = status();
    const reasons: string[] = [];
    if (!s.probesRunning) reasons.push('the kernel probes stopped');
    if (!s.shipper.connected)
      reasons.push(
        `not connected to the collector${s.shipper.lastError ? `: ${s.shipper.lastError}` : ''}`,
      );
    for (const [resource, w] of Object.entries(s.kubernetes ?? {}))
      if (!w.synced) reasons.push(`the ${resource} watch has not listed yet`);
    return answer(reasons, reply);
  });
  app.get('/metrics', async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
  app.get<{ Querystring: { programs?: '0' | '1' } }>(
    '/status',
    { schema: statusSchema },
    async (request) => {
      if (request.query.programs === '1') agent.countProgramRunTime();
      return status();
    },
  );
  return app;
}
