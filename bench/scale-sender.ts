// The simulated agents of `bench scale`, in a process of their own (the driver,
// bench/scale.ts, starts bench/scale-sender-main.ts): one real Shipper per simulated
// node, each with its own agent id, boot id, node name and TCP connection, shipping one
// batch of its node's shape per second on a schedule that does not wait for the
// collector (an agent's drain does not either).
//
// Apart from the driver because what it costs would otherwise be the driver's too and
// its event loop would delay the driver's measurements; its CPU is read from /proc by
// the driver. Its own event loop is one for all the shippers: the time an ack waits for
// it is in the ack times measured here, so that delay is measured and reported too.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DEFAULT_BACKOFF } from '../daemonset/shipping/backoff.js';
import { shipDelayMs } from '../daemonset/shipping/ship-delay.js';
import { Shipper } from '../daemonset/shipping/shipper.js';
import { agentId, type NodeShape, nodeInterval, nodeName, nodeStatics } from './scale-node.js';

export interface SenderConfig {
  /** host:port of the collector's gRPC ingest. */
  target: string;
  agents: number;
  shape: NodeShape;
  /** Intervals measured, one second each, after one of warm-up. */
  intervals: number;
  /** How long the shippers may take to be acknowledged after the last interval. */
  drainTimeoutMs: number;
}

export interface SenderTotals {
  /** Batches made (send() called), warm-up included. */
  made: number;
  stored: number;
  duplicates: number;
  rejected: number;
  spoolDropped: number;
  reconnects: number;
}

export type SenderMessage =
  | { type: 'warm'; totals: SenderTotals; warmupMs: number }
  | { type: 'sent'; totals: SenderTotals; sendingMs: number }
  | {
      type: 'done';
      totals: SenderTotals;
      drained: boolean;
      /** From the first measured send to the last acknowledgement. */
      wallMs: number;
      /** Send to acknowledgement of each measured batch, ms, in no order. */
      ackMs: number[];
      /** Measured batches sent later than their schedule said, by how much at most (ms). */
      lateMaxMs: number;
      eventLoopDelayMs: { p50: number; p99: number; max: number };
      /** Why the shippers' streams last ended, if they did (distinct, at most 5). */
      lastErrors: string[];
    }
  | { type: 'error'; message: string };

export type DriverMessage = { type: 'go' } | { type: 'stop' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runSender(
  config: SenderConfig,
  post: (m: SenderMessage) => void,
  next: () => Promise<DriverMessage>,
): Promise<void> {
  const { agents, shape, intervals } = config;
  const shippers = Array.from(
    { length: agents },
    (_, i) =>
      new Shipper({
        target: config.target,
        hello: {
          agentId: agentId(i),
          node: nodeName(i),
          agentVersion: 'bench-scale',
          nodeInfo: { kernelRelease: '6.1.0', cpuCores: 16, memoryBytes: 64 * 2 ** 30 },
        },
        // grpc-js shares one connection among clients of one process whose target and
        // channel options are equal: 200 agents would be 200 streams on one HTTP/2
        // connection and one flow-control window. A reconnect delay 1 ms apart per agent
        // makes each channel's options its own, so each agent has its own connection.
        backoff: { initialMs: DEFAULT_BACKOFF.initialMs + i, maxMs: DEFAULT_BACKOFF.maxMs },
      }),
  );
  const statics = Array.from({ length: agents }, (_, i) => nodeStatics(shape, i));
  let made = 0;
  const totals = (): SenderTotals => {
    const t = { made, stored: 0, duplicates: 0, rejected: 0, spoolDropped: 0, reconnects: 0 };
    for (const s of shippers) {
      const st = s.stats();
      t.stored += st.stored;
      t.duplicates += st.duplicates;
      t.rejected += st.rejected;
      t.spoolDropped += st.spoolDropped;
      t.reconnects += st.reconnects;
    }
    return t;
  };
  const flushAll = async (timeoutMs: number) =>
    (await Promise.all(shippers.map((s) => s.flush(timeoutMs)))).every(Boolean);
  try {
    // Real time, as the collector sees a cluster: every agent's interval k ends at the same
    // moment, as the runner ends intervals at whole multiples of the interval, and each
    // agent sends it after its node's own delay (shipDelayMs), as `tollgate agent` does.
    // (Faster than real time would stamp intervals in the past or the future, and the
    // collector takes another path for rows its rollups have passed: not what it does
    // with agents shipping as they go.)
    let start = 0;
    const delays = Array.from({ length: agents }, (_, i) => shipDelayMs(nodeName(i), 1000));
    const endAt = (k: number) => start + (k - 1) * 1000;
    const dueAt = (i: number, k: number) => endAt(k) + delays[i]!;
    const clock = Date.now() - performance.now();
    const endOf = (k: number) => Math.round(clock + endAt(k));
    const send = (i: number, k: number) => {
      made++;
      return shippers[i]!.send(nodeInterval(shape, agents, i, k, endOf(k), statics[i]!));
    };
    for (const s of shippers) s.start();
    // Warm-up: each node's first interval (identities, ends, prepared statements).
    const warmT = performance.now();
    // The warm-up interval ended a second before now, sent at once; the measured ones
    // follow once the driver says go.
    start = warmT;
    for (let i = 0; i < agents; i++) send(i, 0);
    if (!(await flushAll(Math.max(120_000, config.drainTimeoutMs))))
      throw new Error('the collector did not acknowledge the warm-up batches');
    post({ type: 'warm', totals: totals(), warmupMs: performance.now() - warmT });
    const go = await next();
    if (go.type !== 'go') return;

    const ackMs: number[] = [];
    let lastAck = 0;
    const sentAt = shippers.map(() => new Map<number, number>());
    for (const [i, s] of shippers.entries())
      s.on('ack', (a) => {
        const at = sentAt[i]!.get(a.sequence);
        if (at === undefined) return;
        sentAt[i]!.delete(a.sequence);
        lastAck = performance.now();
        ackMs.push(lastAck - at);
      });
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    // The measured intervals follow the warm-up's simulated time; from now, if later.
    start = Math.max(start, performance.now());
    let lateMaxMs = 0;
    await Promise.all(
      shippers.map(async (_, i) => {
        for (let k = 1; k <= intervals; k++) {
          const due = dueAt(i, k);
          const wait = due - performance.now();
          if (wait > 0) await sleep(wait);
          else lateMaxMs = Math.max(lateMaxMs, -wait);
          const at = performance.now();
          sentAt[i]!.set(send(i, k), at);
        }
      }),
    );
    post({ type: 'sent', totals: totals(), sendingMs: performance.now() - start });
    const drained = await flushAll(config.drainTimeoutMs);
    loop.disable();
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    post({
      type: 'done',
      totals: totals(),
      drained,
      wallMs: (drained ? lastAck : performance.now()) - start,
      ackMs,
      lateMaxMs,
      eventLoopDelayMs: {
        p50: ms(loop.percentile(50)),
        p99: ms(loop.percentile(99)),
        max: ms(loop.max),
      },
      lastErrors: [
        ...new Set(shippers.map((s) => s.stats().lastError).filter((e): e is string => !!e)),
      ].slice(0, 5),
    });
    await next();
  } finally {
    await Promise.all(shippers.map((s) => s.stop()));
  }
}
