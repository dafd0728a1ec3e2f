// Live topology over a WebSocket: a snapshot when a client connects, then a delta each
// interval with only what changed, keyed by stable ids so the view keeps positions.
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { diffTopology, isEmptyDelta } from '../../model/diff.js';
import type { PodCost } from '../../model/sidecar-cost.js';
import type { Topology } from '../../model/topology.js';
import type { Queries } from '../../queries.js';

export interface LiveOptions {
  queries: Queries;
  /** How often deltas are computed (ms). */
  intervalMs: number;
  /** The sliding window the live view shows (ms). */
  windowMs: number;
}

type View = { topology: Topology; costs: PodCost[] };

export default async function liveRoutes(app: FastifyInstance, opts: LiveOptions) {
  const clients = new Set<WebSocket>();
  let last: View | undefined;
  const current = (): View => {
    const now = Date.now();
    const v = opts.queries.view({ fromMs: now - opts.windowMs, toMs: now });
    return { topology: v.topology, costs: v.costs };
  };
  const timer = setInterval(() => {
    if (clients.size === 0) {
      last = undefined;
      return;
    }
    const next = current();
    if (last) {
      const delta = diffTopology(last, next);
      if (!isEmptyDelta(delta)) {
        const text = JSON.stringify({ type: 'delta', ...delta });
        // A client that cannot keep up is dropped rather than buffered without bound.
        for (const ws of clients) {
          if (ws.bufferedAmount > 8 * 2 ** 20) ws.terminate();
          else ws.send(text);
        }
      }
    }
    last = next;
  }, opts.intervalMs);
  app.addHook('onClose', async () => clearInterval(timer));

  app.get('/live', { websocket: true }, (socket) => {
    clients.add(socket);
    socket.on('close', () => clients.delete(socket));
    const view = last ?? current();
    last = view;
    socket.send(JSON.stringify({ type: 'snapshot', ...view.topology, costs: view.costs }));
  });
}
