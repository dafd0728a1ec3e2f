// The waterfall's path, step by step, as a row of choices: each step lists what the pod
// before it calls (the first, every pod that calls another), and a last choice goes on
// past the end. A choice hands back the step and the pod (null: end the path there).
import type { StepOption } from '../model/path-choice.js';
import { el } from './dom.js';

export function pathEditor(
  path: readonly string[],
  steps: readonly StepOption[][],
  podName: (id: string) => string,
  choose: (index: number, pod: string | null) => void,
): HTMLElement {
  const END = '';
  const step = (index: number) => {
    const options = steps[index] ?? [];
    const current = path[index];
    const select = el(
      'select',
      {
        attrs: {
          name: `path-step-${index}`,
          'aria-label':
            index === 0
              ? 'the path starts at'
              : `step ${index + 1} of the path, after the pod before`,
        },
      },
      // Past the second pod a step can end the path; after its last, "end" is the choice.
      ...(index >= 2
        ? [el('option', { attrs: { value: END } }, index < path.length ? 'end here' : 'end')]
        : []),
      ...options.map((o) => el('option', { attrs: { value: o.pod } }, podName(o.pod))),
    );
    select.value = current ?? END;
    select.addEventListener('change', () =>
      choose(index, select.value === END ? null : select.value),
    );
    return select;
  };
  const row = el('div', { class: 'path-editor' }, el('span', { class: 'muted' }, 'path'));
  for (let i = 0; i < path.length; i++) {
    if (i > 0) row.append(el('span', { class: 'muted' }, '→'));
    row.append(step(i));
  }
  if ((steps[path.length] ?? []).length > 0)
    row.append(el('span', { class: 'muted' }, '→'), step(path.length));
  return row;
}
