// A node proxy (ambient mode's ztunnel, here the ambient lab's haproxy) owns sockets in
// every enrolled pod's network namespace. The kernel's records carry each socket's
// namespace, so its ends and hops in one pod stay apart from those in another, even where
// their addresses are the same (its connections to each app's 127.0.0.1:9080). Ground
// truth: the namespaces' own inodes (what `ip netns identify` compares) and the client's
// count of the connections it opened.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { test } from 'node:test';
import { connectionPerRequestScript } from '../../lab/connection-per-request.js';
import { Lab, NODE_PROXY_POD } from '../../lab/lab.js';
import { waitForLine } from '../../lab/spawn.js';
import { ProbeSource } from '../../probes/probe-source.js';
import type { EdgeRecord, HopRecord } from '../../probes/records.js';
import { collect } from './fixture.js';

const N = 40;

/** A named namespace's inode: /run/netns/<name> is a bind mount of it. */
const inodeOf = (netns: string) => statSync(`/run/netns/${netns}`).ino;

test("a node proxy's ends and hops are kept apart per pod by the socket's namespace", async (t) => {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: true, mesh: 'ambient', app: false },
    { name: 'server', service: 'server', meshed: true, mesh: 'ambient' },
  ]);
  t.after(() => lab.destroy());
  const probes = await ProbeSource.start({ intervalMs: 200 });
  t.after(() => probes.stop());
  const worker = lab.nodeProxyProcess()!.workerPid;
  // As the agent does for a proxy it recognises by its executable.
  probes.addProxy(worker);
  const server = lab.pod('server');
  const clientNs = inodeOf(lab.pod('client').netns);
  const serverNs = inodeOf(server.netns);
  const proxyNs = inodeOf(lab.pod(NODE_PROXY_POD).netns);
  assert.equal(new Set([clientNs, serverNs, proxyNs]).size, 3);

  const child = lab.exec('client', 'requests', process.execPath, [
    '-e',
    connectionPerRequestScript({
      url: `http://${server.address}:${server.port}/`,
      count: N,
      rate: 100,
      timeoutMs: 5000,
    }),
  ]);
  const result = JSON.parse(await waitForLine(child, /^\{/, 'requests', 30_000)) as {
    ok: number;
  };
  assert.equal(result.ok, N);
  await new Promise((r) => setTimeout(r, 500));
  const got = await collect(probes);

  const ends = got.records.filter(
    (r): r is EdgeRecord => r.type === 'edge' && r.key.tgid === worker,
  );
  const where = (side: 'client' | 'server', port: number) => {
    const of = ends.filter((e) => e.key.side === side && e.key.servicePort === port);
    return {
      namespaces: [...new Set(of.map((e) => e.key.netnsInode))],
      connects: of.reduce((n, e) => n + e.connects, 0),
      accepts: of.reduce((n, e) => n + e.accepts, 0),
    };
  };
  // Each request: accepted on the client pod's 15001, tunnelled from the client pod's
  // namespace to the server pod's 15008, accepted there, and sent on to the app from the
  // server pod's namespace. Every end in the namespace of the pod it serves.
  assert.deepEqual(where('server', 15001), { namespaces: [clientNs], connects: 0, accepts: N });
  assert.deepEqual(where('client', 15008), { namespaces: [clientNs], connects: N, accepts: 0 });
  assert.deepEqual(where('server', 15008), { namespaces: [serverNs], connects: 0, accepts: N });
  assert.deepEqual(where('client', server.port), {
    namespaces: [serverNs],
    connects: N,
    accepts: 0,
  });
  assert.ok(
    ends.every((e) => e.key.netnsInode !== proxyNs),
    "none of its sockets is in its own pod's namespace",
  );
  // The app's own ends: in its own namespace, as every process's.
  const app = got.records.filter(
    (r): r is EdgeRecord => r.type === 'edge' && r.key.tgid === server.appPid,
  );
  assert.ok(app.length > 0);
  assert.ok(app.every((e) => e.key.netnsInode === serverNs));

  // The hops through each listener, in the namespace of the pod it serves: every request
  // paired both ways there. (On 15008 the TLS handshake's round trips end unpaired too:
  // they forward nothing upstream.)
  const hops = (port: number) => {
    const of = got.records.filter(
      (r): r is HopRecord =>
        r.type === 'hop' && r.key.tgid === worker && r.key.servicePort === port,
    );
    t.diagnostic(
      `hops through ${port}: ${of.reduce((n, h) => n + h.exchanges, 0)} paired, ${of.reduce((n, h) => n + h.unpaired, 0)} unpaired`,
    );
    return {
      namespaces: [...new Set(of.map((h) => h.key.netnsInode))],
      paired: of.reduce((n, h) => n + h.exchanges, 0),
    };
  };
  assert.deepEqual(hops(15001), { namespaces: [clientNs], paired: N });
  assert.deepEqual(hops(15008), { namespaces: [serverNs], paired: N });
});
