// The view in the URL's fragment: what it encodes, that it decodes to the same view, and
// that a URL's bad values are left out rather than applied.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_VIEW,
  decodeViewState,
  encodeViewState,
  type ViewState,
} from '../../web/src/model/view-state.js';

test('the default view is an empty fragment; every choice round-trips', () => {
  assert.equal(encodeViewState(DEFAULT_VIEW), '');
  assert.deepEqual(decodeViewState(''), DEFAULT_VIEW);
  const views: ViewState[] = [
    {
      range: { kind: 'last', minutes: 60 },
      layout: 'force',
      widthBy: 'bytes',
      colorBy: 'overhead',
      namespace: 'shop',
      search: 'cart & co=1 #x',
      selection: { kind: 'node', id: 'p:node-1:201:1201' },
      path: [],
    },
    {
      ...DEFAULT_VIEW,
      range: { kind: 'session', id: 's-1', name: 'before v2', fromMs: 1_000, toMs: 61_000 },
      selection: { kind: 'link', id: 'merged:["group:x","p:y",15006]' },
    },
    // A waterfall's path, pod ids with the characters they may carry.
    { ...DEFAULT_VIEW, path: ['pod:shop/web', 'pod:shop/api & co', 'pod:data/db,1'] },
  ];
  for (const v of views) {
    const fragment = encodeViewState(v);
    assert.deepEqual(decodeViewState(`#${fragment}`), v, fragment);
  }
  assert.equal(
    encodeViewState(views[0]!),
    'range=last%3A60&layout=force&width=bytes&colour=overhead&ns=shop&q=cart+%26+co%3D1+%23x&sel=node%3Ap%3Anode-1%3A201%3A1201',
  );
});

test("a URL's bad values are left out, each on its own", () => {
  const v = decodeViewState(
    `range=last:7&layout=evil&width=bytes&colour=<script>&sel=edge:x&ns=${'n'.repeat(600)}&q=ok`,
  );
  assert.deepEqual(v, { ...DEFAULT_VIEW, widthBy: 'bytes', search: 'ok' });
  assert.deepEqual(decodeViewState('range=session&session=s&from=5&to=1').range, {
    kind: 'live',
  });
  assert.deepEqual(decodeViewState('range=session&from=5&to=9').range, { kind: 'live' });
  // A path is whole or left out: one pod, a pod twice, too many, one too long.
  for (const bad of [
    'path=a',
    'path=a&path=b&path=a',
    Array.from({ length: 17 }, (_, i) => `path=p${i}`).join('&'),
    `path=a&path=${'b'.repeat(600)}`,
    'path=a&path=',
  ])
    assert.deepEqual(decodeViewState(bad).path, [], bad);
  assert.deepEqual(decodeViewState('path=a&path=b').path, ['a', 'b']);
});
