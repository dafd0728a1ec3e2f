// Where a request's time goes along a path: one row per part, its bar placed after the
// parts before it, so the rows read as a waterfall and the bars end at the total.
import { formatMs } from '../model/format.js';
import type { Waterfall, WaterfallPart } from '../model/waterfall.js';
import { el } from './dom.js';

export function waterfallPanel(w: Waterfall, podName: (id: string) => string): HTMLElement {
  const label = (p: WaterfallPart) => {
    switch (p.kind) {
      case 'sidecar-outbound':
        return `${podName(p.pod)} sidecar, outbound`;
      case 'sidecar-inbound':
        return `${podName(p.pod)} sidecar, inbound`;
      case 'network':
        return `network ${podName(p.pod)} → ${podName(p.to ?? '')}`;
      case 'app':
        return `${podName(p.pod)} app`;
      default:
        return 'in no part';
    }
  };
  const scale = Math.max(w.totalMs, 1e-9);
  let before = 0;
  const rows = w.parts.map((p) => {
    const bar = el('div', { class: `bar ${p.kind}` });
    const start = Math.max(0, Math.min(before, scale));
    const width = Math.max(0, Math.min(p.meanMs, scale - start));
    bar.style.marginLeft = `${(100 * start) / scale}%`;
    bar.style.width = `${(100 * width) / scale}%`;
    before += Math.max(0, p.meanMs);
    const q = p.quantiles;
    return el(
      'div',
      { class: 'part', attrs: { 'data-kind': p.kind, 'data-ms': String(p.meanMs) } },
      el(
        'div',
        { class: 'head' },
        el('span', {}, label(p)),
        el(
          'span',
          { class: 'num' },
          formatMs(p.meanMs),
          el(
            'span',
            { class: 'muted' },
            q
              ? ` · ${formatMs(q.p50Ms)} / ${formatMs(q.p90Ms)} / ${formatMs(q.p99Ms)}`
              : ' · mean only',
          ),
        ),
      ),
      el('div', { class: 'track' }, bar),
    );
  });
  return el(
    'section',
    { class: 'panel waterfall', attrs: { 'data-total-ms': String(w.totalMs) } },
    el('h2', {}, `Where a request's time goes: ${w.pods.map(podName).join(' → ')}`),
    el(
      'p',
      { class: 'muted' },
      "Means per request of the first pod's call, which add up along the path (quantiles do not: each sidecar's own p50 / p90 / p99 per crossing is beside it, and the last app's per call; the network and an app that calls on are differences of two means, which have no quantiles of their own). An app's time is its own and its calls off this path; calls made fewer or more than once per request count in proportion. What no part holds is shown as such.",
    ),
    el('div', { class: 'legend-line muted' }, 'part · mean · its own p50 / p90 / p99'),
    ...rows,
    el(
      'div',
      { class: 'part total' },
      el(
        'div',
        { class: 'head' },
        el('span', {}, 'the call, end to end'),
        el('span', { class: 'num' }, formatMs(w.totalMs)),
      ),
    ),
  );
}
