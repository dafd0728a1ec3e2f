// Reads a running haproxy's own counters through its stats socket.
import { connect } from 'node:net';
import { type HaproxyStatRow, parseHaproxyStat } from './sidecar-config.js';

export async function readHaproxyStats(
  socketPath: string,
  timeoutMs = 2000,
): Promise<HaproxyStatRow[]> {
  return parseHaproxyStat(await haproxyCommand(socketPath, 'show stat\n', timeoutMs));
}

/** Sends one command line to the stats socket and returns haproxy's whole answer. */
export function haproxyCommand(
  socketPath: string,
  command: string,
  timeoutMs = 2000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let text = '';
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new Error(`haproxy stats socket ${socketPath} timed out`)),
    );
    socket.on('connect', () => socket.write(command));
    socket.on('data', (chunk) => {
      text += chunk.toString('utf8');
    });
    socket.on('error', reject);
    socket.on('end', () => resolve(text));
  });
}

/** The FRONTEND row of a listener ('inbound' or 'outbound'). */
export function frontend(
  rows: readonly HaproxyStatRow[],
  name: string,
): HaproxyStatRow | undefined {
  return rows.find((r) => r.proxy === name && r.server === 'FRONTEND');
}
