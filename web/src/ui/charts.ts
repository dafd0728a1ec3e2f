// Small SVG charts for the panels: a latency histogram on a log axis with its quantiles
// marked, and a sparkline of a series over time. SVG is right here: tens of marks each.
import { axisBottom, line, max, scaleLinear, scaleLog, select } from 'd3';
import type { SparseHistogram } from '../model/api-types.js';
import { formatMs } from '../model/format.js';
import { bars, logDomain, markers } from '../model/histogram-bars.js';

const SVG = 'http://www.w3.org/2000/svg';

export function histogramChart(
  title: string,
  h: SparseHistogram | undefined,
  size = { width: 300, height: 110 },
): HTMLElement {
  const figure = document.createElement('figure');
  figure.className = 'histogram';
  figure.dataset.title = title;
  const caption = document.createElement('figcaption');
  const drawn = bars(h);
  const count = drawn.reduce((s, b) => s + b.count, 0);
  caption.textContent = `${title} · ${count.toLocaleString('en-US')} samples`;
  figure.appendChild(caption);
  if (drawn.length === 0) {
    const none = document.createElement('p');
    none.className = 'muted';
    none.textContent = 'no samples in this range';
    figure.appendChild(none);
    return figure;
  }
  const margin = { top: 14, right: 16, bottom: 22, left: 16 };
  const svg = select(document.createElementNS(SVG, 'svg') as SVGSVGElement)
    .attr('width', size.width)
    .attr('height', size.height)
    .attr('role', 'img')
    .attr('aria-label', `${title} histogram`);
  const x = scaleLog()
    .domain(logDomain(drawn))
    .range([margin.left, size.width - margin.right]);
  const y = scaleLinear()
    .domain([0, max(drawn, (b) => b.share)!])
    .range([size.height - margin.bottom, margin.top]);
  svg
    .append('g')
    .selectAll('rect')
    .data(drawn)
    .join('rect')
    .attr('class', 'bar')
    .attr('x', (b) => x(b.loMs))
    .attr('width', (b) => Math.max(1, x(b.hiMs) - x(b.loMs) - 0.5))
    .attr('y', (b) => y(b.share))
    .attr('height', (b) => y(0) - y(b.share))
    .append('title')
    .text((b) => `${formatMs(b.loMs)}–${formatMs(b.hiMs)}: ${b.count}`);
  const marks = svg.append('g').selectAll('g').data(markers(h)).join('g');
  marks
    .append('line')
    .attr('class', 'marker')
    .attr('x1', (m) => x(m.ms))
    .attr('x2', (m) => x(m.ms))
    .attr('y1', margin.top - 4)
    .attr('y2', size.height - margin.bottom);
  marks
    .append('text')
    .attr('class', 'marker-label')
    .attr('x', (m) => x(m.ms) + 2)
    .attr('y', (_m, i) => margin.top - 4 + i * 9)
    .text((m) => `${m.label} ${formatMs(m.ms)}`);
  svg
    .append('g')
    .attr('transform', `translate(0,${size.height - margin.bottom})`)
    .call(
      axisBottom(x)
        .ticks(4, (v: number) => formatMs(v))
        .tickSizeOuter(0),
    );
  figure.appendChild(svg.node()!);
  return figure;
}

/** A line over time; null points are gaps. */
export function sparkline(
  label: string,
  points: readonly { t: number; v: number | null }[],
  format: (v: number) => string,
  size = { width: 140, height: 30 },
): HTMLElement {
  const box = document.createElement('div');
  box.className = 'sparkline';
  const name = document.createElement('span');
  name.textContent = label;
  const last = [...points].reverse().find((p) => p.v !== null)?.v;
  const value = document.createElement('span');
  value.className = 'value';
  value.textContent = last === undefined || last === null ? '–' : format(last);
  const svg = select(document.createElementNS(SVG, 'svg') as SVGSVGElement)
    .attr('width', size.width)
    .attr('height', size.height);
  if (points.length > 1) {
    const x = scaleLinear()
      .domain([points[0]!.t, points[points.length - 1]!.t])
      .range([1, size.width - 1]);
    const top = max(points, (p) => p.v ?? 0) || 1;
    const y = scaleLinear()
      .domain([0, top])
      .range([size.height - 2, 2]);
    const path = line<{ t: number; v: number | null }>()
      .defined((p) => p.v !== null)
      .x((p) => x(p.t))
      .y((p) => y(p.v!));
    svg
      .append('path')
      .attr('class', 'spark')
      .attr('d', path([...points]));
  }
  box.append(name, svg.node()!, value);
  return box;
}
