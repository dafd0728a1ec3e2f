// wrk, the closed-loop HTTP load generator, run inside a lab pod: it finds saturation
// throughput with less CPU per request than any Node client. Its report is parsed here.
import type { Lab } from '../lab/lab.js';

export interface WrkResult {
  requests: number;
  requestsPerS: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx/3xx responses plus socket errors of every kind. */
  errors: number;
}

const UNIT_MS: Record<string, number> = { us: 1e-3, ms: 1, s: 1000, m: 60_000 };

function latencyMs(report: string, percent: string): number {
  const match = new RegExp(`^\\s+${percent}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(report);
  if (!match) throw new Error(`wrk reported no ${percent}% latency (run it with --latency)`);
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

/** Reads the summary wrk prints with --latency. Throws when a figure is missing. */
export function parseWrkReport(report: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(report);
  const requests = /^\s+(\d+) requests in /m.exec(report);
  if (!rps || !requests) throw new Error(`not a wrk report: ${report.slice(0, 200)}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(report);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    report,
  );
  const socketErrors = socket ? socket.slice(1).reduce((s, n) => s + Number(n), 0) : 0;
  return {
    requests: Number(requests[1]),
    requestsPerS: Number(rps[1]),
    p50Ms: latencyMs(report, '50'),
    p99Ms: latencyMs(report, '99'),
    errors: Number(non2xx?.[1] ?? 0) + socketErrors,
  };
}

/** Runs wrk from a pod for a bounded time and returns its parsed report. */
export async function runWrk(
  lab: Lab,
  fromPod: string,
  url: string,
  options: { connections: number; seconds: number },
): Promise<WrkResult> {
  const child = lab.exec(fromPod, 'wrk', 'wrk', [
    '--threads',
    '1',
    '--connections',
    String(options.connections),
    '--duration',
    `${options.seconds}s`,
    '--timeout',
    '5s',
    '--latency',
    url,
  ]);
  let report = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    report += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`wrk exited with ${code}: ${report.slice(0, 200)}`);
  return parseWrkReport(report);
}
