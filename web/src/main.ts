// The viewer: a toolbar (time range, layout, measures, namespace, search), the topology
// on a canvas, and a side panel with the selected pod or edge, the agents and the
// sessions. This file wires the parts (app/ holds the toolbar, tabs, data source,
// details, sign-in and test hooks); the model and layout are pure modules.
import './styles.css';
import { DataSource } from './app/data-source.js';
import { Details } from './app/details.js';
import { exposeIntrospection } from './app/introspection.js';
import { keepLegendRoom } from './app/legend-room.js';
import { askToken } from './app/login.js';
import { Tabs } from './app/tabs.js';
import { Toolbar } from './app/toolbar.js';
import { Tooltip } from './app/tooltip.js';
import { followViewUrl, rememberView } from './app/view-url.js';
import type { SessionSummary } from './model/api-types.js';
import type { Hit } from './model/geometry.js';
import { GraphModel, type SceneOptions } from './model/graph.js';
import { type LayoutKind, type Point, place } from './model/layout.js';
import { meshSummary } from './model/mesh-summary.js';
import { podName } from './model/names.js';
import type { ViewState } from './model/view-state.js';
import { agentsPanel } from './ui/agents-panel.js';
import { ApiError, api, takeTokenFromUrl } from './ui/api.js';
import { compareView } from './ui/compare-view.js';
import { el, replace } from './ui/dom.js';
import { GraphCanvas } from './ui/graph-canvas.js';
import { renderLegend } from './ui/legend.js';
import { SessionsPanel } from './ui/sessions-panel.js';
import { renderSummaryBar } from './ui/summary-bar.js';

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
  /** The first view was applied (its range set, even when it is the default). */
  private started = false;

  private readonly data = new DataSource(this.model, {
    rangeChosen: (range) => this.toolbar.showRange(range),
    status: (text, kind) => this.toolbar.setStatus(text, kind),
    changed: () => this.redraw(),
    failed: (error) => this.failed(error),
  });
  private readonly toolbar = new Toolbar({
    range: (choice) => {
      if (choice) this.data.setRange(choice);
      this.rememberView();
    },
    layout: (kind) => {
      this.layoutKind = kind;
      this.positions = new Map();
      this.redraw();
      this.graph.fit();
      this.rememberView();
    },
    width: (by) => {
      this.options.widthBy = by;
      this.redraw();
      this.rememberView();
    },
    colour: (by) => {
      this.options.colorBy = by;
      this.redraw();
      this.rememberView();
    },
    namespace: (name) => {
      this.options.namespaces = new Set(name ? [name] : []);
      this.redraw();
      this.rememberView();
    },
    search: (text) => {
      this.options.search = text;
      this.redraw();
      this.rememberView('replace');
    },
    searchEnter: () => {
      const first = this.model.scene(this.options).nodes.find((n) => n.match);
      if (first) {
        this.graph.focus(first.id);
        this.select({ kind: 'node', id: first.id });
      }
    },
    fit: () => this.graph.fit(),
  });
  private readonly graphArea = el('div', { class: 'graph-area' });
  /** What the mesh costs in the window shown (summary-bar.ts). */
  private readonly summaryBar = el('div', {
    class: 'summary-bar',
    attrs: { role: 'status', 'aria-label': 'mesh cost' },
  });
  /** Collapsible; open where the graph has room for it beside the marks. */
  private readonly legend = el('details', { class: 'legend' });
  private readonly tooltip = new Tooltip(this.model, () => this.graph.drawnScene.links);
  private readonly tabs = new Tabs({
    agents: () => void this.showAgents(),
    sessions: () => void this.sessions.refresh(),
  });
  private readonly details = new Details(this.tabs.panels.details, {
    model: this.model,
    drawnLinks: () => this.graph.drawnScene.links,
    range: () => this.data.range,
    select: (hit) => this.select(hit),
    showWaterfall: (pods) => this.showWaterfall(pods),
    failed: (error) => this.failed(error),
  });
  private readonly messages = el('div', { class: 'messages', attrs: { role: 'status' } });
  private readonly graph: GraphCanvas;
  private readonly sessions: SessionsPanel;

  constructor(root: HTMLElement) {
    replace(
      root,
      this.toolbar.element,
      this.summaryBar,
      el('main', {}, this.graphArea, this.tabs.element),
      this.messages,
    );
    this.graphArea.append(this.legend, this.tooltip.element);
    this.graph = new GraphCanvas(this.graphArea, {
      select: (hit) => this.select(hit),
      hover: (hit, at) => this.tooltip.hover(hit, at),
    });
    keepLegendRoom(this.legend, this.graphArea, (pixels) => this.graph.setFitInsetLeft(pixels));
    this.sessions = new SessionsPanel({
      showWindow: (s) => this.showSessionWindow(s),
      compare: (a, b) => void this.compare(a, b),
      say: (m, kind) => this.say(m, kind),
    });
    this.tabs.panels.sessions.append(this.sessions.element);
    this.details.showHint();
    this.toolbar.showRange(this.data.range);
    replace(this.summaryBar, el('span', { class: 'muted' }, 'Mesh cost: waiting for data'));
    exposeIntrospection(
      this.graph,
      (id) => this.positions.get(id) ?? null,
      (hit) => this.select(hit),
    );
  }

  start(): void {
    followViewUrl((v) => this.applyView(v));
  }

  private currentView(): ViewState {
    const selection = this.details.selection;
    return {
      range: this.data.range,
      layout: this.layoutKind,
      widthBy: this.options.widthBy,
      colorBy: this.options.colorBy,
      namespace: [...(this.options.namespaces ?? [])][0] ?? '',
      search: this.options.search ?? '',
      selection,
      path: selection ? [] : [...(this.details.path ?? [])],
    };
  }

  private rememberView(how: 'push' | 'replace' = 'push'): void {
    rememberView(this.currentView(), how);
  }

  /** Shows a view as the URL describes it, without adding to the history. */
  private applyView(v: ViewState): void {
    this.details.restore(v.selection, !v.selection && v.path.length >= 2 ? v.path : null);
    const relayout = v.layout !== this.layoutKind;
    this.layoutKind = v.layout;
    this.options.widthBy = v.widthBy;
    this.options.colorBy = v.colorBy;
    this.options.namespaces = new Set(v.namespace ? [v.namespace] : []);
    this.options.search = v.search;
    this.toolbar.showChoices(v);
    if (relayout) this.positions = new Map();
    this.graph.setSelected(v.selection);
    if (JSON.stringify(v.range) !== JSON.stringify(this.data.range) || !this.started) {
      this.started = true;
      this.data.setRange(v.range);
    }
    this.redraw();
    if (relayout) this.graph.fit();
    if (this.details.path) {
      this.tabs.show('details');
      this.details.renderWaterfall();
    } else if (!v.selection) this.details.showHint();
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
      (podId) => podName(this.model, podId),
      (pods) => this.showWaterfall(pods),
    );
    renderLegend(
      this.legend,
      this.options.colorBy,
      this.options.widthBy,
      scene.links.map((l) => l.rate),
      scene.groups.some((g) => g.role !== 'app'),
    );
    // The chosen namespace, which may come from a URL before its pods do.
    this.toolbar.showNamespaces(
      this.model.namespaces(),
      [...(this.options.namespaces ?? [])][0] ?? '',
    );
    this.details.update();
  }

  private select(hit: Hit | null): void {
    this.graph.setSelected(hit);
    this.tabs.show('details');
    this.details.select(hit);
    this.rememberView();
  }

  /** Where a request's time goes along a path of pods, in the details tab; kept live. */
  private showWaterfall(pods: readonly string[]): void {
    this.graph.setSelected(null);
    this.tabs.show('details');
    this.details.showWaterfall(pods);
    this.rememberView();
  }

  private async showAgents(): Promise<void> {
    try {
      replace(this.tabs.panels.agents, agentsPanel(await api.agents()));
    } catch (error) {
      this.failed(error);
    }
  }

  private showSessionWindow(s: SessionSummary): void {
    const toMs = s.endMs ?? Date.now();
    this.data.setRange({ kind: 'session', id: s.id, name: s.name, fromMs: s.startMs, toMs });
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
      askToken(() => this.data.setRange(this.data.range));
      return;
    }
    this.say(error instanceof Error ? error.message : String(error), 'error');
  }

  say(message: string, kind: 'error' | 'info' = 'info'): void {
    const m = el('div', { class: `message ${kind}` }, message);
    this.messages.append(m);
    setTimeout(() => m.remove(), kind === 'error' ? 10_000 : 4000);
  }
}

takeTokenFromUrl();
const viewer = new Viewer(document.getElementById('app')!);
viewer.start();
