// Enrichment on the real kernel: processes in network-namespace pods, placed in cgroups
// shaped as kubelet makes them (the systemd driver on cgroup v2 for one, the cgroupfs
// driver on cgroup v1 for the other), matched to pods that a local Kubernetes API
// serves. One pod appears while the agent's watch is down; the agent must pick it up
// when the watch resumes. The collector must then show both processes under their
// Kubernetes pods and containers, with the sidecar role from the container name, and the
// exact bytes between them; the agent's /readyz and /metrics must say what happened.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildAgentHttp } from '../../daemonset/agent-http.js';
import { unifiedCgroupRoot } from '../../daemonset/identity/proc-identity.js';
import { KubernetesView, loadKubeConfig } from '../../daemonset/kubernetes/cluster.js';
import { Lab } from '../../lab/lab.js';
import { waitForLine } from '../../lab/spawn.js';
import { LOSS_METRICS } from '../../proto/loss-metrics.js';
import { bpfMapMaxEntries } from '../bpf-maps.js';
import { startCollector } from '../collector/fixture.js';
import { makeTestCerts } from '../tls-certs.js';
import { startAgent } from './agent-fixture.js';
import { FakeKubeApi, runningPod } from './kube-api-server.js';
import { cgroup } from './kube-cgroup.js';

const PORT = 7300;
const REQUEST = 1000;
const REPLY = 500;

test('processes in kubelet-shaped cgroups are named after their Kubernetes pods and containers', async (t) => {
  const certs = makeTestCerts();
  t.after(() => certs.remove());
  const node = `node-${hostname()}`;
  const suffix = process.pid.toString(16).padStart(8, '0');
  const serverUid = `5e1f0000-0000-4000-8000-0000${suffix}`;
  const clientUid = `c11e0000-0000-4000-8000-0000${suffix}`;
  const serverContainer = `a${suffix}`.padEnd(64, '1');
  const clientContainer = `b${suffix}`.padEnd(64, '2');

  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: false, app: false },
    { name: 'server', service: 'server', meshed: false, app: false },
  ]);
  t.after(() => lab.destroy());

  // The server's container: systemd driver, cgroup v2 (containerd's scope name).
  const serverGroup = cgroup(
    t,
    unifiedCgroupRoot(),
    `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${serverUid.replace(/-/g, '_')}.slice/cri-containerd-${serverContainer}.scope`,
  );
  // The client's: cgroupfs driver, cgroup v1 (the pids hierarchy), bare container id.
  const clientGroup = cgroup(
    t,
    '/sys/fs/cgroup/pids',
    `kubepods/besteffort/pod${clientUid}/${clientContainer}`,
  );

  const api = await new FakeKubeApi('agent-token', certs).start();
  t.after(() => api.stop());
  api.put(
    'pods',
    runningPod({
      namespace: 'shop',
      name: 'web-0',
      uid: serverUid,
      node,
      ip: lab.pod('server').address,
      containers: [{ name: 'app', id: serverContainer }],
    }),
  );
  const configDir = mkdtempSync(join(tmpdir(), 'tollgate-kube-'));
  t.after(() => rmSync(configDir, { recursive: true, force: true }));
  writeFileSync(join(configDir, 'config'), api.kubeconfig());
  const kubeConfig = loadKubeConfig(join(configDir, 'config'));
  assert.ok(kubeConfig);
  const kubernetes = await KubernetesView.start({ kubeConfig, node });
  t.after(() => kubernetes.stop());

  const collector = await startCollector(t);
  const { agent, stop } = await startAgent(t, {
    collector: collector.grpcAddress,
    node,
    intervalMs: 300,
    kubernetes,
    // Two maps sized as `tollgate agent --map-sizes sockets=4096,handoffs=77` sizes them.
    mapSizes: { sockets: 4096, handoffs: 77 },
  });
  const http = await buildAgentHttp(agent);
  t.after(() => http.close());

  // The watch drops and the API refuses the next requests; the client's pod is created
  // meanwhile. The agent must learn of it once the watch is back.
  api.failNext(2);
  api.dropWatches();
  api.put(
    'pods',
    runningPod({
      namespace: 'shop',
      name: 'client-0',
      uid: clientUid,
      node,
      ip: lab.pod('client').address,
      containers: [{ name: 'istio-proxy', id: clientContainer }],
    }),
  );
  const deadline = Date.now() + 15_000;
  while (!kubernetes.byUid(clientUid)) {
    assert.ok(Date.now() < deadline, 'the watch did not resume');
    await new Promise((r) => setTimeout(r, 50));
  }

  // A request of 1000 bytes and a reply of 500, once each process is in its cgroup.
  const server = lab.exec('server', 'server', process.execPath, [
    '-e',
    `require('node:net').createServer((s) => {
       let got = 0;
       s.on('data', (d) => { got += d.length; if (got === ${REQUEST}) s.end(Buffer.alloc(${REPLY})); });
     }).listen(${PORT}, '0.0.0.0', () => console.log('ready'));`,
  ]);
  await waitForLine(server, /^ready$/, 'server');
  writeFileSync(join(serverGroup, 'cgroup.procs'), String(server.pid));
  const client = lab.exec('client', 'client', process.execPath, [
    '-e',
    `setTimeout(() => {
       const s = require('node:net').connect(${PORT}, '${lab.pod('server').address}', () => s.write(Buffer.alloc(${REQUEST})));
       let got = 0;
       s.on('data', (d) => { got += d.length; });
       // Stay a little: the agent reads who a process is when its interval closes.
       s.on('end', () => { console.log('got ' + got); s.end(); setTimeout(() => {}, 700); });
     }, 300);`,
  ]);
  writeFileSync(join(clientGroup, 'cgroup.procs'), String(client.pid));
  await waitForLine(client, new RegExp(`^got ${REPLY}$`), 'client', 10_000);
  await new Promise((r) => client.once('exit', r));
  server.kill();
  await new Promise((r) => server.once('exit', r));
  await new Promise((r) => setTimeout(r, 900)); // three more intervals

  const ready = await http.inject('/readyz');
  assert.equal(ready.statusCode, 200, ready.body);
  const metrics = (await http.inject('/metrics')).body;
  const restarts = Number(
    /^tollgate_agent_kubernetes_watch_restarts_total\{resource="pods"\} (\d+)$/m.exec(metrics)?.[1],
  );
  assert.ok(restarts >= 1, `pod watch restarts: ${restarts}`);
  assert.match(metrics, /^tollgate_agent_kubernetes_objects\{resource="pods"\} 2$/m);
  assert.match(metrics, /^tollgate_agent_kubernetes_watches_paced_total\{resource="pods"\} \d+$/m);
  assert.match(metrics, /^tollgate_agent_collector_connected 1$/m);
  // Each kernel cause of loss named, each at what the runner's last interval counted: with
  // maps at their default sizes and one connection, none.
  for (const m of LOSS_METRICS)
    assert.match(
      metrics,
      new RegExp(`^tollgate_agent_kernel_lost_total\\{cause="${m.name}"\\} 0$`, 'm'),
    );

  // The sizes asked for are the kernel's (bpftool), and the agent says them, with the
  // runner's defaults for the rest.
  assert.deepEqual(bpfMapMaxEntries('sockets'), [4096]);
  assert.deepEqual(bpfMapMaxEntries('handoffs'), [77]);
  assert.deepEqual(agent.status().maps, {
    sockets: 4096,
    edges: 16384,
    histograms: 65536,
    tuples: 8192,
    handoffs: 77,
  });
  assert.equal(agent.status().http2Requests, true, 'HTTP/2 requests counted by default');
  assert.match(metrics, /^tollgate_agent_kernel_map_entries\{map="handoffs"\} 77$/m);
  assert.match(metrics, /^tollgate_agent_kernel_map_entries\{map="edges"\} 16384$/m);

  await stop();
  const { topology } = await collector.queries.view({
    fromMs: Date.now() - 60_000,
    toMs: Date.now() + 1000,
  });
  const serverProc = topology.processes.find((p) => p.pid === server.pid);
  const clientProc = topology.processes.find((p) => p.pid === client.pid);
  assert.ok(serverProc && clientProc, JSON.stringify(topology.processes));
  assert.equal(serverProc.pod, 'pod:shop/web-0');
  assert.equal(serverProc.container, 'app');
  assert.equal(serverProc.role, 'app');
  assert.equal(clientProc.pod, 'pod:shop/client-0');
  assert.equal(clientProc.container, 'istio-proxy');
  assert.equal(clientProc.role, 'sidecar', 'a sidecar by its container name');
  const web = topology.pods.find((p) => p.id === 'pod:shop/web-0');
  assert.equal(web?.source, 'POD_SOURCE_KUBERNETES');
  assert.equal(web?.node, node);

  const edge = topology.edges.find((e) => e.source === clientProc.id && e.target === serverProc.id);
  assert.ok(edge, JSON.stringify(topology.edges));
  assert.equal(
    edge.joined,
    'tuple',
    JSON.stringify({
      edges: topology.edges,
      links: await collector.store.links([...Array(64).keys()]),
    }),
  );
  assert.equal(edge.client?.bytesSent, REQUEST);
  assert.equal(edge.client?.bytesReceived, REPLY);
  assert.equal(edge.server?.bytesReceived, REQUEST);
  assert.equal(edge.server?.bytesSent, REPLY);
  assert.equal(edge.client?.connects, 1);
  assert.equal(edge.server?.accepts, 1);
});
