// Where the topology comes from for the range shown: the live WebSocket (a snapshot, then
// deltas), or the read route, fetched again every 10 s for the last N minutes and once
// for a session's window. It feeds the model and says when to draw; it draws nothing.
import type { LiveMessage } from '../model/api-types.js';
import type { GraphModel } from '../model/graph.js';
import {
  describeRange,
  rangeQuery,
  refreshEveryMs,
  type TimeRangeChoice,
} from '../model/time-range.js';
import { api, LiveSocket } from '../ui/api.js';

export interface DataSourceEvents {
  /** A range was chosen (the toolbar shows it). */
  rangeChosen(range: TimeRangeChoice): void;
  /** The connection's state or the range fetched, for the toolbar's status. */
  status(text: string, kind: string): void;
  /** The model changed: draw it again. */
  changed(): void;
  failed(error: unknown): void;
}

export class DataSource {
  private current: TimeRangeChoice = { kind: 'live' };
  private live: LiveSocket | undefined;
  private refreshTimer: number | undefined;

  constructor(
    private readonly model: GraphModel,
    private readonly events: DataSourceEvents,
  ) {}

  get range(): TimeRangeChoice {
    return this.current;
  }

  /** Shows a range: stops feeding the one before, then connects or fetches. */
  setRange(choice: TimeRangeChoice): void {
    this.current = choice;
    this.events.rangeChosen(choice);
    this.live?.close();
    this.live = undefined;
    window.clearTimeout(this.refreshTimer);
    if (choice.kind === 'live') {
      this.live = new LiveSocket(
        (m) => this.onLive(m),
        (s) => this.events.status(s === 'live' ? 'live' : s, s),
      );
      return;
    }
    void this.load();
  }

  private async load(): Promise<void> {
    const choice = this.current;
    try {
      const view = await api.topology(rangeQuery(choice));
      if (choice !== this.current) return; // the user chose another range meanwhile
      this.model.applySnapshot(view);
      this.events.status(describeRange(choice), 'fixed');
      this.events.changed();
    } catch (error) {
      this.events.failed(error);
    }
    const every = refreshEveryMs(choice);
    if (every !== null && choice === this.current)
      this.refreshTimer = window.setTimeout(() => void this.load(), every);
  }

  private onLive(m: LiveMessage): void {
    if (this.current.kind !== 'live') return;
    if (m.type === 'snapshot') this.model.applySnapshot(m);
    else this.model.applyDelta(m);
    this.events.changed();
  }
}
