// The toolbar: the time range, the layout, the measures, the namespace, the search, Fit
// and the connection's status. It holds the controls and reports what is chosen; what a
// choice does to the view is the app's, so a view from a URL can set them as well.
import type { ColorBy, WidthBy } from '../model/graph.js';
import type { LayoutKind } from '../model/layout.js';
import { describeRange, LAST_CHOICES, type TimeRangeChoice } from '../model/time-range.js';
import type { ViewState } from '../model/view-state.js';
import { button, el, replace } from '../ui/dom.js';

export interface ToolbarActions {
  /** A range was picked; undefined for the session's own entry, which keeps the range. */
  range(choice: TimeRangeChoice | undefined): void;
  layout(kind: LayoutKind): void;
  width(by: WidthBy): void;
  colour(by: ColorBy): void;
  /** '' for every namespace. */
  namespace(name: string): void;
  /** The search text as typed. */
  search(text: string): void;
  /** Enter in the search box. */
  searchEnter(): void;
  fit(): void;
}

export class Toolbar {
  readonly element: HTMLElement;
  private readonly status = el('span', { class: 'status' }, 'starting');
  private readonly rangeSelect = el('select', {
    attrs: { name: 'range', 'aria-label': 'time range' },
  });
  private readonly namespaceSelect = el('select', {
    attrs: { name: 'namespace', 'aria-label': 'namespace' },
  });
  /** The choices a URL's view sets as well as a person. */
  private readonly controls: {
    layout: HTMLSelectElement;
    width: HTMLSelectElement;
    colour: HTMLSelectElement;
    search: HTMLInputElement;
  };

  constructor(actions: ToolbarActions) {
    const choice = <T extends string>(name: string, values: [T, string][], on: (v: T) => void) => {
      const select = el(
        'select',
        { attrs: { name, 'aria-label': name } },
        ...values.map(([v, label]) => el('option', { attrs: { value: v } }, label)),
      );
      select.addEventListener('change', () => on(select.value as T));
      return select;
    };
    const search = el('input', {
      attrs: {
        type: 'search',
        name: 'search',
        placeholder: 'search pods and processes',
        'aria-label': 'search',
      },
    });
    search.addEventListener('input', () => actions.search(search.value));
    search.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') actions.searchEnter();
    });
    this.rangeSelect.addEventListener('change', () => {
      const v = this.rangeSelect.value;
      if (v === 'live') actions.range({ kind: 'live' });
      else if (v.startsWith('last:')) actions.range({ kind: 'last', minutes: Number(v.slice(5)) });
      else actions.range(undefined);
    });
    this.namespaceSelect.addEventListener('change', () =>
      actions.namespace(this.namespaceSelect.value),
    );
    this.controls = {
      layout: choice<LayoutKind>(
        'layout',
        [
          ['layered', 'layered'],
          ['force', 'force'],
        ],
        (v) => actions.layout(v),
      ),
      width: choice<WidthBy>(
        'width',
        [
          ['requests', 'width: requests/s'],
          ['bytes', 'width: bytes/s'],
        ],
        (v) => actions.width(v),
      ),
      colour: choice<ColorBy>(
        'colour',
        [
          ['latency', 'colour: latency'],
          ['overhead', 'colour: sidecar overhead'],
        ],
        (v) => actions.colour(v),
      ),
      search,
    };
    this.element = el(
      'header',
      { class: 'toolbar' },
      el('h1', {}, 'Tollgate'),
      this.rangeSelect,
      this.controls.layout,
      this.controls.width,
      this.controls.colour,
      this.namespaceSelect,
      search,
      button('Fit', () => actions.fit()),
      this.status,
    );
  }

  /** Sets the controls to a view's choices (one from a URL). */
  showChoices(v: Pick<ViewState, 'layout' | 'widthBy' | 'colorBy' | 'search'>): void {
    this.controls.layout.value = v.layout;
    this.controls.width.value = v.widthBy;
    this.controls.colour.value = v.colorBy;
    this.controls.search.value = v.search;
  }

  /** The range's entries, with the session's own while one is shown, and the range chosen. */
  showRange(range: TimeRangeChoice): void {
    const options = [
      el('option', { attrs: { value: 'live' } }, 'live'),
      ...LAST_CHOICES.map((m) =>
        el(
          'option',
          { attrs: { value: `last:${m}` } },
          describeRange({ kind: 'last', minutes: m }),
        ),
      ),
    ];
    if (range.kind === 'session')
      options.push(el('option', { attrs: { value: 'session' } }, describeRange(range)));
    replace(this.rangeSelect, ...options);
    this.rangeSelect.value =
      range.kind === 'live' ? 'live' : range.kind === 'last' ? `last:${range.minutes}` : 'session';
  }

  /** The namespaces to choose from; `current` stays chosen if it is among them. */
  showNamespaces(names: readonly string[], current: string): void {
    const wanted = ['', ...names].join('\n');
    if (this.namespaceSelect.dataset.names === wanted) return;
    this.namespaceSelect.dataset.names = wanted;
    replace(
      this.namespaceSelect,
      el('option', { attrs: { value: '' } }, 'all namespaces'),
      ...names.map((n) => el('option', { attrs: { value: n } }, n)),
    );
    this.namespaceSelect.value = names.includes(current) ? current : '';
  }

  setStatus(text: string, kind: string): void {
    this.status.textContent = text;
    this.status.className = `status ${kind}`;
  }
}
