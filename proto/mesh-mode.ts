// A pod's mesh mode in two sessions, as the comparison's readers (the CLI's table, the
// viewer) say it: one mode, or the change from one to the other (a migration from sidecars
// to ambient). Pure, shared by the collector and the viewer.
import type { ComparedItem } from './api.js';

/** '' without modes; "mesh: ambient" when both sessions agree; "mesh: sidecar → ambient" else. */
export function meshModesNote(modes: ComparedItem['meshModes']): string {
  if (!modes) return '';
  const { a, b } = modes;
  if (a === b || a === null || b === null) return `mesh: ${a ?? b}`;
  return `mesh: ${a} → ${b}`;
}
