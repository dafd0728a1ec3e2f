// When an open-loop load's requests are due: at a constant rate, or at that rate within
// turns (windows of time with nothing due between them), so that two loads can take
// turns on one machine, as an A/B measurement's sides do. Pure.

/** A turn: seconds from the start of the measured load, [from, to). */
export type Turn = readonly [number, number];

/** At most this many turns in one schedule. */
export const MAX_TURNS = 10_000;

/**
 * The turn request `i` (0-based) of the measured load falls in, each turn taking the
 * requests of its length at `rate` (rounded), and the index of that turn's first request;
 * null past the last turn (only by rounding the count).
 */
function placeInTurns(
  i: number,
  rate: number,
  turns: readonly Turn[],
): { turn: number; first: number } | null {
  // By request counts, not by subtracting times: a request at a turn's end in floating
  // point would otherwise fall at the end of one turn or the start of the next by chance.
  let before = 0;
  for (const [turn, [from, to]] of turns.entries()) {
    const first = Math.round(before * rate);
    before += to - from;
    if (i < Math.round(before * rate)) return { turn, first };
  }
  return null;
}

/**
 * Milliseconds from the start of the measured load at which its request `i` (0-based) is
 * due: i / rate, or, in turns, the rate within each turn from its start.
 */
export function dueOffsetMs(i: number, rate: number, turns?: readonly Turn[]): number {
  if (!turns?.length) return (i / rate) * 1000;
  const place = placeInTurns(i, rate, turns);
  // Past the last turn: due at its end.
  if (!place) return turns[turns.length - 1]![1] * 1000;
  return (turns[place.turn]![0] + (i - place.first) / rate) * 1000;
}

/** The index of the turn request `i` is due in (as dueOffsetMs places it); 0 without turns. */
export function turnOf(i: number, rate: number, turns?: readonly Turn[]): number {
  if (!turns?.length) return 0;
  return placeInTurns(i, rate, turns)?.turn ?? turns.length - 1;
}

/** Seconds from the start to the end of the last turn (the load's span), or `durationS`. */
export function spanS(durationS: number, turns?: readonly Turn[]): number {
  return turns?.length ? turns[turns.length - 1]![1] : durationS;
}

/**
 * Throws a RangeError naming what is wrong: turns must be ascending, apart, within
 * [0, maxSpanS], and add up to `durationS` (the load's time under way, which its rate and
 * request count are of).
 */
export function validateTurns(turns: readonly Turn[], durationS: number, maxSpanS: number): void {
  if (!Array.isArray(turns) || turns.length === 0 || turns.length > MAX_TURNS)
    throw new RangeError(`turns must be a list of 1..${MAX_TURNS} [from, to] pairs`);
  let end = 0;
  let sum = 0;
  for (const turn of turns) {
    const [from, to] = Array.isArray(turn) ? turn : [Number.NaN, Number.NaN];
    if (!(Number.isFinite(from) && Number.isFinite(to) && from >= end && to > from))
      throw new RangeError(`turn ${JSON.stringify(turn)} is not after the one before it`);
    end = to;
    sum += to - from;
  }
  if (end > maxSpanS) throw new RangeError(`turns end after ${maxSpanS} s`);
  if (Math.abs(sum - durationS) > 1e-6 * Math.max(1, durationS))
    throw new RangeError(`turns add up to ${sum} s, not the duration's ${durationS} s`);
}

/**
 * Turns for `loads` loads that take turns, each under way for `durationS` in all: rounds
 * of one turn each, in order and then in reverse (A B, B A, ... or A B C, C B A, ...), so
 * that none always follows another, with `gapS` between turns for the replies still out.
 * A drift that is linear in time cancels over an even number of rounds; over an odd one
 * the first load leads one round more (A B, B A, A B).
 * Turns are as near `turnS` long as makes a whole number of them. One list per load.
 */
export function interleavedTurns(
  loads: number,
  durationS: number,
  turnS: number,
  gapS: number,
): Turn[][] {
  const rounds = Math.max(1, Math.round(durationS / turnS));
  const length = durationS / rounds;
  const turns: Turn[][] = Array.from({ length: loads }, () => []);
  let at = 0;
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < loads; k++) {
      const load = r % 2 === 0 ? k : loads - 1 - k;
      turns[load]!.push([at, at + length]);
      at += length + gapS;
    }
  }
  return turns;
}
