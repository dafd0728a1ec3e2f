// What a SessionTarget selects, defined once for both sides of the wire: the collector
// filters a session's results with it and the agents narrow their kernel filter with it,
// so the two can never disagree about which pods a session covers. Pure.
//
// Pod selectors use the Kubernetes label selector syntax: requirements separated by
// commas, each `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)` or
// `key notin (a,b)`; a pod matches when it meets them all.
import type { SessionTarget } from './gen/tollgate/v1.js';

export class SelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectorError';
  }
}

type Requirement =
  | { key: string; op: 'exists' | 'absent' }
  | { key: string; op: 'in' | 'notin'; values: string[] };

export type LabelSelector = readonly Requirement[];

// A qualified name with an optional DNS prefix, as Kubernetes allows for label keys.
const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const MAX_SELECTOR_LENGTH = 4096;

function checkKey(key: string, selector: string): string {
  if (!KEY.test(key)) throw new SelectorError(`bad label key '${key}' in selector '${selector}'`);
  return key;
}

function checkValue(value: string, selector: string): string {
  if (!VALUE.test(value))
    throw new SelectorError(`bad label value '${value}' in selector '${selector}'`);
  return value;
}

/** Splits on commas outside parentheses. */
function requirementsOf(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (depth < 0 || depth > 1) throw new SelectorError(`unbalanced parentheses in '${selector}'`);
    if (ch === ',' && depth === 0) {
      parts.push(current.trim());
      current = '';
    } else current += ch;
  }
  if (depth !== 0) throw new SelectorError(`unbalanced parentheses in '${selector}'`);
  parts.push(current.trim());
  return parts;
}

export function parseSelector(selector: string): LabelSelector {
  if (selector.length > MAX_SELECTOR_LENGTH)
    throw new SelectorError(`selector longer than ${MAX_SELECTOR_LENGTH} characters`);
  if (selector.trim() === '') return [];
  return requirementsOf(selector).map((part): Requirement => {
    if (part === '') throw new SelectorError(`empty requirement in '${selector}'`);
    const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part);
    if (set) {
      const values = set[3]!.split(',').map((v) => checkValue(v.trim(), selector));
      return { key: checkKey(set[1]!, selector), op: set[2] as 'in' | 'notin', values };
    }
    const equality = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    if (equality) {
      const key = checkKey(equality[1]!, selector);
      const values = [checkValue(equality[3]!, selector)];
      return { key, op: equality[2] === '!=' ? 'notin' : 'in', values };
    }
    if (part.startsWith('!'))
      return { key: checkKey(part.slice(1).trim(), selector), op: 'absent' };
    return { key: checkKey(part, selector), op: 'exists' };
  });
}

export function selectorMatches(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>>,
): boolean {
  return selector.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    if (!('values' in r)) return r.op === 'exists' ? has : !has;
    const listed = has && r.values.includes(labels[r.key]!);
    return r.op === 'in' ? listed : !listed;
  });
}

/** A pod as a target sees it. */
export interface TargetPod {
  namespace: string;
  name: string;
  labels: Readonly<Record<string, string>>;
}

export type TargetSelection = Pick<SessionTarget, 'all' | 'namespaces' | 'podSelector' | 'pods'>;

export interface CompiledTarget {
  /** Everything is selected: no kernel filter needed. */
  readonly everything: boolean;
  matches(pod: TargetPod): boolean;
}

/** Checks a selection (throws SelectorError with the reason) and makes its matcher. */
export function compileTarget(target: TargetSelection | undefined): CompiledTarget {
  const namespaces = target?.namespaces ?? [];
  const pods = target?.pods ?? [];
  const selector = parseSelector(target?.podSelector ?? '');
  for (const pod of pods) {
    if (!/^[^/\s]+\/[^/\s]+$/.test(pod))
      throw new SelectorError(`a pod is named 'namespace/name', got '${pod}'`);
  }
  const everything =
    !target ||
    target.all ||
    (namespaces.length === 0 && pods.length === 0 && selector.length === 0);
  return {
    everything,
    matches: (pod) =>
      everything ||
      ((namespaces.length === 0 || namespaces.includes(pod.namespace)) &&
        (pods.length === 0 || pods.includes(`${pod.namespace}/${pod.name}`)) &&
        selectorMatches(selector, pod.labels)),
  };
}

/** The union of several selections (several sessions at once): a pod any of them takes. */
export function unionOfTargets(targets: readonly CompiledTarget[]): CompiledTarget {
  const everything = targets.length === 0 || targets.some((t) => t.everything);
  return { everything, matches: (pod) => everything || targets.some((t) => t.matches(pod)) };
}
