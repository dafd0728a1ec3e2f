// Reads a running haproxy's own counters through its stats socket.
import { connect } from 'node:net';
import { type HaproxyStatRow, parseHaproxyStat } from './sidecar-config.js';

export function readHaproxyStats(socketPath: string, timeoutMs = 2000): Promise<HaproxyStatRow[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let text = '';
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new Error(`haproxy stats socket ${socketPath} timed out`)),
    );
    socket.on('connect', () => socket.write('show stat\n'));
    socket.on('data', (chunk) => {
      text += chunk.toString('utf8');
    });
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(parseHaproxyStat(text));
      } catch (error) {
        reject(error);
      }
    });
  });
}

/** The FRONTEND row of a listener ('inbound' or 'outbound'). */
export function frontend(
  rows: readonly HaproxyStatRow[],
  name: string,
): HaproxyStatRow | undefined {
  return rows.find((r) => r.proxy === name && r.server === 'FRONTEND');
}
