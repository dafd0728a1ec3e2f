// A benchmark figure over its rounds: the median is the headline, min and max its spread,
// and each round's value in the order run. Pure.

export interface Spread {
  median: number;
  min: number;
  max: number;
  rounds: number[];
}

/** The median is the lower middle of an even count: a value some round gave. */
export function overRounds(values: readonly number[], roundTo = (x: number) => x): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: roundTo(sorted[Math.floor((sorted.length - 1) / 2)] ?? 0),
    min: roundTo(sorted[0] ?? 0),
    max: roundTo(sorted[sorted.length - 1] ?? 0),
    rounds: values.map(roundTo),
  };
}
