// Store-shaped records for tests of the topology model: processes in netns pods, and ends
// with the counters a test names (the rest zero).
import type { EndRecord, ProcessRecord } from '../../collector/model/topology.js';
import { emptyAggregate } from '../../collector/store/aggregate.js';
import { seriesKind } from '../../collector/store/series.js';

const END = seriesKind('end');

export function processRecord(
  key: string,
  pid: number,
  pod: string,
  netnsInode: number,
): ProcessRecord {
  return {
    key,
    node: 'n1',
    identity: {
      ref: { pid, startTimeTicks: 1 },
      comm: pod,
      exe: `/bin/${pod}`,
      cmdline: [],
      containerId: '',
      containerName: '',
      cgroupId: 0,
      netnsInode,
      pod: {
        namespace: 'default',
        name: pod,
        uid: '',
        node: 'n1',
        labels: {},
        source: 'POD_SOURCE_NETNS',
      },
      role: 'ROLE_APP',
    },
  };
}

export function end(
  id: number,
  processKey: string,
  side: 'client' | 'server',
  local: string,
  remote: string,
  port: number,
  counts: { accepts?: number; connects?: number; exchanges: number },
): EndRecord {
  const metrics = emptyAggregate(END);
  metrics.sums.accepts = counts.accepts ?? 0;
  metrics.sums.connects = counts.connects ?? 0;
  metrics.sums.exchanges = counts.exchanges;
  return { id, processKey, side, localAddress: local, remoteAddress: remote, port, metrics };
}
