// The Details tab: the selected pod, process, peer or edge, or the waterfall of a path of
// pods. It holds which of these is shown and renders it again with each update of the
// data; a pod's histograms and an edge's detail are fetched from the collector, at most
// every 5 s. Marking the selection on the graph and keeping it in the URL are the app's.

import { formatMs, formatRate } from '../model/format.js';
import type { Hit } from '../model/geometry.js';
import type { GraphModel, SceneLink } from '../model/graph.js';
import { pathThrough } from '../model/mesh-summary.js';
import { nodeName, podName } from '../model/names.js';
import { choosePathStep, pathOptions } from '../model/path-choice.js';
import { sharedProxies } from '../model/shared-proxies.js';
import { rangeQuery, type TimeRangeChoice } from '../model/time-range.js';
import { waterfall } from '../model/waterfall.js';
import { ApiError, api } from '../ui/api.js';
import { histogramChart } from '../ui/charts.js';
import { button, el, replace } from '../ui/dom.js';
import { edgePanel } from '../ui/edge-panel.js';
import { pathEditor } from '../ui/path-editor.js';
import { nodePanel, podPanel, type SharedContext } from '../ui/pod-panel.js';
import { waterfallPanel } from '../ui/waterfall-panel.js';

export interface DetailsContext {
  readonly model: GraphModel;
  /** The edges as drawn: a merged one carries its members. */
  drawnLinks(): readonly SceneLink[];
  /** The range shown, which the fetched histograms cover. */
  range(): TimeRangeChoice;
  /** Opens something else's detail (a merged edge's member). */
  select(hit: Hit): void;
  /** Opens a path's waterfall. */
  showWaterfall(pods: readonly string[]): void;
  failed(error: unknown): void;
}

export class Details {
  private shownSelection: Hit | null = null;
  /** The path whose waterfall the details tab shows, redrawn with the data; null: none. */
  private waterfallPods: readonly string[] | null = null;
  /** The waterfall's path choices as last drawn, and what they were drawn from. */
  private pathEditor: { key: string; element: HTMLElement } | null = null;
  /** The selected pod's added latency histograms (refresh). */
  private readonly podHistograms = el('div', { class: 'charts pod-histograms' });
  private detailFetchedMs = 0;

  constructor(
    /** The details tab's panel, which this fills. */
    private readonly panel: HTMLElement,
    private readonly context: DetailsContext,
  ) {}

  get selection(): Hit | null {
    return this.shownSelection;
  }

  get path(): readonly string[] | null {
    return this.waterfallPods;
  }

  /** What a view from the URL shows; rendered by the next update. */
  restore(selection: Hit | null, path: readonly string[] | null): void {
    this.waterfallPods = path;
    this.shownSelection = selection;
  }

  /** Nothing chosen: the hint. */
  showHint(): void {
    replace(
      this.panel,
      el('p', { class: 'muted' }, 'Click a pod, process or edge for its detail.'),
    );
  }

  /** Shows a node's or edge's detail, fetched now. */
  select(hit: Hit | null): void {
    this.waterfallPods = null;
    if (hit?.id !== this.shownSelection?.id) replace(this.podHistograms);
    this.shownSelection = hit;
    this.detailFetchedMs = 0;
    this.refresh(true);
  }

  /** Where a request's time goes along a path of pods; kept live. */
  showWaterfall(pods: readonly string[]): void {
    if (this.shownSelection) replace(this.podHistograms);
    this.shownSelection = null;
    this.waterfallPods = pods;
    this.renderWaterfall();
  }

  /** Renders again what is shown, with the data as it is now. */
  update(): void {
    this.refresh();
    this.renderWaterfall();
  }

  /** Re-renders the detail of what is selected; an edge's is fetched at most every 5 s. */
  private refresh(force = false): void {
    const { model } = this.context;
    const hit = this.shownSelection;
    if (!hit) return;
    if (hit.kind === 'node') {
      const process = model.processes.get(hit.id);
      const pod = model.podOf(hit.id) ?? model.pods.get(hit.id);
      if (pod) {
        const processes = pod.processes
          .map((id) => model.processes.get(id))
          .filter((p) => p !== undefined);
        const shared = this.sharedContext(pod.id);
        const panel = podPanel(pod, model.costs.get(pod.id), processes, process?.id, shared);
        // A shared proxy is no step of a path: its pods' panels offer theirs.
        if (shared.role === 'app')
          panel.append(
            button('where the time goes through this pod', () =>
              this.context.showWaterfall(
                pathThrough(pod.id, model.edges.values(), model.processes, model.costs),
              ),
            ),
          );
        // A meshed pod's added latency distributions, fetched (at most every 5 s) and
        // kept across the panel's re-renders between fetches; a shared proxy's are in the
        // pods it serves.
        const meshed = shared.role === 'app' && Boolean(model.costs.get(pod.id)?.proxy);
        if (meshed) panel.append(this.podHistograms);
        replace(this.panel, panel);
        if (meshed && (force || Date.now() - this.detailFetchedMs >= 5000)) {
          this.detailFetchedMs = Date.now();
          const range = this.context.range();
          const query = range.kind === 'live' ? 'window=60' : rangeQuery(range);
          api
            .pod(pod.namespace, pod.name, query)
            .then((detail) => {
              if (this.shownSelection?.id !== hit.id) return;
              replace(
                this.podHistograms,
                el('h3', {}, 'Added latency per exchange'),
                histogramChart('inbound', detail.addedHistograms.inbound),
                histogramChart('outbound', detail.addedHistograms.outbound),
              );
            })
            .catch((error) => {
              if (!(error instanceof ApiError && error.status === 404)) this.context.failed(error);
            });
        }
      } else {
        const item = process ?? model.externals.get(hit.id);
        if (item) replace(this.panel, nodePanel(item));
      }
      return;
    }
    const merged = this.context.drawnLinks().find((l) => l.id === hit.id);
    if (merged?.members) {
      replace(this.panel, this.mergedPanel(merged, merged.members));
      return;
    }
    if (!force && Date.now() - this.detailFetchedMs < 5000) return;
    this.detailFetchedMs = Date.now();
    const edge = model.edges.get(hit.id);
    const range = this.context.range();
    const query = range.kind === 'live' ? 'window=60' : rangeQuery(range);
    api
      .edge(hit.id, query)
      .then((detail) => {
        if (this.shownSelection?.id !== hit.id) return;
        replace(
          this.panel,
          edgePanel(detail, {
            source: nodeName(model, detail.edge.source),
            target: nodeName(model, detail.edge.target),
          }),
        );
      })
      .catch((error) => {
        if (error instanceof ApiError && error.status === 404 && edge)
          replace(this.panel, el('p', { class: 'muted' }, 'This edge has no data in the range.'));
        else this.context.failed(error);
      });
  }

  /** A pod's place among the shared proxies, for its panel. */
  private sharedContext(podId: string): SharedContext {
    const { model } = this.context;
    const sp = sharedProxies({ pods: model.pods, processes: model.processes, costs: model.costs });
    const named = (pod: string) => ({ pod, name: podName(model, pod) });
    const servedBy = (kind: 'node-proxy' | 'waypoint') => {
      const s = sp.served.find((x) => x.pod === podId && x.kind === kind);
      return s ? named(s.proxyPod) : null;
    };
    return {
      role: sp.roles.get(podId) ?? 'app',
      serves: sp.served
        .filter((s) => s.proxyPod === podId)
        .map((s) => ({ ...named(s.pod), share: s.share })),
      nodeProxy: servedBy('node-proxy'),
      waypoint: servedBy('waypoint'),
      open: (pod) => this.context.select({ kind: 'node', id: pod }),
    };
  }

  /** The path's waterfall, when a path is shown. */
  renderWaterfall(): void {
    const { model } = this.context;
    // A shared proxy's pod is no step (one may come from an old link): left out.
    const roles = sharedProxies({
      pods: model.pods,
      processes: model.processes,
      costs: model.costs,
    }).roles;
    const pods = this.waterfallPods?.filter((pod) => !roles.has(pod));
    if (!pods) return;
    const name = (id: string) => podName(model, id);
    const w = waterfall({
      pods,
      edges: model.edges.values(),
      processes: model.processes,
      costs: model.costs,
    });
    // The path's choices are made again only when they change, so that a live update
    // does not close a list someone has open.
    const steps = pathOptions(pods, model.edges.values(), model.processes, model.costs);
    const key = JSON.stringify([pods, steps.map((s) => s.map((o) => o.pod))]);
    if (this.pathEditor?.key !== key)
      this.pathEditor = {
        key,
        element: pathEditor(pods, steps, name, (index, pod) =>
          this.context.showWaterfall(
            choosePathStep(pods, index, pod, model.edges.values(), model.processes, model.costs),
          ),
        ),
      };
    const throughShared = pods.length >= 2 && !directCall(pods[0]!, pods[1]!, model);
    const body = w
      ? waterfallPanel(w, name)
      : el(
          'p',
          { class: 'muted' },
          throughShared
            ? 'The first call of this path goes through a shared node proxy (ambient mode): the waterfall cannot split its time yet; each pod’s panel gives the node proxy’s added latency through it.'
            : 'The first call of this path has no timed exchanges yet.',
        );
    const details = this.panel;
    if (details.firstChild === this.pathEditor.element) {
      while (details.childNodes.length > 1) details.lastChild!.remove();
      details.append(body);
    } else details.replaceChildren(this.pathEditor.element, body);
  }

  /** Edges drawn as one between grouped processes: each with its rate and p50, to open. */
  private mergedPanel(link: SceneLink, ids: readonly string[]): HTMLElement {
    const { model } = this.context;
    const name = (id: string) => nodeName(model, id);
    const edges = ids
      .map((id) => model.edges.get(id))
      .filter((e) => e !== undefined)
      .sort((a, b) => b.requestsPerS - a.requestsPerS);
    // Members differ by their processes: each row names its ends with their pids.
    const end = (id: string) => {
      const p = model.processes.get(id);
      return p ? `${p.comm} (pid ${p.pid})` : name(id);
    };
    return el(
      'section',
      { class: 'panel' },
      el('h2', {}, `${name(link.source)} → ${name(link.target)}:${link.port}`),
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
          row.addEventListener('click', () => this.context.select({ kind: 'link', id: e.id }));
          return row;
        }),
      ),
    );
  }
}

/** An edge from a process of one pod straight to a process of the other. */
function directCall(from: string, to: string, model: GraphModel): boolean {
  for (const e of model.edges.values())
    if (model.processes.get(e.source)?.pod === from && model.processes.get(e.target)?.pod === to)
      return true;
  return false;
}
