// When an open-loop load's requests are due, in turns and without: the pure schedule.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  dueOffsetMs,
  interleavedTurns,
  spanS,
  turnOf,
  validateTurns,
} from '../../daemonset/load/schedule.js';

test('without turns a request is due at i / rate', () => {
  assert.equal(dueOffsetMs(0, 100), 0);
  assert.equal(dueOffsetMs(250, 100), 2500);
  assert.equal(spanS(15), 15);
});

test('in turns the requests are due at the rate within each, none between them', () => {
  // 10 requests/s, 0.5 s in each of two turns: 5 requests in each.
  const turns = [
    [1, 1.5],
    [3, 3.5],
  ] as const;
  const due = Array.from({ length: 10 }, (_, i) => dueOffsetMs(i, 10, turns));
  assert.deepEqual(
    due.map((ms) => Math.round(ms)),
    [1000, 1100, 1200, 1300, 1400, 3000, 3100, 3200, 3300, 3400],
  );
  assert.equal(spanS(1, turns), 3.5);
  // Turns whose ends fall between floating-point values (1.8 - 1.5 > 0.3): each still
  // takes its length's requests, 15 at 50 requests/s, none at another's edge.
  const [a] = interleavedTurns(2, 1.2, 0.3, 0.2);
  const counts = a!.map(([from, to]) => {
    const due = Array.from({ length: 60 }, (_, i) => dueOffsetMs(i, 50, a));
    return due.filter((ms) => ms >= from * 1000 && ms < to * 1000).length;
  });
  assert.deepEqual(counts, [15, 15, 15, 15]);
});

test("a request's turn is the one it is due in", () => {
  // The same turns: 15 requests each, at 50 requests/s.
  const [a] = interleavedTurns(2, 1.2, 0.3, 0.2);
  const turn = Array.from({ length: 60 }, (_, i) => turnOf(i, 50, a));
  assert.deepEqual(
    turn,
    Array.from({ length: 60 }, (_, i) => Math.floor(i / 15)),
  );
  // Past the last turn (rounding), the last; without turns, 0.
  assert.equal(turnOf(60, 50, a), 3);
  assert.equal(turnOf(7, 50), 0);
});

test('interleaved turns: each load its duration in all, the order flipped every round', () => {
  const [a, b] = interleavedTurns(2, 6, 1.5, 0.25);
  assert.equal(a!.length, 4);
  assert.equal(b!.length, 4);
  const length = (turns: readonly (readonly [number, number])[]) =>
    turns.reduce((n, [from, to]) => n + to - from, 0);
  assert.ok(Math.abs(length(a!) - 6) < 1e-9 && Math.abs(length(b!) - 6) < 1e-9);
  // A B, B A, A B, B A: turns of 1.5 s, 0.25 s apart.
  assert.deepEqual(
    a!.map(([from]) => from),
    [0, 5.25, 7, 12.25],
  );
  assert.deepEqual(
    b!.map(([from]) => from),
    [1.75, 3.5, 8.75, 10.5],
  );
  // Never two at once: every turn ends a gap before the next begins.
  const all = [...a!, ...b!].sort((x, y) => x[0] - y[0]);
  for (let k = 1; k < all.length; k++) assert.ok(all[k]![0] >= all[k - 1]![1] + 0.25 - 1e-9);
  // Three loads: A B C, then C B A.
  assert.deepEqual(
    interleavedTurns(3, 3, 1.5, 0).map((turns) => turns.map(([from]) => from)),
    [
      [0, 7.5],
      [1.5, 6],
      [3, 4.5],
    ],
  );
  assert.ok(validateTurnsOk(a!, 6) && validateTurnsOk(b!, 6));
});

function validateTurnsOk(turns: readonly (readonly [number, number])[], durationS: number) {
  validateTurns(turns, durationS, 3600);
  return true;
}

test('turns that overlap, run backwards or do not add up to the duration are refused', () => {
  assert.throws(() => validateTurns([], 1, 3600), /1\.\.10000/);
  assert.throws(
    () =>
      validateTurns(
        [
          [0, 1],
          [0.5, 1.5],
        ],
        2,
        3600,
      ),
    /not after the one before it/,
  );
  assert.throws(() => validateTurns([[2, 1]], 1, 3600), /not after/);
  assert.throws(() => validateTurns([[0, 1]], 2, 3600), /add up to 1 s, not the duration's 2 s/);
  assert.throws(() => validateTurns([[0, 4000]], 4000, 3600), /end after 3600 s/);
  assert.throws(
    () => validateTurns(JSON.parse('[["a", 1]]') as [number, number][], 1, 3600),
    /not after/,
  );
});
