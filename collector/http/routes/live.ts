// Live topology over a WebSocket: a snapshot when a client connects, then a delta each
// interval with only what changed, keyed by stable ids so the view keeps positions.
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import type { LiveMessage } from '../../../proto/api.js';
import { diffTopology, isEmptyDelta } from '../../model/diff.js';
import type { Reader, TopologyView } from '../../read/reader.js';

export interface LiveOptions {
  reader: Reader;
  /** How often deltas are computed (ms). */
  intervalMs: number;
  /** The sliding window the live view shows (ms). */
  windowMs: number;
}

export default async function liveRoutes(app: FastifyInstance, opts: LiveOptions) {
  const clients = new Set<WebSocket>();
  let last: TopologyView | undefined;
  let computing = false;
  const current = (): Promise<TopologyView> => {
    const now = Date.now();
    return opts.reader.view({ fromMs: now - opts.windowMs, toMs: now });
  };
  const tick = async () => {
    if (clients.size === 0) {
      last = undefined;
      return;
    }
    // A view that takes longer than the interval is not queued behind itself.
    if (computing) return;
    computing = true;
    let next: TopologyView;
    try {
      next = await current();
    } catch (error) {
      app.log.error(error);
      return;
    } finally {
      computing = false;
    }
    if (last) {
      const delta = diffTopology(last, next);
      if (!isEmptyDelta(delta)) {
        const text = JSON.stringify({ type: 'delta', ...delta } satisfies LiveMessage);
        // A client that cannot keep up is dropped rather than buffered without bound.
        for (const ws of clients) {
          if (ws.bufferedAmount > 8 * 2 ** 20) ws.terminate();
          else ws.send(text);
        }
      }
    }
    last = next;
  };
  const timer = setInterval(() => void tick(), opts.intervalMs);
  app.addHook('onClose', async () => clearInterval(timer));

  app.get('/live', { websocket: true }, async (socket) => {
    clients.add(socket);
    socket.on('close', () => clients.delete(socket));
    let view = last;
    if (!view) {
      try {
        view = await current();
      } catch (error) {
        app.log.error(error);
        socket.close(1011, 'the collector could not read its store');
        return;
      }
      // A tick may have computed a newer one meanwhile: deltas follow that one.
      view = last ?? view;
      last = view;
    }
    socket.send(
      JSON.stringify({
        type: 'snapshot',
        ...view.topology,
        costs: view.costs,
      } satisfies LiveMessage),
    );
  });
}
