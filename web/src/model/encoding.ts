// How measures become marks: edge width from a rate, colour from milliseconds, and the
// legend that explains both. The colour steps are fixed thresholds, not fitted to the
// data, so a colour means the same latency from one update (or session) to the next.
// Pure.
import { scaleSqrt, scaleThreshold } from 'd3';

/** Latency thresholds (ms) between the colour steps. */
export const LATENCY_STEPS_MS = [0.1, 0.3, 1, 3, 10, 30, 100, 300] as const;
/** Yellow (fast) to dark red (slow), one more colour than thresholds. */
export const LATENCY_COLOURS = [
  '#ffffcc',
  '#ffeda0',
  '#fed976',
  '#feb24c',
  '#fd8d3c',
  '#fc4e2a',
  '#e31a1c',
  '#bd0026',
  '#800026',
] as const;
/** Edges with nothing to colour by (no exchanges timed: none, or multiplexed; or no sidecar on the edge). */
export const UNKNOWN_COLOUR = '#9aa3ad';

const colourScale = scaleThreshold<number, string>()
  .domain([...LATENCY_STEPS_MS])
  .range([...LATENCY_COLOURS]);

export function colourOf(valueMs: number | null): string {
  return valueMs === null || !Number.isFinite(valueMs) ? UNKNOWN_COLOUR : colourScale(valueMs);
}

export const WIDTH_RANGE = [1, 9] as const;

/** Width by rate: area-true (square root), from 1 px for idle to 9 px for the busiest. */
export function widthScale(rates: readonly number[]): (rate: number) => number {
  const max = Math.max(0, ...rates.filter(Number.isFinite));
  const scale = scaleSqrt()
    .domain([0, max > 0 ? max : 1])
    .range([...WIDTH_RANGE])
    .clamp(true);
  return (rate) => scale(Number.isFinite(rate) ? rate : 0);
}

export interface LegendEntry {
  colour: string;
  label: string;
}

/** One entry per colour step, labelled with its range. */
export function latencyLegend(): LegendEntry[] {
  const steps = LATENCY_STEPS_MS;
  return LATENCY_COLOURS.map((colour, i) => ({
    colour,
    label:
      i === 0
        ? `< ${steps[0]} ms`
        : i === steps.length
          ? `≥ ${steps[steps.length - 1]} ms`
          : `${steps[i - 1]}–${steps[i]} ms`,
  }));
}

/** A few rates for the width legend: a quarter, half and all of the busiest. */
export function widthLegend(rates: readonly number[]): { rate: number; width: number }[] {
  const max = Math.max(0, ...rates.filter(Number.isFinite));
  if (max <= 0) return [];
  const width = widthScale(rates);
  return [max / 4, max / 2, max].map((rate) => ({ rate, width: width(rate) }));
}
