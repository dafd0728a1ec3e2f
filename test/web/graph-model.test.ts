// The viewer's model: snapshot and deltas keyed by id, and the scene a view option set
// makes of it (filters keep the other end of an edge as context; colours follow the
// chosen measure; pods group their processes).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { externalLabel, GraphModel } from '../../web/src/model/graph.js';
import { ambientTopology, edgeOf, processOf, shopTopology } from './topology-fixture.js';

test('a snapshot makes a scene of every process, peer, edge and pod', () => {
  const model = new GraphModel();
  model.applySnapshot(shopTopology());
  const scene = model.scene();
  assert.equal(scene.nodes.length, 7);
  assert.equal(scene.links.length, 7);
  assert.deepEqual(scene.groups.map((g) => g.id).sort(), [
    'pod:data/db',
    'pod:shop/api',
    'pod:shop/web',
  ]);
  assert.deepEqual(scene.groups.find((g) => g.id === 'pod:shop/api')?.nodes, ['p:api', 's:api']);
  const peer = scene.nodes.find((n) => n.id === 'ext:8.8.8.8:53');
  assert.deepEqual(peer && { kind: peer.kind, label: peer.label, group: peer.group }, {
    kind: 'external',
    label: '8.8.8.8:53',
    group: null,
  });
  assert.equal(
    scene.groups.find((g) => g.id === 'pod:shop/api')?.overheadMs,
    1.1,
    'inbound + outbound added p50',
  );
  assert.deepEqual(model.namespaces(), ['data', 'shop']);
});

test('width and colour follow the chosen measures; overhead colours only edges at a sidecar', () => {
  const model = new GraphModel();
  model.applySnapshot(shopTopology());
  const byId = (options: Parameters<GraphModel['scene']>[0]) =>
    new Map(model.scene(options).links.map((l) => [l.id, l]));
  const latency = byId({ widthBy: 'requests', colorBy: 'latency' });
  assert.equal(latency.get('s:web>s:api:15006')?.rate, 10);
  assert.equal(latency.get('s:web>s:api:15006')?.valueMs, 4);
  const bytes = byId({ widthBy: 'bytes', colorBy: 'overhead' });
  assert.equal(bytes.get('s:web>s:api:15006')?.rate, 1000);
  // Into api's sidecar from another pod: api's inbound added latency.
  assert.equal(bytes.get('s:web>s:api:15006')?.valueMs, 0.5);
  // Out of db's sidecar to db's own app: inside the pod, not an overhead of a hop.
  assert.equal(bytes.get('s:db>p:db:5432')?.valueMs, null);
  // Out of web's app to its own sidecar: same.
  assert.equal(bytes.get('p:web>s:web:15001')?.valueMs, null);
});

test('a namespace filter keeps its nodes and the other ends of their edges as context', () => {
  const model = new GraphModel();
  model.applySnapshot(shopTopology());
  const scene = model.scene({ namespaces: new Set(['data']) });
  assert.deepEqual(scene.nodes.map((n) => n.id).sort(), [
    'ext:8.8.8.8:53',
    'p:db',
    's:api',
    's:db',
  ]);
  assert.deepEqual(scene.links.map((l) => l.id).sort(), [
    'p:db>ext:8.8.8.8:53:53',
    's:api>s:db:15006',
    's:db>p:db:5432',
  ]);
});

test('search matches names and pods case-insensitively and marks the matches', () => {
  const model = new GraphModel();
  model.applySnapshot(shopTopology());
  const scene = model.scene({ search: 'SHOP/API' });
  const matched = scene.nodes
    .filter((n) => n.match)
    .map((n) => n.id)
    .sort();
  assert.deepEqual(matched, ['p:api', 's:api']);
  assert.ok(
    scene.nodes.some((n) => n.id === 's:web' && !n.match),
    'a caller shown as context',
  );
  assert.equal(model.scene({ search: 'nothing-like-this' }).nodes.length, 0);
});

test('deltas upsert and remove by id; a removed process takes its edges out of the scene', () => {
  const model = new GraphModel();
  model.applySnapshot(shopTopology());
  model.applyDelta({
    fromMs: 1000,
    toMs: 61_000,
    upserted: {
      pods: [],
      processes: [processOf('p:web2', 'pod:shop/web', 'app', 'web-worker')],
      externals: [],
      edges: [
        edgeOf('p:web2', 's:web', 15001, 3, 7),
        { ...edgeOf('s:web', 's:api', 15006, 20, 9) },
      ],
    },
    removed: { pods: [], processes: ['p:db'], externals: [], edges: [] },
    costs: { upserted: [], removed: ['pod:data/db'] },
  });
  const scene = model.scene();
  assert.ok(scene.nodes.some((n) => n.id === 'p:web2' && n.group === 'pod:shop/web'));
  assert.equal(scene.links.find((l) => l.id === 's:web>s:api:15006')?.rate, 20, 'updated in place');
  assert.ok(!scene.nodes.some((n) => n.id === 'p:db'));
  assert.ok(
    !scene.links.some((l) => l.source === 'p:db' || l.target === 'p:db'),
    'no dangling edges',
  );
  assert.equal(model.costs.has('pod:data/db'), false);
  assert.equal(model.toMs, 61_000);
});

test('observed strings are kept verbatim as labels (the DOM side renders them as text)', () => {
  const model = new GraphModel();
  const t = shopTopology();
  t.processes[0] = { ...t.processes[0]!, comm: '<img src=x onerror=alert(1)>' };
  model.applySnapshot(t);
  assert.equal(
    model.scene().nodes.find((n) => n.id === 'p:web')?.label,
    '<img src=x onerror=alert(1)>',
  );
});

test("the kernel's folded peers are labelled by what they stand for", () => {
  const base = { address: '0.0.0.0', name: null, kind: 'folded' as const };
  assert.equal(externalLabel({ ...base, id: 'ext:0.0.0.0', port: 0 }), 'other clients');
  assert.equal(externalLabel({ ...base, id: 'ext:0.0.0.0:443', port: 443 }), 'other servers:443');
  assert.equal(
    externalLabel({
      id: 'ext:10.0.0.9:80',
      address: '10.0.0.9',
      port: 80,
      name: 'shop/api',
      kind: 'pod',
    }),
    'shop/api:80',
  );
});

test('processes of one command in one pod are one node with a count, their edges merged', () => {
  const model = new GraphModel();
  const t = shopTopology();
  // Three short-lived curls in web's pod, each calling web's sidecar; one in api's pod.
  for (const [k, pod] of [
    [1, 'pod:shop/web'],
    [2, 'pod:shop/web'],
    [3, 'pod:shop/web'],
    [4, 'pod:shop/api'],
  ] as const) {
    t.processes.push(processOf(`c:${k}`, pod, 'app', 'curl'));
    t.pods.find((p) => p.id === pod)!.processes.push(`c:${k}`);
  }
  t.edges.push(
    edgeOf('c:1', 's:web', 15001, 1, 2),
    edgeOf('c:2', 's:web', 15001, 3, 4),
    edgeOf('c:3', 's:web', 15001, 0, 9),
    edgeOf('c:4', 's:api', 15001, 2, 1),
  );
  model.applySnapshot(t);
  const scene = model.scene();
  const curls = scene.nodes.filter((n) => n.label.startsWith('curl'));
  assert.deepEqual(
    curls.map((n) => [n.label, n.group, n.members ?? null]),
    [
      ['curl ×3', 'pod:shop/web', ['c:1', 'c:2', 'c:3']],
      ['curl', 'pod:shop/api', null],
    ],
  );
  const group = curls[0]!;
  const merged = scene.links.filter((l) => l.source === group.id);
  assert.equal(merged.length, 1);
  assert.equal(merged[0]!.rate, 4, 'rates summed');
  // p50s weighted by rate: (1 x 2 + 3 x 4 + 0 x 9) / 4.
  assert.equal(merged[0]!.valueMs, 3.5);
  assert.equal(merged[0]!.text, '4 req/s · p50 ≈ 3.5 ms', 'its label says the p50 is an estimate');
  assert.equal(scene.links.find((l) => l.id === 'p:web>s:web:15001')?.text, '10 req/s · p50 5 ms');
  assert.deepEqual(merged[0]!.members, ['c:1>s:web:15001', 'c:2>s:web:15001', 'c:3>s:web:15001']);
  // A lone process and its edge keep their own ids (their detail is their own).
  assert.ok(scene.links.some((l) => l.id === 'c:4>s:api:15001' && !l.members));
  // The pod holds the group once, not its members; the grouped node knows its pod.
  assert.deepEqual(scene.groups.find((g) => g.id === 'pod:shop/web')?.nodes, [
    'p:web',
    's:web',
    group.id,
  ]);
  assert.equal(model.podOf(group.id)?.id, 'pod:shop/web');
  assert.deepEqual(model.membersOf(group.id), ['c:1', 'c:2', 'c:3']);
  // Search still matches through the group; turned off, every process is its own node.
  assert.equal(model.scene({ search: 'curl' }).nodes.filter((n) => n.match).length, 2);
  assert.equal(
    model.scene({ groupRepeated: false }).nodes.filter((n) => n.label === 'curl').length,
    4,
  );
});

test('shared proxies: their pods apart, dashed links with each pod’s share, their edges faint', () => {
  const model = new GraphModel();
  model.applySnapshot(ambientTopology(2, 1));
  const scene = model.scene();
  const group = (id: string) => scene.groups.find((g) => g.id === id)!;
  assert.deepEqual(scene.groups.map((g) => [g.id, g.role, g.serves]).sort(), [
    ['pod:mesh/waypoint', 'waypoint', 1],
    ['pod:mesh/ztunnel', 'node-proxy', 3],
    ['pod:shop/front', 'app', 0],
    ['pod:shop/svc-0', 'app', 0],
    ['pod:shop/svc-1', 'app', 0],
  ]);
  assert.equal(group('pod:mesh/ztunnel').sidecar, null, 'a shared proxy is no pod’s sidecar');
  assert.deepEqual(group('pod:shop/svc-0').sidecar, {
    via: 'node proxy',
    proxy: 'ztunnel',
    waypoint: true,
    inboundMs: 0.1,
    outboundMs: 0.05,
  });
  // front: half the node proxy on-cpu; svc-i: (i + 1) / 6; svc-0's inbound all the waypoint's.
  assert.deepEqual(
    scene.shares.map((s) => [s.id, s.kind, s.text]),
    [
      ['share:pod:mesh/ztunnel>pod:shop/front', 'node-proxy', '50% by on-cpu'],
      ['share:pod:mesh/ztunnel>pod:shop/svc-0', 'node-proxy', '16.7% by on-cpu'],
      ['share:pod:mesh/ztunnel>pod:shop/svc-1', 'node-proxy', '33.3% by on-cpu'],
      ['share:pod:mesh/waypoint>pod:shop/svc-0', 'waypoint', 'waypoint 100% by bytes'],
    ],
  );
  assert.deepEqual(
    scene.links
      .filter((l) => l.shared)
      .map((l) => l.id)
      .sort(),
    scene.links.map((l) => l.id).sort(),
    'every edge here goes into or out of a shared proxy',
  );
  // A filter that leaves the node proxy out leaves out its links too.
  const onlyShop = model.scene({ namespaces: new Set(['shop']) });
  assert.ok(
    onlyShop.groups.some((g) => g.id === 'pod:mesh/ztunnel'),
    'kept as an edge’s other end',
  );
  assert.equal(model.scene({ search: 'svc-1' }).shares.length, 1);
});
