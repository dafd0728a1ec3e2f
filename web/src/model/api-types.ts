// The shapes the collector's API sends, named once for the viewer. Types only: the
// viewer shares the collector's model types instead of restating them.

export type { TopologyDelta } from '../../../collector/model/diff.js';
export type { DirectionCost, PodCost, ProcessCost } from '../../../collector/model/sidecar-cost.js';
export type {
  EndSummary,
  Topology,
  TopologyEdge,
  TopologyExternal,
  TopologyPod,
  TopologyProcess,
} from '../../../collector/model/topology.js';
export type { AgentView, EdgeDetail, PodDetail } from '../../../collector/queries.js';
export type {
  ComparedItem,
  Comparison,
  MetricDelta,
} from '../../../collector/sessions/compare.js';
export type { SessionSummary, StartSpec } from '../../../collector/sessions/session-manager.js';
export type { SparseHistogram } from '../../../proto/histogram.js';
export type { LatencyStats } from '../../../proto/latency.js';

import type { TopologyDelta } from '../../../collector/model/diff.js';
import type { PodCost } from '../../../collector/model/sidecar-cost.js';
import type { Topology } from '../../../collector/model/topology.js';

/** What the live WebSocket sends: a whole view first, then what changed. */
export type LiveMessage =
  | ({ type: 'snapshot'; costs: PodCost[] } & Topology)
  | ({ type: 'delta' } & TopologyDelta);
