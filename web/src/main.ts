// The viewer: a toolbar (time range, layout, measures, namespace, search), the topology
// on a canvas, and a side panel with the selected pod or edge, the agents and the
// sessions. This file wires the parts; the model and layout are pure modules.
import './styles.css';
import type { LiveMessage, SessionSummary } from './model/api-types.js';
import { formatMs, formatRate } from './model/format.js';
import type { Hit } from './model/geometry.js';
import {
  type ColorBy,
  externalLabel,
  GraphModel,
  type SceneLink,
  type SceneOptions,
  type WidthBy,
} from './model/graph.js';
import type { Introspection } from './model/introspection.js';
import { type LayoutKind, type Point, place } from './model/layout.js';
import { meshSummary, pathThrough } from './model/mesh-summary.js';
import { choosePathStep, pathOptions } from './model/path-choice.js';
import {
  describeRange,
  LAST_CHOICES,
  rangeQuery,
  refreshEveryMs,
  type TimeRangeChoice,
} from './model/time-range.js';
import { decodeViewState, encodeViewState, type ViewState } from './model/view-state.js';
import { waterfall } from './model/waterfall.js';
import { agentsPanel } from './ui/agents-panel.js';
import { ApiError, api, LiveSocket, setToken, takeTokenFromUrl } from './ui/api.js';
import { histogramChart } from './ui/charts.js';
import { compareView } from './ui/compare-view.js';
import { button, el, replace } from './ui/dom.js';
import { edgePanel } from './ui/edge-panel.js';
import { GraphCanvas } from './ui/graph-canvas.js';
import { renderLegend } from './ui/legend.js';
import { pathEditor } from './ui/path-editor.js';
import { nodePanel, podPanel } from './ui/pod-panel.js';
import { SessionsPanel } from './ui/sessions-panel.js';
import { renderSummaryBar } from './ui/summary-bar.js';
import { waterfallPanel } from './ui/waterfall-panel.js';

declare global {
  interface Window {
    tollgate?: Introspection;
  }
}

type Tab = 'details' | 'agents' | 'sessions';

class Viewer {
  private readonly model = new GraphModel();
  private positions = new Map<string, Point>();
  private layoutKind: LayoutKind = 'layered';
  private readonly options: Required<Pick<SceneOptions, 'widthBy' | 'colorBy'>> & SceneOptions = {
    widthBy: 'requests',
    colorBy: 'latency',
    namespaces: new Set(),
    search: '',
  };
  private range: TimeRangeChoice = { kind: 'live' };
  private selection: Hit | null = null;
  /** The first view was applied (its range set, even when it is the default). */
  private started = false;
  /** The toolbar's choices, set from a URL's view as well as by hand. */
  private readonly controls = {
    layout: el('select'),
    width: el('select'),
    colour: el('select'),
    search: el('input'),
  };
  private live: LiveSocket | undefined;
  private refreshTimer: number | undefined;
  private detailFetchedMs = 0;

  private readonly status = el('span', { class: 'status' }, 'starting');
  private readonly rangeSelect = el('select', {
    attrs: { name: 'range', 'aria-label': 'time range' },
  });
  private readonly namespaceSelect = el('select', {
    attrs: { name: 'namespace', 'aria-label': 'namespace' },
  });
  private readonly graphArea = el('div', { class: 'graph-area' });
  /** What the mesh costs in the window shown (summary-bar.ts). */
  /** The path whose waterfall the details tab shows, redrawn with the data; null: none. */
  private waterfallPods: readonly string[] | null = null;
  /** The waterfall's path choices as last drawn, and what they were drawn from. */
  private pathEditor: { key: string; element: HTMLElement } | null = null;
  /** The selected pod's added latency histograms (refreshDetails). */
  private readonly podHistograms = el('div', { class: 'charts pod-histograms' });
  private readonly summaryBar = el('div', {
    class: 'summary-bar',
    attrs: { role: 'status', 'aria-label': 'mesh cost' },
  });
  /** Collapsible; open where the graph has room for it beside the marks. */
  private readonly legend = el('details', { class: 'legend' });
  private readonly tooltip = el('div', { class: 'tooltip', attrs: { hidden: '' } });
  private readonly tabs = {
    details: el('div', { class: 'tab', attrs: { role: 'tabpanel', 'data-tab': 'details' } }),
    agents: el('div', {
      class: 'tab',
      attrs: { role: 'tabpanel', 'data-tab': 'agents', hidden: '' },
    }),
    sessions: el('div', {
      class: 'tab',
      attrs: { role: 'tabpanel', 'data-tab': 'sessions', hidden: '' },
    }),
  };
  private readonly tabButtons = new Map<Tab, HTMLButtonElement>();
  private readonly messages = el('div', { class: 'messages', attrs: { role: 'status' } });
  private readonly graph: GraphCanvas;
  private readonly sessions: SessionsPanel;

  constructor(root: HTMLElement) {
    replace(
      root,
      this.toolbar(),
      this.summaryBar,
      el('main', {}, this.graphArea, this.aside()),
      this.messages,
    );
    this.graphArea.append(this.legend, this.tooltip);
    this.graph = new GraphCanvas(this.graphArea, {
      select: (hit) => this.select(hit),
      hover: (hit, at) => this.hover(hit, at),
    });
    // The legend is open where the graph has room beside it, until the person folds or
    // opens it; while open, a fit keeps its column clear, so it covers no mark.
    let legendChosen = false;
    this.legend.addEventListener('click', (event) => {
      if (event.target instanceof Element && event.target.closest('summary')) legendChosen = true;
    });
    new ResizeObserver(() => {
      if (legendChosen) return;
      const area = this.graphArea.getBoundingClientRect();
      this.legend.open = area.width >= 900 && area.height >= 600;
    }).observe(this.graphArea);
    const keepClear = () =>
      this.graph.setFitInsetLeft(this.legend.open ? this.legend.offsetWidth + 16 : 0);
    this.legend.addEventListener('toggle', keepClear);
    new ResizeObserver(keepClear).observe(this.legend);
    this.sessions = new SessionsPanel({
      showWindow: (s) => this.showSessionWindow(s),
      compare: (a, b) => void this.compare(a, b),
      say: (m, kind) => this.say(m, kind),
    });
    this.tabs.sessions.append(this.sessions.element);
    replace(
      this.tabs.details,
      el('p', { class: 'muted' }, 'Click a pod, process or edge for its detail.'),
    );
    this.fillRangeSelect();
    replace(this.summaryBar, el('span', { class: 'muted' }, 'Mesh cost: waiting for data'));
    window.tollgate = {
      frames: () => this.graph.frames,
      firstRenderMs: () => this.graph.firstRenderMs,
      drawn: () => {
        const scene = this.graph.drawnScene;
        return {
          nodes: scene.nodes.map((n) => n.id),
          links: scene.links.map((l) => l.id),
          groups: scene.groups.map((g) => g.id),
        };
      },
      screenOf: (hit) => this.graph.screenOf(hit),
      podLabels: () => this.graph.drawnPodLabels,
      position: (id) => this.positions.get(id) ?? null,
      pixelAt: (p) => this.graph.pixelAt(p),
      pan: (ms, dx, dy) =>
        new Promise((resolve) => {
          const frames = this.graph.frames;
          const began = performance.now();
          const step = (now: number) => {
            if (now - began >= ms) {
              resolve({ frames: this.graph.frames - frames, seconds: (now - began) / 1000 });
              return;
            }
            this.graph.panBy(dx, dy);
            requestAnimationFrame(step);
          };
          requestAnimationFrame(step);
        }),
      select: (hit) => this.select(hit),
    };
  }

  start(): void {
    // The URL's view (a shared link, or the page reloaded); back and forward step through
    // the views chosen since.
    window.addEventListener('popstate', () => this.applyView(decodeViewState(location.hash)));
    this.applyView(decodeViewState(location.hash));
  }

  private currentView(): ViewState {
    return {
      range: this.range,
      layout: this.layoutKind,
      widthBy: this.options.widthBy,
      colorBy: this.options.colorBy,
      namespace: [...(this.options.namespaces ?? [])][0] ?? '',
      search: this.options.search ?? '',
      selection: this.selection,
      path: this.selection ? [] : [...(this.waterfallPods ?? [])],
    };
  }

  /** Puts the view in the URL: a new history entry, or (while typing) the same one. */
  private rememberView(how: 'push' | 'replace' = 'push'): void {
    const encoded = encodeViewState(this.currentView());
    const url = location.pathname + location.search + (encoded ? `#${encoded}` : '');
    if (url === location.pathname + location.search + location.hash) return;
    if (how === 'push') history.pushState(null, '', url);
    else history.replaceState(null, '', url);
  }

  /** Shows a view as the URL describes it, without adding to the history. */
  private applyView(v: ViewState): void {
    this.waterfallPods = !v.selection && v.path.length >= 2 ? v.path : null;
    const relayout = v.layout !== this.layoutKind;
    this.layoutKind = v.layout;
    this.options.widthBy = v.widthBy;
    this.options.colorBy = v.colorBy;
    this.options.namespaces = new Set(v.namespace ? [v.namespace] : []);
    this.options.search = v.search;
    this.controls.layout.value = v.layout;
    this.controls.width.value = v.widthBy;
    this.controls.colour.value = v.colorBy;
    this.controls.search.value = v.search;
    if (relayout) this.positions = new Map();
    this.selection = v.selection;
    this.graph.setSelected(v.selection);
    if (JSON.stringify(v.range) !== JSON.stringify(this.range) || !this.started) {
      this.started = true;
      this.setRange(v.range);
    }
    this.redraw();
    if (relayout) this.graph.fit();
    if (this.waterfallPods) {
      this.showTab('details');
      this.renderWaterfall();
    } else if (!v.selection)
      replace(
        this.tabs.details,
        el('p', { class: 'muted' }, 'Click a pod, process or edge for its detail.'),
      );
  }

  private toolbar(): HTMLElement {
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
    this.controls.search = search;
    search.addEventListener('input', () => {
      this.options.search = search.value;
      this.redraw();
      this.rememberView('replace');
    });
    search.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter') return;
      const first = this.model.scene(this.options).nodes.find((n) => n.match);
      if (first) {
        this.graph.focus(first.id);
        this.select({ kind: 'node', id: first.id });
      }
    });
    this.rangeSelect.addEventListener('change', () => {
      const v = this.rangeSelect.value;
      if (v === 'live') this.setRange({ kind: 'live' });
      else if (v.startsWith('last:')) this.setRange({ kind: 'last', minutes: Number(v.slice(5)) });
      this.rememberView();
    });
    this.namespaceSelect.addEventListener('change', () => {
      const v = this.namespaceSelect.value;
      this.options.namespaces = new Set(v ? [v] : []);
      this.redraw();
      this.rememberView();
    });
    this.controls.layout = choice<LayoutKind>(
      'layout',
      [
        ['layered', 'layered'],
        ['force', 'force'],
      ],
      (v) => {
        this.layoutKind = v;
        this.positions = new Map();
        this.redraw();
        this.graph.fit();
        this.rememberView();
      },
    );
    this.controls.width = choice<WidthBy>(
      'width',
      [
        ['requests', 'width: requests/s'],
        ['bytes', 'width: bytes/s'],
      ],
      (v) => {
        this.options.widthBy = v;
        this.redraw();
        this.rememberView();
      },
    );
    this.controls.colour = choice<ColorBy>(
      'colour',
      [
        ['latency', 'colour: latency'],
        ['overhead', 'colour: sidecar overhead'],
      ],
      (v) => {
        this.options.colorBy = v;
        this.redraw();
        this.rememberView();
      },
    );
    return el(
      'header',
      { class: 'toolbar' },
      el('h1', {}, 'Tollgate'),
      this.rangeSelect,
      this.controls.layout,
      this.controls.width,
      this.controls.colour,
      this.namespaceSelect,
      search,
      button('Fit', () => this.graph.fit()),
      this.status,
    );
  }

  private aside(): HTMLElement {
    const nav = el('nav', { attrs: { role: 'tablist' } });
    for (const [tab, label] of [
      ['details', 'Details'],
      ['agents', 'Agents'],
      ['sessions', 'Sessions'],
    ] as const) {
      const b = button(label, () => this.showTab(tab), { attrs: { role: 'tab', 'data-tab': tab } });
      this.tabButtons.set(tab, b);
      nav.append(b);
    }
    this.tabButtons.get('details')!.setAttribute('aria-selected', 'true');
    return el('aside', {}, nav, this.tabs.details, this.tabs.agents, this.tabs.sessions);
  }

  private showTab(tab: Tab): void {
    for (const [name, panel] of Object.entries(this.tabs)) panel.hidden = name !== tab;
    for (const [name, b] of this.tabButtons) b.setAttribute('aria-selected', String(name === tab));
    if (tab === 'agents') void this.showAgents();
    if (tab === 'sessions') void this.sessions.refresh();
  }

  private fillRangeSelect(): void {
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
    if (this.range.kind === 'session')
      options.push(el('option', { attrs: { value: 'session' } }, describeRange(this.range)));
    replace(this.rangeSelect, ...options);
    this.rangeSelect.value =
      this.range.kind === 'live'
        ? 'live'
        : this.range.kind === 'last'
          ? `last:${this.range.minutes}`
          : 'session';
  }

  private setRange(choice: TimeRangeChoice): void {
    this.range = choice;
    this.fillRangeSelect();
    this.live?.close();
    this.live = undefined;
    window.clearTimeout(this.refreshTimer);
    if (choice.kind === 'live') {
      this.live = new LiveSocket(
        (m) => this.onLive(m),
        (s) => this.setStatus(s === 'live' ? 'live' : s, s),
      );
      return;
    }
    void this.load();
  }

  private async load(): Promise<void> {
    const choice = this.range;
    try {
      const view = await api.topology(rangeQuery(choice));
      if (choice !== this.range) return; // the user chose another range meanwhile
      this.model.applySnapshot(view);
      this.setStatus(describeRange(choice), 'fixed');
      this.redraw();
    } catch (error) {
      this.failed(error);
    }
    const every = refreshEveryMs(choice);
    if (every !== null && choice === this.range)
      this.refreshTimer = window.setTimeout(() => void this.load(), every);
  }

  private onLive(m: LiveMessage): void {
    if (this.range.kind !== 'live') return;
    if (m.type === 'snapshot') this.model.applySnapshot(m);
    else this.model.applyDelta(m);
    this.redraw();
  }

  private setStatus(text: string, kind: string): void {
    this.status.textContent = text;
    this.status.className = `status ${kind}`;
  }

  private redraw(): void {
    const scene = this.model.scene(this.options);
    this.positions = place(scene, this.layoutKind, this.positions);
    this.graph.setScene(scene, this.positions);
    renderSummaryBar(
      this.summaryBar,
      meshSummary({
        costs: this.model.costs.values(),
        edges: this.model.edges.values(),
        processes: this.model.processes,
      }),
      (podId) => this.podName(podId),
      (pods) => this.showWaterfall(pods),
    );
    renderLegend(
      this.legend,
      this.options.colorBy,
      this.options.widthBy,
      scene.links.map((l) => l.rate),
    );
    this.updateNamespaces();
    this.refreshDetails();
    this.renderWaterfall();
  }

  private updateNamespaces(): void {
    // The chosen one, which may come from a URL before its pods do.
    const current = [...(this.options.namespaces ?? [])][0] ?? '';
    const names = this.model.namespaces();
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

  private select(hit: Hit | null): void {
    this.waterfallPods = null;
    if (hit?.id !== this.selection?.id) replace(this.podHistograms);
    this.selection = hit;
    this.graph.setSelected(hit);
    this.detailFetchedMs = 0;
    this.showTab('details');
    this.refreshDetails(true);
    this.rememberView();
  }

  /** Re-renders the detail of what is selected; an edge's is fetched at most every 5 s. */
  private refreshDetails(force = false): void {
    const hit = this.selection;
    if (!hit) return;
    if (hit.kind === 'node') {
      const process = this.model.processes.get(hit.id);
      const pod = this.model.podOf(hit.id) ?? this.model.pods.get(hit.id);
      if (pod) {
        const processes = pod.processes
          .map((id) => this.model.processes.get(id))
          .filter((p) => p !== undefined);
        const panel = podPanel(pod, this.model.costs.get(pod.id), processes, process?.id);
        panel.append(
          button('where the time goes through this pod', () =>
            this.showWaterfall(
              pathThrough(
                pod.id,
                this.model.edges.values(),
                this.model.processes,
                this.model.costs,
              ),
            ),
          ),
        );
        // A meshed pod's added latency distributions, fetched (at most every 5 s) and
        // kept across the panel's re-renders between fetches.
        const meshed = Boolean(this.model.costs.get(pod.id)?.proxy);
        if (meshed) panel.append(this.podHistograms);
        replace(this.tabs.details, panel);
        if (meshed && (force || Date.now() - this.detailFetchedMs >= 5000)) {
          this.detailFetchedMs = Date.now();
          const query = this.range.kind === 'live' ? 'window=60' : rangeQuery(this.range);
          api
            .pod(pod.namespace, pod.name, query)
            .then((detail) => {
              if (this.selection?.id !== hit.id) return;
              replace(
                this.podHistograms,
                el('h3', {}, 'Added latency per exchange'),
                histogramChart('inbound', detail.addedHistograms.inbound),
                histogramChart('outbound', detail.addedHistograms.outbound),
              );
            })
            .catch((error) => {
              if (!(error instanceof ApiError && error.status === 404)) this.failed(error);
            });
        }
      } else {
        const item = process ?? this.model.externals.get(hit.id);
        if (item) replace(this.tabs.details, nodePanel(item));
      }
      return;
    }
    const merged = this.graph.drawnScene.links.find((l) => l.id === hit.id);
    if (merged?.members) {
      replace(this.tabs.details, this.mergedPanel(merged, merged.members));
      return;
    }
    if (!force && Date.now() - this.detailFetchedMs < 5000) return;
    this.detailFetchedMs = Date.now();
    const edge = this.model.edges.get(hit.id);
    const query = this.range.kind === 'live' ? 'window=60' : rangeQuery(this.range);
    api
      .edge(hit.id, query)
      .then((detail) => {
        if (this.selection?.id !== hit.id) return;
        replace(
          this.tabs.details,
          edgePanel(detail, {
            source: this.nameOf(detail.edge.source),
            target: this.nameOf(detail.edge.target),
          }),
        );
      })
      .catch((error) => {
        if (error instanceof ApiError && error.status === 404 && edge)
          replace(
            this.tabs.details,
            el('p', { class: 'muted' }, 'This edge has no data in the range.'),
          );
        else this.failed(error);
      });
  }

  private podName(podId: string): string {
    const pod = this.model.pods.get(podId);
    return pod ? `${pod.namespace}/${pod.name}` : podId;
  }

  /** Where a request's time goes along a path of pods, in the details tab; kept live. */
  private showWaterfall(pods: readonly string[]): void {
    if (this.selection) replace(this.podHistograms);
    this.selection = null;
    this.graph.setSelected(null);
    this.waterfallPods = pods;
    this.showTab('details');
    this.renderWaterfall();
    this.rememberView();
  }

  private renderWaterfall(): void {
    const pods = this.waterfallPods;
    if (!pods) return;
    const w = waterfall({
      pods,
      edges: this.model.edges.values(),
      processes: this.model.processes,
      costs: this.model.costs,
    });
    // The path's choices are made again only when they change, so that a live update
    // does not close a list someone has open.
    const steps = pathOptions(pods, this.model.edges.values(), this.model.processes);
    const key = JSON.stringify([pods, steps.map((s) => s.map((o) => o.pod))]);
    if (this.pathEditor?.key !== key)
      this.pathEditor = {
        key,
        element: pathEditor(
          pods,
          steps,
          (id) => this.podName(id),
          (index, pod) =>
            this.showWaterfall(
              choosePathStep(
                pods,
                index,
                pod,
                this.model.edges.values(),
                this.model.processes,
                this.model.costs,
              ),
            ),
        ),
      };
    const body = w
      ? waterfallPanel(w, (id) => this.podName(id))
      : el('p', { class: 'muted' }, 'The first call of this path has no timed exchanges yet.');
    const details = this.tabs.details;
    if (details.firstChild === this.pathEditor.element) {
      while (details.childNodes.length > 1) details.lastChild!.remove();
      details.append(body);
    } else details.replaceChildren(this.pathEditor.element, body);
  }

  /** Edges drawn as one between grouped processes: each with its rate and p50, to open. */
  private mergedPanel(link: SceneLink, ids: readonly string[]): HTMLElement {
    const edges = ids
      .map((id) => this.model.edges.get(id))
      .filter((e) => e !== undefined)
      .sort((a, b) => b.requestsPerS - a.requestsPerS);
    // Members differ by their processes: each row names its ends with their pids.
    const end = (id: string) => {
      const p = this.model.processes.get(id);
      return p ? `${p.comm} (pid ${p.pid})` : this.nameOf(id);
    };
    return el(
      'section',
      { class: 'panel' },
      el('h2', {}, `${this.nameOf(link.source)} → ${this.nameOf(link.target)}:${link.port}`),
      el(
        'p',
        { class: 'muted' },
        `${edges.length} edges of processes of one command drawn as one; click one for its detail.`,
      ),
      el(
        'table',
        {},
        el('tr', {}, el('th', {}, 'edge'), el('th', {}, 'requests/s'), el('th', {}, 'p50')),
        ...edges.map((e) => {
          const row = el(
            'tr',
            { class: 'clickable' },
            el('td', {}, `${end(e.source)} → ${end(e.target)}`),
            el('td', {}, formatRate(e.requestsPerS)),
            el('td', {}, e.multiplexed ? 'multiplexed' : formatMs(e.latencyMs)),
          );
          row.addEventListener('click', () => this.select({ kind: 'link', id: e.id }));
          return row;
        }),
      ),
    );
  }

  /** A node's name for people: process name with its pod, or the peer's name. */
  private nameOf(id: string): string {
    const members = this.model.membersOf(id);
    if (members?.[0]) {
      const p = this.model.processes.get(members[0]);
      const pod = this.model.podOf(id);
      const name = `${p?.comm ?? ''} ×${members.length}`;
      return pod ? `${pod.namespace}/${pod.name} ${name}` : name;
    }
    const p = this.model.processes.get(id);
    if (p) {
      const pod = p.pod ? this.model.pods.get(p.pod) : undefined;
      return pod ? `${pod.namespace}/${pod.name} ${p.comm}` : p.comm;
    }
    const x = this.model.externals.get(id);
    if (x?.kind === 'folded') return externalLabel(x);
    return x ? (x.name ?? `${x.address}:${x.port}`) : id;
  }

  private hover(hit: Hit | null, at: { x: number; y: number }): void {
    if (!hit) {
      this.tooltip.hidden = true;
      return;
    }
    let text = this.nameOf(hit.id);
    if (hit.kind === 'link') {
      const e = this.model.edges.get(hit.id);
      const merged = this.graph.drawnScene.links.find((l) => l.id === hit.id);
      if (merged?.members)
        text = `${this.nameOf(merged.source)} → ${this.nameOf(merged.target)}:${merged.port}\n${merged.members.length} edges · ${formatRate(
          merged.members.reduce((a, id) => a + (this.model.edges.get(id)?.requestsPerS ?? 0), 0),
          ' req/s',
        )} · p50 ≈ ${formatMs(merged.valueMs)} (weighted by rate)`;
      else if (e)
        text = `${this.nameOf(e.source)} → ${this.nameOf(e.target)}:${e.port}\n${formatRate(e.requestsPerS, ' req/s')} · ${e.multiplexed ? 'multiplexed' : `p50 ${formatMs(e.latencyMs)}`}`;
    }
    this.tooltip.textContent = text;
    this.tooltip.style.left = `${at.x + 12}px`;
    this.tooltip.style.top = `${at.y + 12}px`;
    this.tooltip.hidden = false;
  }

  private async showAgents(): Promise<void> {
    try {
      replace(this.tabs.agents, agentsPanel(await api.agents()));
    } catch (error) {
      this.failed(error);
    }
  }

  private showSessionWindow(s: SessionSummary): void {
    const toMs = s.endMs ?? Date.now();
    this.setRange({ kind: 'session', id: s.id, name: s.name, fromMs: s.startMs, toMs });
    this.rememberView();
  }

  private async compare(a: string, b: string): Promise<void> {
    try {
      const c = await api.compare(a, b);
      const view = compareView(c, () => view.remove());
      document.body.append(view);
    } catch (error) {
      this.failed(error);
    }
  }

  private failed(error: unknown): void {
    if (error instanceof ApiError && error.status === 401) {
      this.askToken();
      return;
    }
    this.say(error instanceof Error ? error.message : String(error), 'error');
  }

  say(message: string, kind: 'error' | 'info' = 'info'): void {
    const m = el('div', { class: `message ${kind}` }, message);
    this.messages.append(m);
    setTimeout(() => m.remove(), kind === 'error' ? 10_000 : 4000);
  }

  /** The collector wants a token: ask once, keep it for the tab, and start again. */
  private askToken(): void {
    if (document.querySelector('dialog.login')) return;
    const input = el('input', {
      attrs: {
        type: 'password',
        name: 'token',
        placeholder: 'collector token',
        autocomplete: 'off',
      },
    });
    const dialog = el('dialog', { class: 'login' });
    const form = el(
      'form',
      {
        on: {
          submit: (event) => {
            event.preventDefault();
            setToken(input.value.trim());
            dialog.close();
            dialog.remove();
            this.setRange(this.range);
          },
        },
      },
      input,
      el('button', { attrs: { type: 'submit' } }, 'Sign in'),
    );
    dialog.append(el('p', {}, 'This collector needs a token.'), form);
    document.body.append(dialog);
    dialog.showModal();
  }
}

takeTokenFromUrl();
const viewer = new Viewer(document.getElementById('app')!);
viewer.start();
