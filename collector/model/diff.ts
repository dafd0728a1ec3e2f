// What changed between two topologies, keyed by stable ids, so the live view updates in
// place (positions kept) instead of redrawing. Pure.
import type { Collections, PodCost, Topology, TopologyDelta } from '../../proto/api.js';

const COLLECTIONS: readonly Collections[] = ['pods', 'processes', 'externals', 'edges'];

function changes<T extends { id?: string; pod?: string }>(
  before: readonly T[],
  after: readonly T[],
  idOf: (x: T) => string,
): { upserted: T[]; removed: string[] } {
  const old = new Map(before.map((x) => [idOf(x), JSON.stringify(x)]));
  const upserted = after.filter((x) => old.get(idOf(x)) !== JSON.stringify(x));
  const now = new Set(after.map(idOf));
  return { upserted, removed: [...old.keys()].filter((id) => !now.has(id)) };
}

export function diffTopology(
  before: { topology: Topology; costs: PodCost[] },
  after: { topology: Topology; costs: PodCost[] },
): TopologyDelta {
  const delta: TopologyDelta = {
    fromMs: after.topology.fromMs,
    toMs: after.topology.toMs,
    upserted: { pods: [], processes: [], externals: [], edges: [] },
    removed: { pods: [], processes: [], externals: [], edges: [] },
    costs: changes(before.costs, after.costs, (c) => c.pod),
  };
  for (const name of COLLECTIONS) {
    const c = changes<{ id: string }>(before.topology[name], after.topology[name], (x) => x.id);
    (delta.upserted[name] as { id: string }[]) = c.upserted;
    delta.removed[name] = c.removed;
  }
  return delta;
}

export function isEmptyDelta(d: TopologyDelta): boolean {
  return (
    COLLECTIONS.every((n) => d.upserted[n].length === 0 && d.removed[n].length === 0) &&
    d.costs.upserted.length === 0 &&
    d.costs.removed.length === 0
  );
}
