// The shipped Grafana dashboard as the tests read it: its panels' and variables' PromQL,
// and the metric names an expression reads, found by a small tokenizer rather than a
// PromQL parser (what Prometheus itself makes of each expression is tested against the
// real server in test/collector/prometheus-quantile.test.ts). Pure.
import { join } from 'node:path';

export const DASHBOARD_FILE = join(
  new URL('../..', import.meta.url).pathname,
  'daemonset/grafana/tollgate-dashboard.json',
);

export interface GrafanaTarget {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}

export interface GrafanaPanel {
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: GrafanaTarget[];
  panels?: GrafanaPanel[];
}

export interface GrafanaDashboard {
  title?: string;
  uid?: string;
  panels?: GrafanaPanel[];
  templating?: {
    list?: { name?: string; type?: string; query?: string | { query?: string } }[];
  };
}

/** Every PromQL expression: each panel target's, and each query variable's. */
export function dashboardQueries(d: GrafanaDashboard): { panel: string; expr: string }[] {
  const out: { panel: string; expr: string }[] = [];
  const visit = (panels: readonly GrafanaPanel[]) => {
    for (const p of panels) {
      for (const target of p.targets ?? [])
        if (target.expr !== undefined) out.push({ panel: p.title ?? '', expr: target.expr });
      visit(p.panels ?? []);
    }
  };
  visit(d.panels ?? []);
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    // label_values(metric, label) is Grafana's, not PromQL: its metric is what it reads.
    const labelValues = q?.match(/^label_values\(\s*([^,]+),\s*\w+\s*\)$/);
    if (q !== undefined) out.push({ panel: `$${v.name}`, expr: labelValues ? labelValues[1]! : q });
  }
  return out;
}

/** PromQL's functions and aggregations: an identifier before `(` must be one of these. */
const FUNCTIONS = new Set([
  'abs',
  'absent',
  'absent_over_time',
  'avg',
  'avg_over_time',
  'bottomk',
  'ceil',
  'changes',
  'clamp',
  'clamp_max',
  'clamp_min',
  'count',
  'count_over_time',
  'count_values',
  'day_of_month',
  'day_of_week',
  'deriv',
  'delta',
  'exp',
  'floor',
  'group',
  'histogram_quantile',
  'holt_winters',
  'hour',
  'idelta',
  'increase',
  'irate',
  'label_join',
  'label_replace',
  'last_over_time',
  'ln',
  'log10',
  'log2',
  'max',
  'max_over_time',
  'min',
  'min_over_time',
  'minute',
  'month',
  'predict_linear',
  'quantile',
  'quantile_over_time',
  'rate',
  'resets',
  'round',
  'scalar',
  'sgn',
  'sort',
  'sort_desc',
  'sqrt',
  'stddev',
  'stddev_over_time',
  'stdvar',
  'stdvar_over_time',
  'sum',
  'sum_over_time',
  'time',
  'timestamp',
  'topk',
  'vector',
  'year',
]);
/** Keywords: operators, and the modifiers whose parenthesised list holds label names. */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
]);
const LABEL_LISTS = /\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g;

/**
 * The metric names `expr` reads. Strings, label matchers, ranges and the label lists of
 * by/without/on/ignoring/group_* are removed first; then an identifier before `(` must be
 * a function (else it is thrown as unknown), and any other that is no keyword or number
 * is a metric name.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\[[^\]]*\]/g, '[]')
    .replace(LABEL_LISTS, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    const before = stripped[m.index - 1];
    // Part of a number (1e3) or of a variable ($namespace) is no name.
    if (before !== undefined && /[0-9.$]/.test(before)) continue;
    const next = stripped.slice(m.index + word.length).trimStart()[0];
    if (next === '(') {
      if (!FUNCTIONS.has(word)) throw new Error(`unknown function ${word} in ${expr}`);
      continue;
    }
    if (KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}
