// The only way the viewer makes DOM: elements with text children. Strings always become
// text nodes (never markup), so a process named `<img onerror=...>` shows as those
// characters. There is no innerHTML anywhere in the viewer.

type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  title?: string;
  attrs?: Record<string, string>;
  on?: { [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.title) node.title = props.title;
  for (const [name, value] of Object.entries(props.attrs ?? {})) node.setAttribute(name, value);
  for (const [type, handler] of Object.entries(props.on ?? {}))
    node.addEventListener(type, handler as EventListener);
  append(node, ...children);
  return node;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(
      typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c,
    );
  }
}

/** Replaces a container's content. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** A table of text cells; `rowClass` marks rows (e.g. significant differences). */
export function table(
  headers: readonly string[],
  rows: readonly (readonly Child[])[],
  options: { class?: string; rowClass?: (index: number) => string | undefined } = {},
): HTMLTableElement {
  return el(
    'table',
    { class: options.class ?? 'grid' },
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', {}, h)))),
    el(
      'tbody',
      {},
      ...rows.map((cells, i) => {
        const cls = options.rowClass?.(i);
        return el('tr', cls ? { class: cls } : {}, ...cells.map((c) => el('td', {}, c)));
      }),
    ),
  );
}

export function button(label: string, onClick: () => void, props: Props = {}): HTMLButtonElement {
  return el(
    'button',
    { ...props, attrs: { type: 'button', ...props.attrs }, on: { click: onClick } },
    label,
  );
}
