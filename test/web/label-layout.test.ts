// Pod labels: what they say, and where they go so that none covers another.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podLabelLines, type SceneGroup } from '../../web/src/model/graph.js';
import {
  type Box,
  overlapArea,
  placeLabels,
  placesAround,
} from '../../web/src/model/label-layout.js';

const group = (sidecar: SceneGroup['sidecar'], change: Partial<SceneGroup> = {}): SceneGroup => ({
  id: 'pod:shop/cart',
  namespace: 'shop',
  name: 'cart',
  nodes: [],
  role: 'app',
  serves: 0,
  overheadMs: null,
  sidecar,
  ...change,
});
const via = (
  v: 'sidecar' | 'node proxy',
  proxy: string,
  inboundMs: number | null,
  outboundMs: number | null,
  waypoint = false,
) => ({ via: v, proxy, waypoint, inboundMs, outboundMs });

test("a pod's label: its name, and its sidecar's added latency p50 each way when meshed", () => {
  assert.deepEqual(podLabelLines(group(null)), ['shop/cart']);
  assert.deepEqual(podLabelLines(group(via('sidecar', 'envoy', 2.42, 0.31))), [
    'shop/cart',
    'sidecar in +2.42 ms · out +310 µs',
  ]);
  assert.deepEqual(podLabelLines(group(via('sidecar', 'envoy', 0.05, null))), [
    'shop/cart',
    'sidecar in +50 µs · out –',
  ]);
  // Ambient mode: a node proxy outside the pod adds it, named; and the waypoint its
  // inbound traffic also goes through, whose time is not in those figures.
  assert.deepEqual(podLabelLines(group(via('node proxy', 'ztunnel', 0.18, null))), [
    'shop/cart',
    'via ztunnel in +180 µs · out –',
  ]);
  assert.deepEqual(podLabelLines(group(via('node proxy', 'ztunnel', 0.18, 0.06, true))), [
    'shop/cart',
    'via ztunnel in +180 µs · out +60 µs',
    'inbound also via a waypoint',
  ]);
});

test("a shared proxy's pod says what it is and how many pods it serves", () => {
  const proxy = (role: SceneGroup['role'], serves: number) =>
    podLabelLines(group(null, { namespace: 'mesh', name: 'ztunnel', role, serves }));
  assert.deepEqual(proxy('node-proxy', 12), [
    'mesh/ztunnel',
    'node proxy, shared · serves 12 pods',
  ]);
  assert.deepEqual(proxy('node-proxy', 0), ['mesh/ztunnel', 'node proxy, shared']);
  assert.deepEqual(proxy('waypoint', 1), ['mesh/ztunnel', 'waypoint, shared · inbound of 1 pod']);
});

test('overlap is the shared area; touching boxes do not overlap', () => {
  const a: Box = { x: 0, y: 0, width: 10, height: 10 };
  assert.equal(overlapArea(a, { x: 5, y: 5, width: 10, height: 10 }), 25);
  assert.equal(overlapArea(a, { x: 10, y: 0, width: 10, height: 10 }), 0);
});

test('labels take their first clear place, stack when crowded, and avoid obstacles', () => {
  const region = { x: 100, y: 100, width: 60, height: 40 };
  const places = placesAround(region, 80, 14);
  assert.deepEqual(places[0], { x: 90, y: 82 }, 'centred above');
  assert.deepEqual(places[1], { x: 90, y: 144 }, 'centred below');
  // Given how far its marks' labels reach, beside it on the right comes third.
  assert.deepEqual(placesAround(region, 80, 14, undefined, 4, 4, 30)[2], { x: 194, y: 113 });
  // Three pods at the same spot: the first above, the second below, the third stacked.
  const placed = placeLabels(['a', 'b', 'c'].map((id) => ({ id, width: 80, height: 14, places })));
  assert.deepEqual(
    placed.map((p) => [p.id, p.box.y, p.overlaps]),
    [
      ['a', 82, false],
      ['b', 144, false],
      ['c', 68, false],
    ],
  );
  // At the canvas's left edge the label shifts right to stay on it; off the canvas, not.
  const view = { x: 0, y: 0, width: 500, height: 400 };
  const edge = { x: 0, y: 100, width: 60, height: 40 };
  assert.equal(placesAround(edge, 120, 14, view)[0]?.x, 0);
  assert.equal(placesAround(edge, 120, 14)[0]?.x, -30);
  assert.equal(placesAround({ ...edge, x: -200 }, 120, 14, view)[0]?.x, -230);
  // An obstacle above: the label goes below.
  const [only] = placeLabels(
    [{ id: 'a', width: 80, height: 14, places }],
    [{ x: 120, y: 85, width: 10, height: 10 }],
  );
  assert.equal(only?.box.y, 144);
});

test('with no clear place a label takes the one that overlaps least, and says so', () => {
  const wall: Box = { x: 0, y: 0, width: 1000, height: 1000 };
  const [p] = placeLabels(
    [
      {
        id: 'a',
        width: 20,
        height: 10,
        places: [
          { x: 10, y: 10 },
          { x: 995, y: 500 },
        ],
      },
    ],
    [wall],
  );
  assert.deepEqual(p, { id: 'a', box: { x: 995, y: 500, width: 20, height: 10 }, overlaps: true });
});

test('a thousand crowded pods are placed without any two labels overlapping where room allows', () => {
  const requests = Array.from({ length: 1000 }, (_, i) => {
    const region = { x: (i % 40) * 150, y: Math.floor(i / 40) * 160, width: 60, height: 40 };
    return { id: `p${i}`, width: 120, height: 26, places: placesAround(region, 120, 26) };
  });
  const placed = placeLabels(requests);
  assert.equal(placed.length, 1000);
  assert.equal(placed.filter((p) => p.overlaps).length, 0);
  for (let i = 0; i < placed.length; i++)
    for (let j = i + 1; j < placed.length; j++)
      assert.equal(overlapArea(placed[i]!.box, placed[j]!.box), 0);
});
