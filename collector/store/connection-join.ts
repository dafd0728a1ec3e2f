// Joins the two ends of a sampled connection, reported by different processes (often on
// different nodes, across a REDIRECT), into a link from the client end to the server end.
// Each end leaves its tuples as its report is written; the end that comes second finds
// the first's and links them, so the join is done at write time, in either order.
import type { EdgeReport } from '../../proto/gen/tollgate/v1.js';
import { tupleScope } from '../model/ids.js';
import { SIDE_CODE } from './identity-rows.js';
import type { Statements } from './statements.js';

/** How far apart the two ends' sightings of one connection may be and still join. */
export const TUPLE_WINDOW_MS = 60_000;

/** One end's sampled connections: remembered, and linked to the other end where it was seen. */
export function joinConnections(
  s: Statements,
  edge: EdgeReport,
  end: { id: number; side: number; node: string; netnsInode: number },
  seen: number,
): void {
  // Join the two ends of each sampled connection on the client's (address, port) and
  // initial sequence number: one ephemeral port can serve two destinations at once.
  const client = end.side === SIDE_CODE.CONNECTION_SIDE_CLIENT;
  const other = client ? SIDE_CODE.CONNECTION_SIDE_SERVER : SIDE_CODE.CONNECTION_SIDE_CLIENT;
  for (const tuple of edge.connections) {
    const address = tuple.client?.address ?? '';
    const port = tuple.client?.port ?? 0;
    if (!address || !port) continue;
    const scope = tupleScope(address, end.node, end.netnsInode);
    const isn = tuple.clientIsn;
    s.upsertTuple.run(scope, address, port, isn, end.side, end.id, seen);
    const match = s.findTuple.get(scope, address, port, isn, other) as
      | { end_id: number; seen_ms: number }
      | undefined;
    if (!match || Math.abs(match.seen_ms - seen) > TUPLE_WINDOW_MS) continue;
    const [clientEnd, serverEnd] = client ? [end.id, match.end_id] : [match.end_id, end.id];
    s.upsertLink.run(clientEnd, serverEnd, seen, seen);
  }
}
