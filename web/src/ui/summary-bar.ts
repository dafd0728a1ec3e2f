// The summary bar under the toolbar: what the mesh costs in the window shown, at a glance.
import { formatMs } from '../model/format.js';
import type { MeshSummary } from '../model/mesh-summary.js';
import { button, el, replace } from './dom.js';

export function renderSummaryBar(
  into: HTMLElement,
  s: MeshSummary,
  podName: (podId: string) => string,
  showWaterfall: (pods: readonly string[]) => void,
): void {
  if (s.sidecars === 0 && s.ambientPods === 0) {
    replace(into, el('span', { class: 'muted' }, 'No sidecars in this window.'));
    return;
  }
  const proxies = [
    s.sidecars > 0 && `${s.sidecars} sidecar${s.sidecars === 1 ? '' : 's'}`,
    s.ambientPods > 0 &&
      `${s.ambientPods} pod${s.ambientPods === 1 ? '' : 's'} through a node proxy (at their share)`,
  ]
    .filter(Boolean)
    .join(', ');
  const share = (part: number, whole: number) =>
    whole > 0 ? ` (${Math.round((100 * part) / whole)}% of the apps')` : '';
  const path = s.path;
  const cost = `${proxies}: CPU ${round(s.sidecarMillicores)} millicores${share(s.sidecarMillicores, s.appMillicores)}, memory ${round(s.sidecarRssMb)} MB${share(s.sidecarRssMb, s.appRssMb)}`;
  const along =
    path &&
    `busiest path ${path.pods.map(podName).join(' → ')}: +${formatMs(path.addedMeanMs)} per request (mean, ${path.crossingsKnown === path.crossings ? `${path.crossings} sidecar crossings` : `${path.crossingsKnown} of ${path.crossings} sidecar crossings measured`}; means add up along a path, quantiles do not)`;
  // One line: the button first, so a narrow window cuts text, never the control.
  replace(
    into,
    el('strong', {}, 'Mesh cost'),
    path && button('where the time goes', () => showWaterfall(path.pods)),
    el('span', { title: cost }, cost),
    along && el('span', { title: along }, along),
  );
}

function round(v: number): string {
  return v >= 100 ? String(Math.round(v)) : v.toFixed(1);
}
