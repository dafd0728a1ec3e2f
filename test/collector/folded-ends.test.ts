// A server end the kernel folded (a listener's clients past its per-interval limit, summed
// under an unspecified remote address) is many clients' counts, not one's. A client end
// whose sampled connection reached it is drawn to the server's process with its own counts
// only; the folded end is drawn once, from one "other clients" peer. So each count is in
// exactly one edge: the server side of the edges into the server adds up to what it served.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildTopology,
  type EndRecord,
  type ProcessRecord,
} from '../../collector/model/topology.js';
import { emptyAggregate } from '../../collector/store/aggregate.js';
import { seriesKind } from '../../collector/store/series.js';

const END = seriesKind('end');

function process(key: string, pid: number, pod: string, netnsInode: number): ProcessRecord {
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

function end(
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

test('a folded server end: its linked clients drawn to the server with their own counts, itself from "other clients"', () => {
  const processes = [
    process('p:server', 10, 'server', 1),
    process('p:kept', 20, 'kept', 2),
    process('p:folded', 30, 'folded', 3),
  ];
  const ends = [
    // The server: one client kept apart, the rest (600 exchanges, 3 of them the folded
    // client's) summed under 0.0.0.0.
    end(1, 'p:server', 'server', '10.0.0.1', '10.0.0.2', 8080, { accepts: 1, exchanges: 5 }),
    end(2, 'p:server', 'server', '10.0.0.1', '0.0.0.0', 8080, { accepts: 600, exchanges: 600 }),
    end(3, 'p:kept', 'client', '10.0.0.2', '10.0.0.1', 8080, { connects: 1, exchanges: 5 }),
    end(4, 'p:folded', 'client', '10.0.0.3', '10.0.0.1', 8080, { connects: 3, exchanges: 3 }),
  ];
  const { topology } = buildTopology({
    fromMs: 0,
    toMs: 10_000,
    processes,
    ends,
    links: [
      { clientEnd: 3, serverEnd: 1 },
      { clientEnd: 4, serverEnd: 2 }, // a tuple sampled under the folded edge
    ],
  });
  const byId = new Map(topology.edges.map((e) => [`${e.source} -> ${e.target}`, e]));
  const other = topology.externals.find((x) => x.kind === 'folded');
  assert.deepEqual(other, {
    id: 'ext:0.0.0.0',
    address: '0.0.0.0',
    port: 0,
    name: null,
    kind: 'folded',
  });
  assert.deepEqual([...byId.keys()].sort(), [
    'ext:0.0.0.0 -> p:server',
    'p:folded -> p:server',
    'p:kept -> p:server',
  ]);
  const kept = byId.get('p:kept -> p:server')!;
  assert.equal(kept.joined, 'tuple');
  assert.equal(kept.server?.exchanges, 5, 'its own server end');
  const folded = byId.get('p:folded -> p:server')!;
  assert.equal(folded.joined, 'tuple');
  assert.equal(folded.client?.exchanges, 3);
  assert.equal(folded.server, null, 'not the 600 of every folded client');
  assert.equal(byId.get('ext:0.0.0.0 -> p:server')!.server?.exchanges, 600);
  // The server side adds up to what the server served, each count once.
  const served = topology.edges
    .filter((e) => e.target === 'p:server')
    .reduce((n, e) => n + (e.server?.exchanges ?? 0), 0);
  assert.equal(served, 605);
});
