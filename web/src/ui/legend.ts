// What the colours, widths and marks mean, for the measures chosen; the shared proxies'
// marks where the view has any.
import { latencyLegend, UNKNOWN_COLOUR, widthLegend } from '../model/encoding.js';
import { formatBytes, formatRate } from '../model/format.js';
import type { ColorBy, WidthBy } from '../model/graph.js';
import { el, replace } from './dom.js';

export function renderLegend(
  into: HTMLElement,
  colorBy: ColorBy,
  widthBy: WidthBy,
  rates: readonly number[],
  shared = false,
): void {
  const swatch = (colour: string) => {
    const s = el('span', { class: 'swatch' });
    s.style.background = colour;
    return s;
  };
  const line = (width: number) => {
    const s = el('span', { class: 'line' });
    s.style.height = `${width}px`;
    return s;
  };
  replace(
    into,
    el('summary', {}, 'Legend'),
    el('strong', {}, colorBy === 'latency' ? 'exchange latency p50' : 'sidecar added latency p50'),
    el(
      'ul',
      { class: 'steps' },
      ...latencyLegend().map((e) => el('li', {}, swatch(e.colour), e.label)),
      el(
        'li',
        {},
        swatch(UNKNOWN_COLOUR),
        colorBy === 'latency' ? 'no exchanges, or multiplexed' : 'no sidecar on the edge',
      ),
    ),
    el('p', {}, 'pod fill: its sidecar’s added latency p50, same steps'),
    el('strong', {}, widthBy === 'requests' ? 'requests/s' : 'bytes/s'),
    el(
      'ul',
      {},
      ...widthLegend(rates).map((w) =>
        el(
          'li',
          {},
          line(w.width),
          widthBy === 'requests' ? formatRate(w.rate) : `${formatBytes(w.rate)}/s`,
        ),
      ),
    ),
    el(
      'ul',
      { class: 'kinds' },
      el('li', {}, el('span', { class: 'mark app' }), 'app'),
      el('li', {}, el('span', { class: 'mark sidecar' }), 'sidecar'),
      el('li', {}, el('span', { class: 'mark external' }), 'outside peer'),
      ...(shared
        ? [
            el('li', {}, el('span', { class: 'mark shared' }), 'shared proxy, below the apps'),
            el('li', {}, el('span', { class: 'dashed' }), 'node proxy serves: pod’s share'),
            el('li', {}, el('span', { class: 'dashed waypoint' }), 'waypoint carries inbound'),
          ]
        : []),
    ),
  );
}
