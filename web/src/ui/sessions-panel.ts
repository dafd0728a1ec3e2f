// Profiling sessions: start one (name, target, duration), stop it, open its results,
// export and import files, and pick two to compare. Wired to /api/sessions.
import type { SessionFile, SessionSummary, StartSpec } from '../model/api-types.js';
import { type Coverage, coverageNote, coverageShort } from '../model/coverage.js';
import { formatMs, formatNumber, formatRate } from '../model/format.js';
import { edgeRows, podRows } from '../model/session-view.js';
import { api, download } from './api.js';
import { button, el, replace, table } from './dom.js';

export interface SessionActions {
  /** Show the session's window in the graph. */
  showWindow(s: SessionSummary): void;
  /** Open the compare view for two sessions. */
  compare(a: string, b: string): void;
  /** Report an error or a result to the user. */
  say(message: string, kind?: 'error' | 'info'): void;
}

export class SessionsPanel {
  readonly element = el('section', { class: 'panel sessions-panel' });
  private readonly list = el('div', { class: 'session-list' });
  private readonly detail = el('div', { class: 'session-detail' });
  private readonly chosen = new Set<string>();
  private sessions: SessionSummary[] = [];

  constructor(private readonly actions: SessionActions) {
    replace(
      this.element,
      el('h2', {}, 'Sessions'),
      this.startForm(),
      this.importForm(),
      this.list,
      this.detail,
    );
  }

  async refresh(): Promise<void> {
    try {
      this.sessions = await api.sessions();
    } catch (error) {
      this.actions.say(String((error as Error).message), 'error');
      return;
    }
    for (const id of [...this.chosen])
      if (!this.sessions.some((s) => s.id === id)) this.chosen.delete(id);
    this.renderList();
  }

  private startForm(): HTMLElement {
    const name = el('input', {
      attrs: { name: 'name', placeholder: 'name', required: '', maxlength: '200' },
    });
    const namespace = el('input', { attrs: { name: 'namespace', placeholder: 'namespace (all)' } });
    const selector = el('input', {
      attrs: { name: 'selector', placeholder: 'pod selector, e.g. app=web' },
    });
    const duration = el('input', {
      attrs: { name: 'duration', type: 'number', min: '1', placeholder: 'seconds (until stopped)' },
    });
    const form = el(
      'form',
      {
        class: 'start-session',
        on: {
          submit: (event) => {
            event.preventDefault();
            const spec: StartSpec = { name: name.value.trim() };
            const target: NonNullable<StartSpec['target']> = {};
            if (namespace.value.trim()) target.namespaces = [namespace.value.trim()];
            if (selector.value.trim()) target.podSelector = selector.value.trim();
            if (Object.keys(target).length > 0) spec.target = target;
            if (duration.value) spec.durationS = Number(duration.value);
            api
              .startSession(spec)
              .then((s) => {
                this.actions.say(`session ${s.name} started`);
                form.reset();
                return this.refresh();
              })
              .catch((error: Error) => this.actions.say(error.message, 'error'));
          },
        },
      },
      name,
      namespace,
      selector,
      duration,
      el('button', { attrs: { type: 'submit' } }, 'Start session'),
    );
    return form;
  }

  private importForm(): HTMLElement {
    const input = el('input', {
      attrs: { type: 'file', accept: '.json,.pb,application/json', name: 'import' },
    });
    input.addEventListener('change', () => {
      const file = input.files?.[0];
      if (!file) return;
      const format = file.name.endsWith('.pb') ? 'pb' : 'json';
      file
        .arrayBuffer()
        .then((bytes) => api.importSession(bytes, format))
        .then((s) => {
          this.actions.say(`imported session ${s.name}`);
          return this.refresh();
        })
        .catch((error: Error) => this.actions.say(`import refused: ${error.message}`, 'error'))
        .finally(() => {
          input.value = '';
        });
    });
    return el('label', { class: 'import' }, 'Import a session file ', input);
  }

  private renderList(): void {
    const compare = button('Compare selected', () => {
      // The earlier session is A (the baseline), so deltas read "what changed since".
      const [a, b] = this.sessions
        .filter((s) => this.chosen.has(s.id))
        .sort((x, y) => x.startMs - y.startMs);
      if (a && b) this.actions.compare(a.id, b.id);
    });
    compare.disabled = this.chosen.size !== 2;
    const rows = this.sessions.map((s) => {
      const pick = el('input', {
        attrs: { type: 'checkbox', 'aria-label': `choose ${s.name} to compare` },
      });
      pick.checked = this.chosen.has(s.id);
      pick.disabled = !(s.state === 'stopped' || s.state === 'imported');
      pick.addEventListener('change', () => {
        if (pick.checked) this.chosen.add(s.id);
        else this.chosen.delete(s.id);
        if (this.chosen.size > 2) this.chosen.delete([...this.chosen][0]!);
        this.renderList();
      });
      const done = s.state === 'stopped' || s.state === 'imported';
      const actions = el(
        'span',
        { class: 'actions' },
        s.state === 'running' &&
          button('Stop', () => this.act(api.stopSession(s.id), `stopped ${s.name}`)),
        done && button('Open', () => void this.open(s.id)),
        done && button('JSON', () => void this.export(s, 'json')),
        done && button('PB', () => void this.export(s, 'pb')),
        s.state !== 'running' &&
          s.state !== 'finishing' &&
          button('Delete', () => this.act(api.deleteSession(s.id), `deleted ${s.name}`)),
      );
      const ended = s.endMs ?? s.plannedEndMs;
      return [
        pick,
        s.name,
        s.state + (s.error ? `: ${s.error}` : ''),
        new Date(s.startMs).toLocaleString(),
        ended ? `${Math.round((ended - s.startMs) / 1000)} s` : '…',
        actions,
      ];
    });
    replace(
      this.list,
      this.sessions.length === 0
        ? el('p', { class: 'muted' }, 'No sessions yet.')
        : table(['', 'name', 'state', 'started', 'length', ''], rows, { class: 'grid sessions' }),
      compare,
    );
  }

  private act(work: Promise<unknown>, done: string): void {
    work
      .then(() => {
        this.actions.say(done);
        return this.refresh();
      })
      .catch((error: Error) => this.actions.say(error.message, 'error'));
  }

  private async export(s: SessionSummary, format: 'json' | 'pb'): Promise<void> {
    try {
      const blob = await api.exportSession(s.id, format);
      const safe = s.name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80) || s.id;
      download(blob, `${safe}.tollgate.${format}`);
    } catch (error) {
      this.actions.say((error as Error).message, 'error');
    }
  }

  async open(id: string): Promise<void> {
    try {
      const s = await api.session(id);
      if (!s.result) {
        this.actions.say(`session ${s.name} has no results yet (${s.state})`, 'error');
        return;
      }
      replace(
        this.detail,
        sessionResult(s, s.result, () => this.actions.showWindow(s)),
      );
    } catch (error) {
      this.actions.say((error as Error).message, 'error');
    }
  }
}

/** A latency cell with the small print of what the figure covers (all of it on hover). */
function withCoverage(latency: string, coverage: Coverage): HTMLElement | string {
  if (coverage.coverage === null) return latency;
  return el(
    'span',
    { title: coverageNote(coverage) },
    latency,
    el('small', { class: 'coverage' }, coverageShort(coverage)),
  );
}

function sessionResult(s: SessionSummary, file: SessionFile, showWindow: () => void): HTMLElement {
  const l = file.latencies_ms;
  const mesh = file.mesh_config;
  return el(
    'div',
    { class: 'session-result', attrs: { 'data-session': s.id } },
    el('h3', {}, file.name),
    el(
      'p',
      { class: 'muted' },
      `${new Date(file.start_unix_ms).toLocaleString()} · ${Math.round((file.end_unix_ms - file.start_unix_ms) / 1000)} s · mesh ${mesh.mesh || 'unknown'}${mesh.version ? ` ${mesh.version}` : ''} · latency from ${file.tollgate.latency_source || '–'}`,
    ),
    table(
      ['p50', 'p90', 'p99', 'mean', 'max', 'rate'],
      [
        [
          formatMs(l.p50),
          formatMs(l.p90),
          formatMs(l.p99),
          formatMs(l.average),
          formatMs(l.max),
          formatRate(file.actual_qps, ' req/s'),
        ],
      ],
    ),
    button('Show this window in the graph', showWindow),
    el('h4', {}, 'Pods'),
    // Eleven columns do not fit the side panel: they scroll sideways, words kept whole.
    el(
      'div',
      { class: 'scroll-x' },
      table(
        [
          'pod',
          'proxy',
          'requests',
          'inbound added p50',
          'p99',
          'outbound added p50',
          'p99',
          'sidecar CPU/1k',
          'sidecar MB',
          'app CPU/1k',
          'app MB',
        ],
        podRows(file).map((p) => [
          p.pod,
          p.proxy,
          formatNumber(p.requests),
          withCoverage(formatMs(p.inbound.p50Ms), p.inboundCoverage),
          formatMs(p.inbound.p99Ms),
          withCoverage(formatMs(p.outbound.p50Ms), p.outboundCoverage),
          formatMs(p.outbound.p99Ms),
          // Not measured: no figure, with why on hover, never a 0.
          p.proxyUnmeasured === null
            ? `${formatNumber(p.sidecarCpuMsPer1k)} ms`
            : el('span', { class: 'muted', title: p.proxyUnmeasured }, 'not measured'),
          formatNumber(p.sidecarMemMb),
          `${formatNumber(p.appCpuMsPer1k)} ms`,
          formatNumber(p.appMemMb),
        ]),
        { class: 'grid session-pods' },
      ),
    ),
    el('h4', {}, 'Edges'),
    table(
      ['client', 'server', 'port', 'requests', 'rate', 'retransmits', 'resets'],
      edgeRows(file).map((e) => [
        e.client,
        e.server,
        e.port,
        formatNumber(e.exchanges),
        formatRate(e.qps),
        formatNumber(e.retransmits),
        formatNumber(e.resets),
      ]),
      { class: 'grid session-edges' },
    ),
  );
}
