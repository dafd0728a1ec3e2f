// The shapes the collector's API sends, named once for the viewer. Types only, and from
// proto/ alone: proto/api.ts defines them for the collector and the viewer both.

export type {
  AgentCostReport,
  AgentView,
  ComparedItem,
  Comparison,
  DirectionCost,
  EdgeDetail,
  EndSummary,
  FileHistogram,
  LiveMessage,
  MetricDelta,
  PodCost,
  PodDetail,
  ProcessCost,
  SessionDetail,
  SessionFile,
  SessionSummary,
  StartSpec,
  Topology,
  TopologyDelta,
  TopologyEdge,
  TopologyExternal,
  TopologyPod,
  TopologyProcess,
  TopologyResponse,
} from '../../../proto/api.js';
export type { SparseHistogram } from '../../../proto/histogram.js';
export type { LatencyStats } from '../../../proto/latency.js';
