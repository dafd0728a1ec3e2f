// The kernel's own TCP counters of a network namespace (/proc/net/snmp is per namespace):
// the ground truth that retransmit counts are compared with.
import { runIn } from './exec.js';

/** A field of the Tcp line of /proc/net/snmp, e.g. RetransSegs. Throws when it has none. */
export function tcpCounter(netns: string, field: string): number {
  const lines = runIn(netns, 'cat', ['/proc/net/snmp'])
    .split('\n')
    .filter((l) => l.startsWith('Tcp:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const i = names.indexOf(field);
  if (i < 1) throw new Error(`no Tcp ${field} in /proc/net/snmp`);
  return Number(values[i]);
}
