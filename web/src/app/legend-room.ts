// Where the legend sits beside the graph: open where the graph has room for it, and kept
// clear of the marks by each fit. Apart from the legend's content (ui/legend.ts), which
// says what the colours and widths mean.

/**
 * The legend is open where the graph has room beside it, until the person folds or
 * opens it; while open, a fit keeps its column clear, so it covers no mark.
 */
export function keepLegendRoom(
  legend: HTMLDetailsElement,
  graphArea: HTMLElement,
  setFitInsetLeft: (pixels: number) => void,
): void {
  let legendChosen = false;
  legend.addEventListener('click', (event) => {
    if (event.target instanceof Element && event.target.closest('summary')) legendChosen = true;
  });
  new ResizeObserver(() => {
    if (legendChosen) return;
    const area = graphArea.getBoundingClientRect();
    legend.open = area.width >= 900 && area.height >= 600;
  }).observe(graphArea);
  const keepClear = () => setFitInsetLeft(legend.open ? legend.offsetWidth + 16 : 0);
  legend.addEventListener('toggle', keepClear);
  new ResizeObserver(keepClear).observe(legend);
}
