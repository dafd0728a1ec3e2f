// The flame graph of a CPU profile: each frame's time is its own samples plus its
// callees', same-named callees of one caller are merged, idle time is left out, and the
// SVG's widths are those times' shares. A hand-made profile gives the exact figures.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CpuProfile, callTree, flameGraphSvg } from '../../bench/flame-graph.js';

const frame = (functionName: string, url = '/repo/collector/store/store.js', lineNumber = 9) => ({
  functionName,
  url,
  lineNumber,
});

// root -> commit -> (write, write again from another call site of the same function)
//      -> decode; and (idle). Samples: commit 1 x 10 us, write 2 x 10 + 1 x 10, decode
// 3 x 10, idle 4 x 10.
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)', '', -1), children: [2, 5, 6] },
    { id: 2, callFrame: frame('commit'), children: [3, 4] },
    { id: 3, callFrame: frame('write', '/repo/collector/store/batch-writer.js', 40) },
    { id: 4, callFrame: frame('write', '/repo/collector/store/batch-writer.js', 40) },
    { id: 5, callFrame: frame('decode', '/repo/node_modules/protobufjs/src/reader.js', 1) },
    { id: 6, callFrame: frame('(idle)', '', -1) },
  ],
  samples: [2, 3, 3, 4, 5, 5, 5, 6, 6, 6, 6],
  timeDeltas: [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10],
};

test('a frame holds its own samples and its callees; same-named callees merge; idle is left out', () => {
  const root = callTree(profile);
  assert.equal(root.total, 70, 'the 4 idle samples are not in it');
  assert.deepEqual(
    root.children.map((c) => [c.name, c.total]),
    [
      ['commit collector/store/store.js:10', 40],
      ['decode protobufjs/src/reader.js:2', 30],
    ],
  );
  const commit = root.children[0]!;
  assert.deepEqual(
    commit.children.map((c) => [c.name, c.total]),
    [['write collector/store/batch-writer.js:41', 30]],
  );
});

test('the SVG draws each frame at its share of the width, labelled with it', () => {
  const svg = flameGraphSvg(callTree(profile), { title: 'a <test>', width: 700 });
  assert.match(svg, /<text x="4" y="18" font-size="13">a &lt;test&gt;<\/text>/);
  const widths = [
    ...svg.matchAll(/<title>([^<]+)<\/title><rect x="[\d.]+" y="\d+" width="([\d.]+)"/g),
  ].map((m) => [m[1], Number(m[2])]);
  assert.deepEqual(widths, [
    ['(root) (100.0%)', 700],
    ['commit collector/store/store.js:10 (57.1%)', 400],
    ['write collector/store/batch-writer.js:41 (42.9%)', 300],
    ['decode protobufjs/src/reader.js:2 (42.9%)', 300],
  ]);
});
