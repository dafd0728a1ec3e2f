// Answering a request with a refusal from an onRequest hook, WebSocket handshakes included.
// A handshake's socket is handed to fastify outside Node's HTTP server, which will not
// close it after the response; and a hook that refuses runs before the one
// @fastify/websocket uses to close it. Left open, a refused handshake would hold the
// socket (and the server's shutdown) for as long as the other side keeps it.
import type { FastifyReply, FastifyRequest } from 'fastify';

export function refuse(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  body: { error: string; message: string },
): FastifyReply {
  if (request.headers.upgrade !== undefined) {
    reply.header('connection', 'close');
    reply.raw.once('finish', () => request.raw.socket.destroy());
  }
  return reply.status(status).send(body);
}
