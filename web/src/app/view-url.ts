// The view in the address bar: each choice is a history entry (typing in the search
// replaces the entry instead), and a URL's view is shown on load and on back and forward.
import { decodeViewState, encodeViewState, type ViewState } from '../model/view-state.js';

/** Puts the view in the URL: a new history entry, or (while typing) the same one. */
export function rememberView(view: ViewState, how: 'push' | 'replace' = 'push'): void {
  const encoded = encodeViewState(view);
  const url = location.pathname + location.search + (encoded ? `#${encoded}` : '');
  if (url === location.pathname + location.search + location.hash) return;
  if (how === 'push') history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

/**
 * Shows the URL's view (a shared link, or the page reloaded) now; back and forward step
 * through the views chosen since.
 */
export function followViewUrl(apply: (view: ViewState) => void): void {
  window.addEventListener('popstate', () => apply(decodeViewState(location.hash)));
  apply(decodeViewState(location.hash));
}
