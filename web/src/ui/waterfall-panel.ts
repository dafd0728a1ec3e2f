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
    // Past a fan-out a part is reached by some requests only: its mean per request is
    // smaller than its time per call, which its quantiles are.
    const share =
      p.callsPerRequest > 0 && Math.abs(p.callsPerRequest - 1) > 0.01
        ? `${formatCalls(p.callsPerRequest)} calls per request, ${formatMs(p.meanMs / p.callsPerRequest)} each · `
        : '';
    const spread = q
      ? `${formatMs(q.p50Ms)} / ${formatMs(q.p90Ms)} / ${formatMs(q.p99Ms)}`
      : 'mean only';
    // The label and the mean on one line, what qualifies them under it: long pod names
    // wrap there instead of pushing the figures out of the panel.
    return el(
      'div',
      { class: 'part', attrs: { 'data-kind': p.kind, 'data-ms': String(p.meanMs) } },
      el(
        'div',
        { class: 'head' },
        el('span', {}, label(p)),
        el('span', { class: 'num' }, formatMs(p.meanMs)),
      ),
      el('div', { class: 'detail muted' }, share, spread),
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
    el(
      'div',
      { class: 'legend-line muted' },
      'part · mean per request; under it, its own p50 / p90 / p99',
    ),
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

function formatCalls(n: number): string {
  return n >= 10 ? n.toFixed(0) : n >= 1 ? n.toFixed(1) : n.toFixed(2);
}
