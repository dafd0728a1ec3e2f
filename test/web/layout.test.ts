// Layouts: callers left of callees, cycles broken, pods kept together, positions kept
// for nodes already placed, and a fit that shows everything.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraphModel } from '../../web/src/model/graph.js';
import {
  bounds,
  fitTransform,
  forceLayout,
  layeredLayout,
  layers,
  place,
} from '../../web/src/model/layout.js';
import { edgeOf, processOf, shopTopology, syntheticTopology } from './topology-fixture.js';

const sceneOf = (t = shopTopology()) => {
  const model = new GraphModel();
  model.applySnapshot(t);
  return { model, scene: model.scene() };
};

test('layers follow calls, and a cycle does not stop the layering', () => {
  const arcs = new Map([
    ['a', new Set(['b'])],
    ['b', new Set(['c'])],
    ['c', new Set(['a', 'd'])],
  ]);
  const layer = layers(['a', 'b', 'c', 'd'], arcs);
  assert.deepEqual(Object.fromEntries(layer), { a: 0, b: 1, c: 2, d: 3 });
});

test('layered: each caller pod is left of its callee, and a pod’s processes share a column', () => {
  const { scene } = sceneOf();
  const p = layeredLayout(scene);
  assert.equal(p.size, scene.nodes.length);
  const x = (id: string) => p.get(id)!.x;
  assert.ok(x('s:web') < x('s:api') && x('s:api') < x('s:db') && x('s:db') < x('ext:8.8.8.8:53'));
  for (const g of scene.groups) assert.equal(new Set(g.nodes.map(x)).size, 1, g.id);
  const seen = new Set([...p.values()].map((q) => `${q.x},${q.y}`));
  assert.equal(seen.size, p.size, 'no two nodes on one spot');
});

test('place keeps what was placed; new nodes go under their pod', () => {
  const { model, scene } = sceneOf();
  const first = place(scene, 'layered');
  const t = shopTopology();
  t.processes.push(processOf('p:web2', 'pod:shop/web', 'app', 'web-worker'));
  t.pods[0]!.processes.push('p:web2');
  t.edges.push(edgeOf('p:web2', 's:web', 15001, 1, 1));
  model.applySnapshot(t);
  const second = place(model.scene(), 'layered', first);
  for (const [id, q] of first) assert.deepEqual(second.get(id), q, id);
  const added = second.get('p:web2')!;
  assert.equal(added.x, first.get('p:web')!.x, 'in its pod’s column');
  assert.ok(![...first.values()].some((q) => q.x === added.x && q.y === added.y), 'on a free spot');
});

test('force keeps a pod’s processes closer to each other than to other pods, and holds fixed nodes', () => {
  const { scene } = sceneOf(syntheticTopology(40));
  const start = layeredLayout(scene);
  const fixed = new Set(['a0', 's0']);
  const p = forceLayout(scene, start, { fixed, ticks: 120 });
  assert.deepEqual(p.get('a0'), start.get('a0'));
  const d = (a: string, b: string) =>
    Math.hypot(p.get(a)!.x - p.get(b)!.x, p.get(a)!.y - p.get(b)!.y);
  let inside = 0;
  let across = 0;
  for (let i = 1; i < 40; i++) {
    inside += d(`a${i}`, `s${i}`);
    across += d(`a${i}`, `s${(i + 20) % 40}`);
  }
  assert.ok(
    inside * 3 < across,
    `mean distance in a pod ${inside / 39}, across pods ${across / 39}`,
  );
});

test('fit shows the whole drawing in the viewport', () => {
  const box = bounds(
    [
      { x: 0, y: 0 },
      { x: 1000, y: 500 },
    ],
    0,
  );
  const t = fitTransform(box, 500, 500);
  assert.equal(t.k, 0.5);
  assert.deepEqual(
    [t.x + t.k * 0, t.y + t.k * 0, t.x + t.k * 1000, t.y + t.k * 500],
    [0, 125, 500, 375],
  );
});

test('a thousand processes and three thousand edges lay out, every node placed once', () => {
  const t = syntheticTopology(500);
  assert.equal(t.processes.length, 1000);
  assert.ok(t.edges.length >= 2900, `${t.edges.length} edges`);
  const { scene } = sceneOf(t);
  const p = place(scene, 'layered');
  assert.equal(p.size, 1000);
  assert.ok([...p.values()].every((q) => Number.isFinite(q.x) && Number.isFinite(q.y)));
});
