// The summary bar under the toolbar: what the mesh costs in the window shown, at a glance:
// how many pods each mode has (sidecar, ambient, ambient with a waypoint, counted apart),
// their proxies' CPU and memory against the apps', and the busiest path's added latency.
import { formatMs } from '../model/format.js';
import type { MeshSummary } from '../model/mesh-summary.js';
import { button, el, replace } from './dom.js';

export function renderSummaryBar(
  into: HTMLElement,
  s: MeshSummary,
  podName: (podId: string) => string,
  showWaterfall: (pods: readonly string[]) => void,
): void {
  if (s.sidecars === 0 && s.ambientPods === 0 && s.waypointPods === 0) {
    replace(into, el('span', { class: 'muted' }, 'No sidecars or node proxies in this window.'));
    return;
  }
  const pods = (n: number) => `${n} pod${n === 1 ? '' : 's'}`;
  const proxies = [
    s.sidecars > 0 && `${s.sidecars} sidecar${s.sidecars === 1 ? '' : 's'}`,
    s.ambientPods > 0 && `${pods(s.ambientPods)} ambient`,
    s.waypointPods > 0 && `${pods(s.waypointPods)} ambient+waypoint`,
  ]
    .filter(Boolean)
    .join(', ');
  const shared = s.ambientPods + s.waypointPods > 0 ? ' (shared proxies at the pods’ shares)' : '';
  const share = (part: number, whole: number) =>
    whole > 0 ? ` (${Math.round((100 * part) / whole)}% of the apps')` : '';
  const path = s.path;
  // A sum over no measured proxy is no figure, and over some of them is theirs alone.
  const figures =
    s.proxiesMeasured === 0
      ? 'CPU and memory not measured'
      : `CPU ${round(s.sidecarMillicores)} millicores${share(s.sidecarMillicores, s.appMillicores)}, memory ${round(s.sidecarRssMb)} MB${share(s.sidecarRssMb, s.appRssMb)}${s.proxiesMeasured < s.proxies ? ` (${s.proxiesMeasured} of ${s.proxies} pods' proxies measured)` : ''}`;
  const cost = `${proxies}${shared}: ${figures}`;
  const along =
    path &&
    `busiest path ${path.pods.map(podName).join(' → ')}: +${formatMs(path.addedMeanMs)} per request (mean, ${crossings(path)}; means add up along a path, quantiles do not)`;
  // One line: the button first, so a narrow window cuts text, never the control.
  replace(
    into,
    el('strong', {}, 'Mesh cost'),
    path && button('where the time goes', () => showWaterfall(path.pods)),
    el('span', { title: cost }, cost),
    along && el('span', { title: along }, along),
  );
}

/** How many proxy crossings the path's figure sums: sidecars', or a node proxy's too. */
function crossings(path: NonNullable<MeshSummary['path']>): string {
  const what = path.nodeProxy ? 'proxy crossings' : 'sidecar crossings';
  return path.crossingsKnown === path.crossings
    ? `${path.crossings} ${what}`
    : `${path.crossingsKnown} of ${path.crossings} ${what} measured`;
}

function round(v: number): string {
  return v >= 100 ? String(Math.round(v)) : v.toFixed(1);
}
