// What the kernel side could not account, defined once, as proto/edge-metrics.ts defines an
// edge's counters. From this table:
//   - the kernel's struct tg_lost and its field list (probes/src/counters.h, generated),
//     and so the runner's layout and the decoder's offsets;
//   - the agent's loss figures: each cause adds into one of them (what AgentCost's
//     LossCounters carries, and the agent's /status and /metrics), and each cause is also
//     reported on its own in the agent's /status and /metrics, so a full map is named.
// Pure data.

/** The agent's figure a kernel cause adds into. */
export type LossFigure =
  /** LossCounters.kernel_map_full: a map was full, so sockets or keys went untracked. */
  | 'kernelMapFull'
  /** LossCounters.kernel_buffer_full: a ring buffer was full. */
  | 'kernelBufferFull'
  /** Not a loss of data: a socket's state found stale and dropped (the agent's status). */
  | 'staleSocketStates'
  /**
   * Not a loss of data: requests and replies whose hop was kept to the proxy's write, not
   * run on to the next reader, for want of room to note the hand-off (the agent's
   * status).
   */
  | 'handoffsNotNoted';

export interface LossMetric {
  /** In C and in the agent's per-cause metric label. */
  readonly name: string;
  /** In TypeScript: the decoder's records. */
  readonly ts: string;
  /** The C field's comment. */
  readonly doc: string;
  readonly figure: LossFigure;
}

/** Cumulative since the runner loaded the programs; in the order of the kernel's struct. */
export const LOSS_METRICS = [
  {
    name: 'edge_map_full',
    ts: 'edgeMapFull',
    doc: "Events of an edge that found no room in the interval's edge index or slots.",
    figure: 'kernelMapFull',
  },
  {
    name: 'hist_map_full',
    ts: 'histMapFull',
    doc: "Latency samples that found no room in the interval's histogram map.",
    figure: 'kernelMapFull',
  },
  {
    name: 'sock_map_full',
    ts: 'sockMapFull',
    doc: 'Events of a socket not traced for want of room for its state (the map evicts nothing: once full, new sockets wait for room, and each of their events is counted here).',
    figure: 'kernelMapFull',
  },
  {
    name: 'tuple_map_full',
    ts: 'tupleMapFull',
    doc: "Connection samples that found no room in the interval's tuple map.",
    figure: 'kernelMapFull',
  },
  {
    name: 'hop_queue_full',
    ts: 'hopQueueFull',
    doc: 'A pending proxy read overwritten before it was paired.',
    figure: 'kernelMapFull',
  },
  {
    name: 'hop_map_full',
    ts: 'hopMapFull',
    doc: "Hop counts that found no room in the interval's hop map.",
    figure: 'kernelMapFull',
  },
  {
    name: 'process_events_full',
    ts: 'processEventsFull',
    doc: 'Process events the ring buffer had no room for.',
    figure: 'kernelBufferFull',
  },
  {
    name: 'listener_map_full',
    ts: 'listenerMapFull',
    doc: 'Listening ports not kept: adopted sockets guess their side.',
    figure: 'kernelMapFull',
  },
  {
    name: 'sock_state_stale',
    ts: 'sockStateStale',
    doc: "A socket's state found left by a freed socket at the same address (its close was missed): dropped, the new socket traced afresh.",
    figure: 'staleSocketStates',
  },
  {
    name: 'handoff_map_full',
    ts: 'handoffMapFull',
    doc: "Requests and replies not handed off for want of room in the hand-off map (a reader was waiting, or busy with the proxy's burst): their hops end where the proxy's write left them, as a busy reader's do.",
    figure: 'handoffsNotNoted',
  },
  {
    name: 'http2_map_full',
    ts: 'http2MapFull',
    doc: "Connections that began with HTTP/2's client preface not followed for want of room in the HTTP/2 framing map: their requests are counted by exchanges, as any connection's.",
    figure: 'kernelMapFull',
  },
] as const satisfies readonly LossMetric[];

/** A kernel cause, by its TypeScript name. */
export type LossCause = (typeof LOSS_METRICS)[number]['ts'];

export type LostCounters = Record<LossCause, number>;

export const LOSS_CAUSES: readonly LossCause[] = LOSS_METRICS.map((m) => m.ts);

/** Every cause at 0 (a source that counts none of them: the bpftrace fallback). */
export function noLoss(): LostCounters {
  return Object.fromEntries(LOSS_CAUSES.map((c) => [c, 0])) as LostCounters;
}

/** The agent's loss figures from the kernel's causes, as the table says. */
export function lossFigures(lost: Readonly<LostCounters>): Record<LossFigure, number> {
  const out: Record<LossFigure, number> = {
    kernelMapFull: 0,
    kernelBufferFull: 0,
    staleSocketStates: 0,
    handoffsNotNoted: 0,
  };
  for (const m of LOSS_METRICS) out[m.figure] += lost[m.ts];
  return out;
}
