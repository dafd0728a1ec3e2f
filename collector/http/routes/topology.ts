// The topology of a range, each pod's sidecar cost, and the detail views.
import type { FastifyInstance } from 'fastify';
import type {
  AgentView,
  EdgeDetail,
  PodCost,
  PodDetail,
  TopologyProcess,
  TopologyResponse,
} from '../../../proto/api.js';
import type { Reader } from '../../read/reader.js';
import { type RangeQuery, rangeQuerySchema, toRange } from '../range.js';

export interface TopologyRoutesOptions {
  reader: Reader;
}

class NotFound extends Error {
  readonly statusCode = 404;
}

export default async function topologyRoutes(app: FastifyInstance, opts: TopologyRoutesOptions) {
  const { reader } = opts;

  // Each reply typed by the shape proto/api.ts names, which the viewer reads it as.
  app.get<{ Querystring: RangeQuery; Reply: TopologyResponse }>(
    '/topology',
    { schema: { querystring: rangeQuerySchema } },
    async (request) => {
      const view = await reader.view(toRange(request.query));
      return { ...view.topology, costs: view.costs };
    },
  );

  app.get<{ Querystring: RangeQuery; Reply: TopologyProcess[] }>(
    '/processes',
    { schema: { querystring: rangeQuerySchema } },
    async (request) => (await reader.view(toRange(request.query))).topology.processes,
  );

  app.get<{ Querystring: RangeQuery; Reply: PodCost[] }>(
    '/pods',
    { schema: { querystring: rangeQuerySchema } },
    async (request) => (await reader.view(toRange(request.query))).costs,
  );

  app.get<{
    Params: { namespace: string; name: string };
    Querystring: RangeQuery;
    Reply: PodDetail;
  }>(
    '/pods/:namespace/:name',
    {
      schema: {
        params: {
          type: 'object',
          properties: { namespace: { type: 'string' }, name: { type: 'string', minLength: 1 } },
          required: ['namespace', 'name'],
        },
        querystring: rangeQuerySchema,
      },
    },
    async (request) => {
      const { namespace, name } = request.params;
      const detail = await reader.pod(namespace, name, toRange(request.query));
      if (!detail) throw new NotFound(`no pod ${namespace}/${name} in this range`);
      return detail;
    },
  );

  app.get<{
    Params: { id: string };
    Querystring: RangeQuery & { step?: number };
    Reply: EdgeDetail;
  }>(
    '/edges/:id',
    {
      schema: {
        params: {
          type: 'object',
          properties: { id: { type: 'string', minLength: 1, maxLength: 2048 } },
          required: ['id'],
        },
        querystring: {
          ...rangeQuerySchema,
          properties: { ...rangeQuerySchema.properties, step: { type: 'integer', minimum: 1 } },
        },
      },
    },
    async (request) => {
      const { step, ...range } = request.query;
      const r = toRange(range);
      // About 60 points over the range, at least one per second.
      const stepMs = (step ?? Math.max(1, Math.ceil((r.toMs - r.fromMs) / 60_000))) * 1000;
      const detail = await reader.edge(request.params.id, r, stepMs);
      if (!detail) throw new NotFound(`no edge ${request.params.id} in this range`);
      return detail;
    },
  );

  app.get<{ Querystring: RangeQuery; Reply: AgentView[] }>(
    '/agents',
    { schema: { querystring: rangeQuerySchema } },
    async (request) => reader.agents(toRange(request.query)),
  );
}
