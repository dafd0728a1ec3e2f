// The ambient lab's waypoint, running: one haproxy in a pod of its own, with its sockets in
// that pod's namespace (configuration: waypointConfig in lab/node-proxy-config.ts). Node
// proxies send the traffic of pods behind it there (EnrolledPod.viaWaypoint). In the lab's
// ledger like every process the lab starts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './exec.js';
import { readHaproxyStats } from './haproxy-stats.js';
import type { Ledger } from './ledger.js';
import type { MeshIdentity } from './mesh-identity.js';
import { waypointConfig } from './node-proxy-config.js';
import { spawnInNetns } from './spawn.js';

export interface WaypointProcess {
  /** The network namespace of its pod. */
  netns: string;
  pid: number;
  statsSocket: string;
}

export async function startWaypoint(place: {
  ledger: Ledger;
  dir: string;
  netns: string;
  uid: number;
  gid: number;
  identity: MeshIdentity;
}): Promise<WaypointProcess> {
  const statsSocket = join(place.dir, 'waypoint.haproxy.sock');
  const config = join(place.dir, 'waypoint.haproxy.cfg');
  const log = join(place.dir, 'waypoint.haproxy.log');
  writeFileSync(
    config,
    waypointConfig({ statsSocket, uid: place.uid, gid: place.gid, threads: 1, ...place.identity }),
  );
  run('haproxy', ['-c', '-q', '-f', config]);
  const child = spawnInNetns(
    place.ledger,
    place.netns,
    'waypoint',
    'haproxy',
    ['-db', '-f', config],
    log,
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await readHaproxyStats(statsSocket, 500);
      // `ip netns exec` execs haproxy in place, so the pid is haproxy's.
      return { netns: place.netns, pid: child.pid!, statsSocket };
    } catch (error) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`waypoint not ready (${(error as Error).message}); see ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
