// Profiling sessions: list, start, stop, show, delete, export (download), import
// (upload) and compare.
import type { FastifyInstance } from 'fastify';
import type {
  Comparison,
  SessionDetail,
  SessionFile,
  SessionSummary,
  StartSpec,
} from '../../../proto/api.js';
import {
  encodeSessionJson,
  FILE_LIMITS,
  SessionFileError,
  type SessionFileFormat,
} from '../../sessions/session-file.js';
import { SessionError, type SessionManager } from '../../sessions/session-manager.js';

export interface SessionRoutesOptions {
  sessions: SessionManager;
}

const idParams = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
  required: ['id'],
} as const;

const stringList = { type: 'array', items: { type: 'string', maxLength: 4096 }, maxItems: 256 };

const startBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    labels: {
      type: 'object',
      additionalProperties: { type: 'string', maxLength: 256 },
      maxProperties: 64,
    },
    target: {
      type: 'object',
      additionalProperties: false,
      properties: {
        namespaces: stringList,
        podSelector: { type: 'string', maxLength: 4096 },
        pods: stringList,
      },
    },
    durationS: { type: 'number', exclusiveMinimum: 0 },
    kubernetesVersion: { type: 'string', maxLength: 64 },
    mesh: {
      type: 'object',
      additionalProperties: false,
      properties: {
        mesh: { type: 'string', maxLength: 64 },
        version: { type: 'string', maxLength: 64 },
        proxyConcurrency: { type: 'integer', minimum: 0, maximum: 4096 },
        mtls: { type: 'boolean' },
      },
    },
    load: {
      type: 'object',
      additionalProperties: false,
      required: ['rps', 'connections', 'durationS'],
      properties: {
        urls: { ...stringList, maxItems: 16 },
        generator: { type: 'string', maxLength: 64 },
        rps: { type: 'number' },
        connections: { type: 'integer' },
        durationS: { type: 'number' },
      },
    },
  },
} as const;

const formatQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { format: { type: 'string', enum: ['json', 'pb'] }, token: { type: 'string' } },
} as const;

/** Errors of the pure modules, as HTTP errors for the one error handler. */
function asHttp(error: unknown): unknown {
  if (error instanceof SessionFileError) return Object.assign(error, { statusCode: 400 });
  if (error instanceof SessionError) return Object.assign(error, { statusCode: error.status });
  return error;
}

async function answer<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw asHttp(error);
  }
}

export default async function sessionRoutes(app: FastifyInstance, opts: SessionRoutesOptions) {
  const { sessions } = opts;

  // Session files are uploaded as they are, so their bytes are checked, not a re-parse.
  app.addContentTypeParser(
    ['application/octet-stream', 'application/x-protobuf'],
    { parseAs: 'buffer', bodyLimit: FILE_LIMITS.bytes },
    (_request, body, done) => done(null, body),
  );

  // Replies typed by the shapes proto/api.ts names, which the viewer reads them as.
  app.get<{ Reply: SessionSummary[] }>('/sessions', async () => sessions.list());

  app.post<{ Body: StartSpec; Reply: SessionSummary }>(
    '/sessions',
    { schema: { body: startBody } },
    async (request, reply) => {
      const started = await answer(() => sessions.start(request.body));
      reply.status(201);
      return started;
    },
  );

  app.get<{ Params: { id: string }; Reply: SessionDetail }>(
    '/sessions/:id',
    { schema: { params: idParams } },
    async (request) =>
      answer(async () => {
        const summary = await sessions.get(request.params.id);
        const result =
          summary.state === 'stopped' || summary.state === 'imported'
            ? (JSON.parse(encodeSessionJson(await sessions.result(summary.id))) as SessionFile)
            : null;
        return { ...summary, result };
      }),
  );

  app.post<{ Params: { id: string }; Reply: SessionSummary }>(
    '/sessions/:id/stop',
    { schema: { params: idParams } },
    async (request) => answer(() => sessions.stop(request.params.id)),
  );

  app.delete<{ Params: { id: string } }>(
    '/sessions/:id',
    { schema: { params: idParams } },
    async (request, reply) => {
      await answer(() => sessions.remove(request.params.id));
      reply.status(204);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { format?: SessionFileFormat } }>(
    '/sessions/:id/export',
    { schema: { params: idParams, querystring: formatQuery } },
    async (request, reply) => {
      const format = request.query.format ?? 'json';
      const bytes = await answer(() => sessions.export(request.params.id, format));
      const name = `${request.params.id}.tollgate.${format === 'json' ? 'json' : 'pb'}`;
      reply
        .type(format === 'json' ? 'application/json; charset=utf-8' : 'application/x-protobuf')
        .header('content-disposition', `attachment; filename="${name}"`);
      return Buffer.from(bytes);
    },
  );

  app.post<{ Querystring: { format?: SessionFileFormat }; Body: Buffer; Reply: SessionSummary }>(
    '/sessions/import',
    { schema: { querystring: formatQuery }, bodyLimit: FILE_LIMITS.bytes },
    async (request, reply) => {
      if (!Buffer.isBuffer(request.body))
        throw Object.assign(
          new Error('send the file as application/octet-stream (or application/x-protobuf)'),
          { statusCode: 415, name: 'unsupported media type' },
        );
      const imported = await answer(() =>
        sessions.import(new Uint8Array(request.body), request.query.format ?? 'json'),
      );
      reply.status(201);
      return imported;
    },
  );

  app.get<{ Querystring: { a: string; b: string }; Reply: Comparison }>(
    '/sessions/compare',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['a', 'b'],
          properties: {
            a: { type: 'string', minLength: 1, maxLength: 128 },
            b: { type: 'string', minLength: 1, maxLength: 128 },
            token: { type: 'string' },
          },
        },
      },
    },
    async (request) => answer(() => sessions.compare(request.query.a, request.query.b)),
  );
}
