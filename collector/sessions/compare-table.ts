// A comparison as a plain-text table for terminals: one block per session, pod and edge,
// one line per metric, significant differences marked. Pure.
import type { Comparison } from '../../proto/api.js';
import { meshModesNote } from '../../proto/mesh-mode.js';

const show = (v: number | null) => (v === null ? '-' : String(v));

function signed(v: number | null): string {
  if (v === null) return '-';
  return v > 0 ? `+${v}` : String(v);
}

function percent(v: number | null): string {
  return v === null ? '' : ` (${v > 0 ? '+' : ''}${(v * 100).toFixed(1)}%)`;
}

/** Control characters in observed names would move the cursor: shown escaped. */
export function printable(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    const control = code < 0x20 || (code >= 0x7f && code <= 0x9f);
    out += control ? `\\x${code.toString(16).padStart(2, '0')}` : ch;
  }
  return out;
}

export function comparisonTable(c: Comparison): string {
  const lines: string[] = [
    `A: ${printable(c.a.name)} (${c.a.id})`,
    `B: ${printable(c.b.name)} (${c.b.id})`,
    `${c.significant} difference(s) larger than the measurement error, marked *`,
  ];
  for (const item of c.items) {
    if (item.metrics.length === 0) continue;
    const matched =
      item.matchedBy === 'workload'
        ? ` (matched by workload: ${printable(item.a ?? '')} ~ ${printable(item.b ?? '')})`
        : item.matchedBy === null
          ? ` (only in ${item.a ? 'A' : 'B'})`
          : '';
    const modes = meshModesNote(item.meshModes);
    lines.push('', `${item.kind} ${printable(item.key)}${matched}${modes ? ` (${modes})` : ''}`);
    const rows = item.metrics.map((m) => [
      m.significant ? '*' : ' ',
      `${m.metric} [${m.unit}]`,
      show(m.a),
      show(m.b),
      `${signed(m.delta)}${percent(m.relative)}`,
      m.errorBound === null ? '' : `±${m.errorBound}`,
      // Notes name proxies: observed names.
      printable(m.note),
    ]);
    const header = [' ', 'metric', 'A', 'B', 'B - A', 'error', ''];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const row of [header, ...rows])
      lines.push(
        `  ${row
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join('  ')
          .trimEnd()}`,
      );
  }
  return `${lines.join('\n')}\n`;
}
