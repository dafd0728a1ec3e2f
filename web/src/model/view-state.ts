// What the viewer shows, as the URL's fragment: the time range, the layout, the
// measures, the namespace, the search, the selection and the waterfall's path. A link then opens the same
// view, and the browser's back and forward step through the views one chose. Pure; what
// a URL says is checked like any other input (a bad value is left out, never applied).
import type { Hit } from './geometry.js';
import type { ColorBy, WidthBy } from './graph.js';
import type { LayoutKind } from './layout.js';
import { LAST_CHOICES, type TimeRangeChoice } from './time-range.js';

export interface ViewState {
  range: TimeRangeChoice;
  layout: LayoutKind;
  widthBy: WidthBy;
  colorBy: ColorBy;
  /** '' for every namespace. */
  namespace: string;
  search: string;
  selection: Hit | null;
  /** The pods of the waterfall shown (without a selection); empty for none. */
  path: string[];
}

export const DEFAULT_VIEW: ViewState = {
  range: { kind: 'live' },
  layout: 'layered',
  widthBy: 'requests',
  colorBy: 'latency',
  namespace: '',
  search: '',
  selection: null,
  path: [],
};

/** Most pods a path from a URL may have: a chain of services, not the mesh. */
const MAX_PATH = 16;

/** Longest value taken from a URL: ids and names are far shorter. */
const MAX_VALUE = 512;

/** The fragment for a view, without '#'; what equals the default is left out. */
export function encodeViewState(s: ViewState): string {
  const p = new URLSearchParams();
  if (s.range.kind === 'last') p.set('range', `last:${s.range.minutes}`);
  if (s.range.kind === 'session') {
    p.set('range', 'session');
    p.set('session', s.range.id);
    p.set('name', s.range.name);
    p.set('from', String(Math.floor(s.range.fromMs)));
    p.set('to', String(Math.ceil(s.range.toMs)));
  }
  if (s.layout !== DEFAULT_VIEW.layout) p.set('layout', s.layout);
  if (s.widthBy !== DEFAULT_VIEW.widthBy) p.set('width', s.widthBy);
  if (s.colorBy !== DEFAULT_VIEW.colorBy) p.set('colour', s.colorBy);
  if (s.namespace) p.set('ns', s.namespace);
  if (s.search) p.set('q', s.search);
  if (s.selection) p.set('sel', `${s.selection.kind}:${s.selection.id}`);
  for (const pod of s.path) p.append('path', pod);
  return p.toString();
}

/** The view a fragment describes (with or without '#'): defaults where it says nothing valid. */
export function decodeViewState(fragment: string): ViewState {
  const p = new URLSearchParams(fragment.replace(/^#/, ''));
  const get = (name: string) => {
    const v = p.get(name);
    return v !== null && v.length <= MAX_VALUE ? v : null;
  };
  const oneOf = <T extends string>(v: string | null, allowed: readonly T[], fallback: T): T =>
    allowed.includes(v as T) ? (v as T) : fallback;
  const s: ViewState = { ...DEFAULT_VIEW };
  const range = get('range');
  if (range?.startsWith('last:')) {
    const minutes = Number(range.slice(5));
    if ((LAST_CHOICES as readonly number[]).includes(minutes)) s.range = { kind: 'last', minutes };
  } else if (range === 'session') {
    const id = get('session');
    const fromMs = Number(get('from'));
    const toMs = Number(get('to'));
    if (id && Number.isFinite(fromMs) && Number.isFinite(toMs) && fromMs > 0 && toMs >= fromMs)
      s.range = { kind: 'session', id, name: get('name') ?? id, fromMs, toMs };
  }
  s.layout = oneOf(get('layout'), ['layered', 'force'], DEFAULT_VIEW.layout);
  s.widthBy = oneOf(get('width'), ['requests', 'bytes'], DEFAULT_VIEW.widthBy);
  s.colorBy = oneOf(get('colour'), ['latency', 'overhead'], DEFAULT_VIEW.colorBy);
  s.namespace = get('ns') ?? '';
  s.search = get('q') ?? '';
  const sel = get('sel');
  const match = sel ? /^(node|link):(.+)$/s.exec(sel) : null;
  if (match) s.selection = { kind: match[1] as Hit['kind'], id: match[2]! };
  // A path is taken whole or not at all: two to 16 pods, each once, none too long.
  const path = p.getAll('path');
  if (
    path.length >= 2 &&
    path.length <= MAX_PATH &&
    path.every((pod) => pod.length > 0 && pod.length <= MAX_VALUE) &&
    new Set(path).size === path.length
  )
    s.path = path;
  return s;
}
