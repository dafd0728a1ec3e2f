// Runs this agent's share of a session's load (open loop, constant rate) and keeps what
// it measured until the next batch carries it to the collector: reports travel in the
// spooled, acknowledged batches, so a collector restart does not lose them.
// Bounded: a few orders at once, each bounded in rate and time by the load generator,
// and a short queue of reports (oldest dropped and counted when it is full).

import { constantRateLoad, type LoadOptions, type LoadResult } from './load/load.js';

/** Runs one constant-rate load (by default from the agent's own network namespace). */
export type RunLoad = (options: LoadOptions) => Promise<LoadResult>;

import type { Init, LoadOrder, LoadReport } from '../proto/gen/tollgate/v1.js';
import { merge, type SparseHistogram } from '../proto/histogram.js';

export const LOAD_RUNNER_LIMITS = { running: 4, pendingReports: 64 } as const;

export class LoadRunner {
  private readonly running = new Set<string>();
  private pending: Init<LoadReport>[] = [];
  private timers = new Set<NodeJS.Timeout>();
  droppedReports = 0;

  constructor(private readonly runLoad: RunLoad = constantRateLoad) {}

  /** Starts an order at its start time; a refused order is reported at once with why. */
  run(order: LoadOrder): void {
    const refuse = (error: string) => this.report({ sessionId: order.sessionId, error });
    if (this.running.has(order.sessionId)) return;
    const problem =
      this.running.size >= LOAD_RUNNER_LIMITS.running
        ? `this agent runs ${this.running.size} loads already`
        : order.urls.length === 0
          ? 'the order names no url'
          : undefined;
    if (problem) {
      refuse(problem);
      return;
    }
    this.running.add(order.sessionId);
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        void this.execute(order).finally(() => this.running.delete(order.sessionId));
      },
      Math.max(0, order.startUnixMs - Date.now()),
    );
    this.timers.add(timer);
  }

  /** Reports finished since the last call, for the next batch. */
  take(): Init<LoadReport>[] {
    const reports = this.pending;
    this.pending = [];
    return reports;
  }

  /** Loads already under way run to their (bounded) end; those not yet begun are dropped. */
  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private report(report: Init<LoadReport>): void {
    if (this.pending.length >= LOAD_RUNNER_LIMITS.pendingReports) {
      this.pending.shift();
      this.droppedReports++;
    }
    this.pending.push(report);
  }

  private async execute(order: LoadOrder): Promise<void> {
    const startUnixMs = Date.now();
    const share = order.urls.length;
    let results: LoadResult[];
    try {
      results = await Promise.all(
        order.urls.map((url) =>
          this.runLoad({
            url,
            rate: order.rps / share,
            durationS: order.durationS,
            connections: Math.max(1, Math.ceil(order.connections / share)),
            timeoutMs: 10_000,
          }),
        ),
      );
    } catch (error) {
      this.report({ sessionId: order.sessionId, error: (error as Error).message, startUnixMs });
      return;
    }
    const latency = results.map((r) => r.latency).reduce((a: SparseHistogram, b) => merge(a, b));
    this.report({
      sessionId: order.sessionId,
      requests: results.reduce((n, r) => n + r.ok, 0),
      errors: results.reduce((n, r) => n + r.errors + r.timeouts, 0),
      latency,
      startUnixMs,
      endUnixMs: Date.now(),
    });
  }
}
