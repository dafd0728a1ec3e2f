// The side panel's tabs (Details, Agents, Sessions): the tab list and one panel shown at
// a time. What fills a panel is the app's; a tab may ask to be filled when it is opened.
import { button, el } from '../ui/dom.js';

export type Tab = 'details' | 'agents' | 'sessions';

export class Tabs {
  readonly panels = {
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
  /** The aside: the tab list, then the panels. */
  readonly element: HTMLElement;
  private readonly buttons = new Map<Tab, HTMLButtonElement>();

  /** `opened`: what to do each time a tab is shown (fetch its content anew). */
  constructor(private readonly opened: Partial<Record<Tab, () => void>>) {
    const nav = el('nav', { attrs: { role: 'tablist' } });
    for (const [tab, label] of [
      ['details', 'Details'],
      ['agents', 'Agents'],
      ['sessions', 'Sessions'],
    ] as const) {
      const b = button(label, () => this.show(tab), { attrs: { role: 'tab', 'data-tab': tab } });
      this.buttons.set(tab, b);
      nav.append(b);
    }
    this.buttons.get('details')!.setAttribute('aria-selected', 'true');
    this.element = el(
      'aside',
      {},
      nav,
      this.panels.details,
      this.panels.agents,
      this.panels.sessions,
    );
  }

  show(tab: Tab): void {
    for (const [name, panel] of Object.entries(this.panels)) panel.hidden = name !== tab;
    for (const [name, b] of this.buttons) b.setAttribute('aria-selected', String(name === tab));
    this.opened[tab]?.();
  }
}
