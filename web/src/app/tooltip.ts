// The tooltip over the graph: the name of what the pointer is on, and for an edge its
// rate and p50 (a merged edge's summed rate and rate-weighted p50).
import { formatMs, formatRate } from '../model/format.js';
import type { Hit } from '../model/geometry.js';
import type { GraphModel, SceneLink } from '../model/graph.js';
import { nodeName } from '../model/names.js';
import { el } from '../ui/dom.js';

export class Tooltip {
  readonly element = el('div', { class: 'tooltip', attrs: { hidden: '' } });

  constructor(
    private readonly model: GraphModel,
    /** The edges as drawn: a merged one carries its members. */
    private readonly drawnLinks: () => readonly SceneLink[],
  ) {}

  hover(hit: Hit | null, at: { x: number; y: number }): void {
    if (!hit) {
      this.element.hidden = true;
      return;
    }
    const name = (id: string) => nodeName(this.model, id);
    let text = name(hit.id);
    if (hit.kind === 'link') {
      const e = this.model.edges.get(hit.id);
      const merged = this.drawnLinks().find((l) => l.id === hit.id);
      if (merged?.members)
        text = `${name(merged.source)} → ${name(merged.target)}:${merged.port}\n${merged.members.length} edges · ${formatRate(
          merged.members.reduce((a, id) => a + (this.model.edges.get(id)?.requestsPerS ?? 0), 0),
          ' req/s',
        )} · p50 ≈ ${formatMs(merged.valueMs)} (weighted by rate)`;
      else if (e)
        text = `${name(e.source)} → ${name(e.target)}:${e.port}\n${formatRate(e.requestsPerS, ' req/s')} · ${e.multiplexed ? 'multiplexed' : `p50 ${formatMs(e.latencyMs)}`}`;
    }
    this.element.textContent = text;
    this.element.style.left = `${at.x + 12}px`;
    this.element.style.top = `${at.y + 12}px`;
    this.element.hidden = false;
  }
}
