// What proto/edge-metrics.ts generates outside TypeScript: the kernel's struct of edge
// counters (a C header) and EdgeReport's counter fields (a marked block of report.proto).
// Pure: text in, text out; proto/generate.ts --write writes them before it generates the
// TypeScript from the .proto files.
import { fileURLToPath } from 'node:url';
import { EDGE_METRICS, type EdgeMetric } from './edge-metrics.js';

export const edgeStatsHeaderPath = fileURLToPath(
  new URL('../probes/src/edge_stats.h', import.meta.url),
);
export const reportProtoPath = fileURLToPath(
  new URL('./tollgate/v1/report.proto', import.meta.url),
);

const BEGIN = '  // BEGIN edge counters: generated from proto/edge-metrics.ts (npm run gen:proto).';
const END = '  // END edge counters.';

/** `text` in lines of at most `width` characters, each starting with `prefix`. */
function wrap(text: string, prefix: string, width = 92): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && prefix.length + line.length + 1 + word.length > width) {
      lines.push(prefix + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(prefix + line);
  return lines;
}

export function edgeStatsHeader(metrics: readonly EdgeMetric[] = EDGE_METRICS): string {
  const comment = (doc: string) => {
    const one = `\t/* ${doc} */`;
    return one.length + 7 <= 92 ? [one] : ['\t/*', ...wrap(doc, '\t * ', 85), '\t */'];
  };
  const fields = metrics.flatMap((m) => [...comment(m.doc), `\t__u64 ${m.name};`]);
  return `/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Generated from proto/edge-metrics.ts by \`npm run gen:proto\`: edit the table, not this.
 * The counters of one edge (struct tg_edge_key) in one interval, as the kernel keeps them.
 */
#ifndef TOLLGATE_EDGE_STATS_H
#define TOLLGATE_EDGE_STATS_H

struct tg_edge_stats {
${fields.join('\n')}
};

/* X(field) for each counter, in order: the runner prints their offsets (--layout). */
#define TG_EDGE_STATS_FIELDS(X) ${metrics.map((m) => `X(${m.name})`).join(' ')}

#endif /* TOLLGATE_EDGE_STATS_H */
`;
}

/** report.proto with its block of EdgeReport counters generated afresh. */
export function withEdgeCounters(
  proto: string,
  metrics: readonly EdgeMetric[] = EDGE_METRICS,
): string {
  const begin = proto.indexOf(BEGIN);
  const end = proto.indexOf(END);
  if (begin < 0 || end < begin)
    throw new Error('report.proto: the generated block of edge counters is missing');
  const fields = metrics
    .flatMap((m) => ('counter' in m.wire ? [{ m, field: m.wire.counter }] : []))
    .sort((a, b) => a.field - b.field)
    .flatMap(({ m, field }) => [...wrap(m.doc, '  // '), `  uint64 ${m.name} = ${field};`]);
  return `${proto.slice(0, begin)}${BEGIN}\n${fields.join('\n')}\n${proto.slice(end)}`;
}
