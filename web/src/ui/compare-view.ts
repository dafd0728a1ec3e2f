// Two sessions side by side: per session, pod and edge, each metric in A and B with the
// difference, flagged where it exceeds the histograms' error (the collector judges).
import type { Comparison } from '../model/api-types.js';
import { formatDelta, formatMs, formatNumber, formatPercent } from '../model/format.js';
import { compareRows } from '../model/session-view.js';
import { button, el, replace, table } from './dom.js';

const value = (v: number | null, unit: string) =>
  unit === 'ms' ? formatMs(v) : v === null ? '–' : `${formatNumber(v)} ${unit}`;

export function compareView(c: Comparison, close: () => void): HTMLElement {
  const body = el('div', { class: 'compare-body' });
  const only = el('input', { attrs: { type: 'checkbox', name: 'significant-only' } });
  const render = () => {
    const rows = compareRows(c, only.checked);
    replace(
      body,
      table(
        ['', 'item', 'metric', c.a.name, c.b.name, 'Δ', 'Δ %', 'error bound', 'note'],
        rows.map((r) => [
          r.significant ? '*' : '',
          r.kind === 'session'
            ? 'whole session'
            : `${r.kind} ${r.item}${r.matchedBy === 'workload' ? ' (by workload)' : ''}${r.meshModes ? ` · ${r.meshModes}` : ''}`,
          r.metric,
          value(r.a, r.unit),
          value(r.b, r.unit),
          formatDelta(r.delta, r.unit),
          formatPercent(r.relative),
          r.errorBound === null ? '–' : value(r.errorBound, r.unit),
          r.note,
        ]),
        {
          class: 'grid compare-table',
          rowClass: (i) => (rows[i]!.significant ? 'significant' : undefined),
        },
      ),
    );
  };
  only.addEventListener('change', render);
  render();
  return el(
    'section',
    { class: 'compare-view', attrs: { role: 'dialog', 'aria-label': 'compare sessions' } },
    el('header', {}, el('h2', {}, `${c.a.name} → ${c.b.name}`), button('Close', close)),
    el(
      'p',
      {},
      `${c.significant} difference${c.significant === 1 ? '' : 's'} beyond the measurement error (marked *).`,
    ),
    el('label', {}, only, ' only those'),
    body,
  );
}
