// Session targets: the label selector syntax and what a target selects, as both the
// collector and the agents read them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  compileTarget,
  parseSelector,
  SelectorError,
  selectorMatches,
  unionOfTargets,
} from '../../proto/target.js';

const pod = (namespace: string, name: string, labels: Record<string, string> = {}) => ({
  namespace,
  name,
  labels,
});

test('label selectors: equality, set-based and existence requirements, all of them', () => {
  const labels = { app: 'web', tier: 'front', 'app.kubernetes.io/version': 'v2' };
  const cases: [string, boolean][] = [
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app!=web', false],
    ['app=db', false],
    ['tier in (front, back)', true],
    ['tier notin (front)', false],
    ['missing notin (x)', true],
    ['app.kubernetes.io/version', true],
    ['!app', false],
    ['!missing', true],
    ['app=web,tier in (back)', false],
    ['app=web, tier in (front,back), !missing', true],
  ];
  for (const [selector, expected] of cases)
    assert.equal(selectorMatches(parseSelector(selector), labels), expected, selector);
});

test('bad selectors say what is wrong', () => {
  for (const [selector, message] of [
    ['app in (a', /unbalanced parentheses/],
    ['app=web,,tier=x', /empty requirement/],
    ['-app=x', /bad label key '-app'/],
    ['app=has space', /bad label/],
    [`app=${'v'.repeat(64)}`, /bad label value/],
    ['x'.repeat(5000), /longer than 4096/],
  ] as const)
    assert.throws(
      () => parseSelector(selector),
      (e: Error) => e instanceof SelectorError && message.test(e.message),
      selector,
    );
  assert.throws(
    () => compileTarget({ all: false, namespaces: [], podSelector: '', pods: ['no-slash'] }),
    /namespace\/name/,
  );
});

test('a target takes pods meeting all its conditions; several targets take any of theirs', () => {
  const shop = compileTarget({
    all: false,
    namespaces: ['shop'],
    podSelector: 'app=web',
    pods: [],
  });
  assert.equal(shop.everything, false);
  assert.equal(shop.matches(pod('shop', 'web-1', { app: 'web' })), true);
  assert.equal(shop.matches(pod('shop', 'db-1', { app: 'db' })), false);
  assert.equal(shop.matches(pod('other', 'web-1', { app: 'web' })), false);
  const one = compileTarget({ all: false, namespaces: [], podSelector: '', pods: ['lab/a'] });
  assert.equal(one.matches(pod('lab', 'a')), true);
  assert.equal(one.matches(pod('lab', 'b')), false);
  const union = unionOfTargets([shop, one]);
  assert.equal(union.matches(pod('lab', 'a')), true);
  assert.equal(union.matches(pod('shop', 'web-2', { app: 'web' })), true);
  assert.equal(union.matches(pod('lab', 'b')), false);
  assert.equal(compileTarget(undefined).everything, true);
  assert.equal(
    compileTarget({ all: false, namespaces: [], podSelector: '', pods: [] }).everything,
    true,
  );
  assert.equal(unionOfTargets([]).everything, true, 'no session: trace everything');
});
