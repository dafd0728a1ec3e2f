// CPU seconds of a process and its children, live and reaped: a database server's
// postmaster and its backends, which come and go with connections. From /proc: the
// postmaster's own time and its waited-for children's (stat fields 14-17), and each
// live child's own.
import { readdirSync, readFileSync } from 'node:fs';
import { clockTicksPerSecond } from '../daemonset/proc-resources.js';

/** Fields after the command (which may hold spaces and parentheses), from field 3 on. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

export function processTreeCpuSeconds(root: number): number {
  const ticks = clockTicksPerSecond();
  const own = statFields(root);
  if (!own) return 0;
  // Field n is at index n - 3: utime 14, stime 15, cutime 16, cstime 17; ppid is 4.
  let total = [11, 12, 13, 14].reduce((n, i) => n + Number(own[i]), 0);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields && Number(fields[1]) === root) total += Number(fields[11]) + Number(fields[12]);
  }
  return total / ticks;
}
