// The viewer with pods in ambient mode: a node proxy (ztunnel) in a pod of its own carries
// two pods' traffic through sockets in their namespaces, as an agent ships it (ends and
// hops naming the pod they serve). Each served pod's panel says its mode and shows the
// node proxy's added latency through it and its share of the node proxy's cost; the node
// proxy's own pod says its cost counts in the pods it serves, and is no step of a path.
// In Debian's Chromium, at three window sizes; screenshots go to test/artifacts/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import { openBrowser } from '../../lab/browser.js';
import type {
  Batch,
  EdgeReport,
  HopReport,
  Init,
  PodRef,
  ProcessIdentity,
} from '../../proto/gen/tollgate/v1.js';
import { fromValues } from '../../proto/histogram.js';
import {
  ARTIFACTS,
  clickCanvas,
  collectorWithShipper,
  drawn,
  screenOf,
  screenshotsAtSizes,
  until,
} from './viewer-page.js';

const TOKEN = 'viewer-ambient-token';
const NODE = 'node-1';
const INTERVALS = 3;
const PER_INTERVAL = 20;
const A_IP = '10.2.0.1';
const B_IP = '10.2.0.2';

const pod = (name: string): Init<PodRef> => ({
  namespace: 'shop',
  name,
  node: NODE,
  source: 'POD_SOURCE_NETNS',
});
const proc = (pid: number, comm: string, podName: string, netns: number, sidecar = false) =>
  ({
    ref: { pid, startTimeTicks: 1000 + pid },
    comm,
    exe: `/usr/local/bin/${comm}`,
    cmdline: [comm],
    netnsInode: netns,
    pod: pod(podName),
    role: sidecar ? 'ROLE_SIDECAR' : 'ROLE_APP',
  }) satisfies Init<ProcessIdentity>;

const A = proc(11, 'frontend', 'amb-a', 5001);
const B = proc(21, 'catalog', 'amb-b', 5002);
const Z = proc(31, 'ztunnel', 'ztunnel-node-1', 5003, true);

/** One interval: A calls B through the node proxy, out via A's 15001, in via B's 15008. */
function batch(i: number, startMs: number): Init<Batch> {
  const end = (
    p: Init<ProcessIdentity>,
    side: 'client' | 'server',
    local: string,
    remote: string,
    port: number,
    bytes: number,
    socketPod?: string,
  ): Init<EdgeReport> => ({
    process: p.ref,
    side: side === 'client' ? 'CONNECTION_SIDE_CLIENT' : 'CONNECTION_SIDE_SERVER',
    local: { address: local, port: side === 'server' ? port : 0 },
    remote: { address: remote, port: side === 'client' ? port : 0 },
    socketPod: socketPod ? pod(socketPod) : undefined,
    connects: side === 'client' ? PER_INTERVAL : 0,
    accepts: side === 'server' ? PER_INTERVAL : 0,
    bytesSent: bytes,
    bytesReceived: bytes,
    sendOps: PER_INTERVAL,
    recvOps: PER_INTERVAL,
    exchanges: PER_INTERVAL,
    exchangeLatency: fromValues(Array.from({ length: PER_INTERVAL }, (_, k) => 2e6 + k * 1e4)),
  });
  const hops = (
    direction: 'DIRECTION_INBOUND' | 'DIRECTION_OUTBOUND',
    through: string,
    ns: number,
  ): Init<HopReport> => ({
    process: Z.ref,
    direction,
    socketPod: pod(through),
    requestHop: fromValues(Array.from({ length: PER_INTERVAL }, () => ns)),
    responseHop: fromValues(Array.from({ length: PER_INTERVAL }, () => ns)),
    added: fromValues(Array.from({ length: PER_INTERVAL }, () => 2 * ns)),
    requests: PER_INTERVAL,
    unpaired: 0,
    method: 'HOP_METHOD_ARRIVAL_TO_FORWARD',
  });
  return {
    agentId: NODE,
    bootId: 'boot-1',
    sequence: i,
    node: NODE,
    intervalStartUnixMs: startMs,
    intervalEndUnixMs: startMs + 1000,
    processes: [A, B, Z],
    edges: [
      end(A, 'client', A_IP, B_IP, 9080, 3000),
      end(Z, 'server', '127.0.0.1', A_IP, 15001, 3000, 'amb-a'),
      end(Z, 'client', A_IP, B_IP, 15008, 1000, 'amb-a'),
      end(Z, 'server', B_IP, A_IP, 15008, 1000, 'amb-b'),
      end(Z, 'client', '127.0.0.1', '127.0.0.1', 9080, 3000, 'amb-b'),
      end(B, 'server', '127.0.0.1', '127.0.0.1', 9080, 3000),
    ],
    // 60 us through A's namespace each way, 90 us through B's.
    hops: [hops('DIRECTION_OUTBOUND', 'amb-a', 60_000), hops('DIRECTION_INBOUND', 'amb-b', 90_000)],
  };
}

test("ambient pods: each says its mode, the node proxy's latency through it and its share", async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const { collector, shipper } = await collectorWithShipper(t, { token: TOKEN });
  const t0 = Math.floor(Date.now() / 1000) * 1000 - (INTERVALS + 1) * 1000;
  for (let i = 1; i <= INTERVALS; i++) shipper.send(batch(i, t0 + (i - 1) * 1000));
  assert.ok(await shipper.flush(5000), 'batches stored');

  const browser = await openBrowser();
  t.after(() => browser.close());
  const { page } = browser;
  await page.goto(`${collector.httpUrl}/?token=${TOKEN}`);
  const nodeOf = (p: Init<ProcessIdentity>) => `p:${NODE}:${p.ref!.pid}:${p.ref!.startTimeTicks}`;
  await until('the pods drawn', async () => (await drawn(page)).nodes.includes(nodeOf(Z)));
  // The summary bar counts the two ambient pods. Its busiest path, which started at the
  // node proxy's pod (called by no pod here), is gone: the node proxy's one caller is a
  // peer outside the pods, so no call between app pods is known.
  const bar = await until('the summary bar', async () => {
    const text = await page.locator('.summary-bar').textContent();
    return text?.startsWith('Mesh cost') && text;
  });
  // No resource sample of the node proxy here: its shares have no figure, and the bar
  // says so rather than summing them as 0.
  assert.match(
    bar,
    /^Mesh cost2 pods ambient \(shared proxies at the pods’ shares\): CPU and memory not measured/,
  );
  assert.doesNotMatch(bar, /busiest path/);

  // amb-b: served by the node proxy, inbound 90 + 90 us per request.
  await clickCanvas(page, await screenOf(page, { kind: 'node', id: nodeOf(B) }));
  const panelB = page.locator('.pod-panel[data-pod="pod:shop/amb-b"]');
  await panelB.waitFor({ timeout: 5000 });
  assert.match((await panelB.locator('p.muted').first().textContent()) ?? '', /· mesh: ambient$/);
  assert.match(
    (await panelB.locator('h3').first().textContent()) ?? '',
    /^Node proxy \(ztunnel, outside the pod\) added latency · /,
  );
  const inbound = await panelB
    .locator('table.added-latency tbody tr')
    .first()
    .locator('td')
    .allTextContents();
  assert.equal(inbound[0], 'inbound');
  // 180 us, within the histogram's 3%.
  assert.match(inbound[1]!, /^1(7[5-9]|8[0-5]) µs$/, `inbound p50 ${inbound[1]}`);
  assert.equal(inbound[5], String(INTERVALS * PER_INTERVAL));
  // Its share of the node proxy: 4,000 of its 8,000 bytes each way went through amb-b.
  const costRows = await panelB.locator('table.cost tbody tr td:first-child').allTextContents();
  assert.deepEqual(costRows, ['node proxy, 50% (by bytes)', 'app']);
  await screenshotsAtSizes(page, 'viewer-ambient-pod');

  // The node proxy's own pod: its figures are the served pods'.
  await page.setViewportSize({ width: 1280, height: 800 });
  await drawn(page);
  await clickCanvas(page, await screenOf(page, { kind: 'node', id: nodeOf(Z) }));
  const panelZ = page.locator('.pod-panel[data-pod="pod:shop/ztunnel-node-1"]');
  await panelZ.waitFor({ timeout: 5000 });
  assert.match(
    (await panelZ.locator('p.muted').first().textContent()) ?? '',
    /· mesh: node-proxy$/,
  );
  assert.equal(
    await panelZ.locator('p.muted').nth(1).textContent(),
    'a node proxy (ztunnel) runs in this pod: its added latency and cost count in the pods it serves',
  );
  assert.equal(await panelZ.locator('table.cost').count(), 0, 'no cost of its own');
  await screenshotsAtSizes(page, 'viewer-ambient-node-proxy');
});
