// The shared proxies drawn apart from the apps: a node proxy and a waypoint in a band
// below every app pod (outside their outlines), each under the pods it serves; dashed
// links routed to each served pod's side without crossing another pod; and with a dozen
// pods served, each link's label has a place of its own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NODE_RADIUS } from '../../web/src/model/geometry.js';
import { GraphModel } from '../../web/src/model/graph.js';
import {
  type Box,
  boxDistance,
  overlapArea,
  placeLabels,
  placesBeside,
  Regions,
} from '../../web/src/model/label-layout.js';
import { forceLayout, layeredLayout, place } from '../../web/src/model/layout.js';
import { bandBox, HULL_PAD, shareRoutes, shareTags } from '../../web/src/model/shared-band.js';
import { ambientTopology, edgeOf, processOf } from './topology-fixture.js';

const SHARED = ['z', 'w'];

function sceneOf(backends = 12, viaWaypoint = 3) {
  const model = new GraphModel();
  model.applySnapshot(ambientTopology(backends, viaWaypoint));
  return { model, scene: model.scene() };
}

/** Each app pod's outline, as the box around its marks with the outline's room. */
function podBoxes(
  scene: ReturnType<typeof sceneOf>['scene'],
  p: Map<string, { x: number; y: number }>,
) {
  return scene.groups
    .filter((g) => g.role === 'app')
    .map((g) => {
      const points = g.nodes.map((id) => p.get(id)!);
      const xs = points.map((q) => q.x);
      const ys = points.map((q) => q.y);
      return {
        id: g.id,
        box: {
          x: Math.min(...xs) - HULL_PAD,
          y: Math.min(...ys) - HULL_PAD,
          width: Math.max(...xs) - Math.min(...xs) + 2 * HULL_PAD,
          height: Math.max(...ys) - Math.min(...ys) + 2 * HULL_PAD,
        },
      };
    });
}

test('layered: the shared proxies sit in a band below every app pod, the apps laid out by the calls through them', () => {
  const { scene } = sceneOf();
  const p = layeredLayout(scene);
  assert.equal(p.size, scene.nodes.length);
  const band = bandBox(scene, p)!;
  for (const id of SHARED) {
    const q = p.get(id)!;
    assert.ok(q.y - HULL_PAD > band.y0 && q.y + HULL_PAD < band.y1, `${id} inside the band`);
    assert.ok(q.x > band.x0 && q.x < band.x1);
  }
  // No app pod's outline reaches into the band.
  for (const { id, box } of podBoxes(scene, p))
    assert.ok(box.y + box.height < band.y0, `${id} above the band`);
  // front calls every backend through the node proxy: it is left of all of them.
  const front = p.get('p:front')!.x;
  for (let i = 0; i < 12; i++) assert.ok(front < p.get(`p:svc-${i}`)!.x, `svc-${i}`);
});

test('the dashed links reach each served pod at its side, and pass through no other pod', () => {
  const { scene } = sceneOf();
  const p = layeredLayout(scene);
  const routes = shareRoutes(scene, p);
  // 13 pods served by the node proxy, 3 by the waypoint.
  assert.equal(routes.filter((r) => r.kind === 'node-proxy').length, 13);
  assert.equal(routes.filter((r) => r.kind === 'waypoint').length, 3);
  const boxes = podBoxes(scene, p);
  for (const r of routes) {
    const end = r.points[r.points.length - 1]!;
    const pod = p.get(`p:${r.to.split('/')[1]}`)!;
    assert.deepEqual(end, { x: pod.x - HULL_PAD, y: pod.y }, `${r.id} ends at its pod's side`);
    const start = r.points[0]!;
    const proxy = p.get(r.kind === 'node-proxy' ? 'z' : 'w')!;
    assert.deepEqual(start, { x: proxy.x, y: proxy.y - HULL_PAD }, `${r.id} starts at its proxy`);
    // Every segment but the last (into the pod) stays out of every pod's outline.
    for (let k = 0; k + 2 < r.points.length; k++) {
      const a = r.points[k]!;
      const b = r.points[k + 1]!;
      const seg: Box = {
        x: Math.min(a.x, b.x),
        y: Math.min(a.y, b.y),
        width: Math.abs(a.x - b.x) + 0.01,
        height: Math.abs(a.y - b.y) + 0.01,
      };
      for (const { id, box } of boxes)
        assert.equal(overlapArea(seg, box), 0, `${r.id} segment ${k} crosses ${id}`);
    }
  }
});

test('with a dozen pods served, each pod’s share tag has a clear place of its own (at 1:1 and 0.85)', () => {
  const { scene } = sceneOf();
  const p = layeredLayout(scene);
  const tags = shareTags(shareRoutes(scene, p));
  // One per served pod; a pod the waypoint serves too has its line second.
  assert.equal(tags.length, 13);
  assert.deepEqual(
    tags.find((t) => t.pod === 'pod:shop/svc-0')?.lines.map((l) => l.kind),
    ['node-proxy', 'waypoint'],
  );
  for (const k of [1, 0.85]) {
    // Screen boxes at zoom k: marks, process labels (7 px a character, 14 high), outlines.
    const pods = podBoxes(scene, p).map(({ id, box }) => ({
      id,
      box: { x: box.x * k, y: box.y * k, width: box.width * k, height: box.height * k },
    }));
    const obstacles: Box[] = [
      ...scene.nodes.flatMap((n) => {
        const q = p.get(n.id)!;
        const r = NODE_RADIUS * k;
        return [
          { x: q.x * k - r, y: q.y * k - r, width: 2 * r, height: 2 * r },
          {
            x: (q.x + NODE_RADIUS + 4) * k,
            y: q.y * k - 7,
            width: n.label.length * 7,
            height: 14,
          },
        ];
      }),
      ...pods.map((x) => x.box),
    ];
    const regions = new Regions(pods.map((x) => x.box));
    const boxOf = (pod: string) => pods.find((x) => x.id === pod)!.box;
    // "8.33% by on-cpu" at 11 px: about 6.5 px a character; 13 px a line.
    const placed = placeLabels(
      tags.map((t) => {
        const width = Math.max(...t.lines.map((l) => l.text.length * 6.5)) + 6;
        const height = t.lines.length * 13 + 2;
        const at = { x: t.anchor.x * k, y: t.anchor.y * k };
        return {
          id: t.pod,
          width,
          height,
          places: regions.nearestTo(placesBeside(at, width, height), width, height, boxOf(t.pod)),
        };
      }),
      obstacles,
    );
    assert.deepEqual(
      placed.filter((x) => x.overlaps).map((x) => x.id),
      [],
      `zoom ${k}: tags without a clear place`,
    );
    assert.equal(placed.length, tags.length, `zoom ${k}: every tag placed`);
    for (let i = 0; i < placed.length; i++) {
      const a = placed[i]!;
      for (const other of placed.slice(i + 1))
        assert.equal(overlapArea(a.box, other.box), 0, `${a.id} / ${other.id}`);
      // Nearer its own pod than any other (within 2 px: a tag filling a gap).
      const own = boxDistance(a.box, boxOf(a.id));
      for (const x of pods)
        if (x.id !== a.id) assert.ok(boxDistance(a.box, x.box) + 2 >= own, `${a.id} by ${x.id}`);
    }
  }
});

test('force: the band too; place keeps it, and moves it down only when an app lands below', () => {
  const { model, scene } = sceneOf(6, 1);
  const forced = forceLayout(scene, new Map(), { ticks: 80 });
  const appBottom = Math.max(
    ...scene.nodes.filter((n) => !SHARED.includes(n.id)).map((n) => forced.get(n.id)!.y),
  );
  for (const id of SHARED) assert.ok(forced.get(id)!.y - HULL_PAD > appBottom + HULL_PAD, id);

  const first = place(scene, 'layered');
  assert.deepEqual(place(scene, 'layered', first), first, 'nothing moves without a change');
  // A new app pod, called by nobody: placed below the apps, so the band goes down under it.
  const t = ambientTopology(6, 1);
  t.pods.push({ ...t.pods[0]!, id: 'pod:shop/late', name: 'late', processes: ['p:late'] });
  t.processes.push(processOf('p:late', 'pod:shop/late', 'app', 'late'));
  t.edges.push(edgeOf('p:late', 'p:front', 80, 1, 1));
  model.applySnapshot(t);
  const second = place(model.scene(), 'layered', first);
  for (const [id, q] of first)
    if (!SHARED.includes(id)) assert.deepEqual(second.get(id), q, `${id} stays`);
  const late = second.get('p:late')!;
  for (const id of SHARED) {
    assert.equal(second.get(id)!.x, first.get(id)!.x, `${id} keeps its place across`);
    assert.ok(second.get(id)!.y - HULL_PAD > late.y + HULL_PAD, `${id} below the new pod`);
  }
});
