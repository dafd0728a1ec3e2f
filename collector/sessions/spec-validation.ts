// What a session may be started with: the limits a start spec must keep and the checks it
// must pass before anything is stored or any load ordered, and the error the session
// manager refuses a request with. Apart from the manager so the rules read in one place.
import type { StartSpec } from '../../proto/api.js';
import type { SessionTarget } from '../../proto/gen/tollgate/v1.js';
import { compileTarget, SelectorError } from '../../proto/target.js';
import type { LoadTargets } from './load-policy.js';

/** A request the manager refuses; `status` is the HTTP status that says why. */
export class SessionError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 409 | 413 | 503 = 400,
  ) {
    super(message);
    this.name = 'SessionError';
  }
}

export const SESSION_LIMITS = {
  nameLength: 200,
  labels: 64,
  labelLength: 256,
  maxDurationS: 7 * 86_400,
  maxLoadRps: 100_000,
  maxLoadConnections: 1_000,
  maxLoadDurationS: 3_600,
  urls: 16,
  /** Sessions running at once. */
  running: 16,
} as const;

export function fullTarget(target: StartSpec['target']): SessionTarget {
  return {
    all: false,
    namespaces: target?.namespaces ?? [],
    podSelector: target?.podSelector ?? '',
    pods: target?.pods ?? [],
  };
}

export function checkSpec(spec: StartSpec, targets: LoadTargets): void {
  const fail = (message: string) => {
    throw new SessionError(message);
  };
  if (typeof spec.name !== 'string' || spec.name.trim() === '') fail('a session needs a name');
  if (spec.name.length > SESSION_LIMITS.nameLength)
    fail(`name is longer than ${SESSION_LIMITS.nameLength} characters`);
  const labels = Object.entries(spec.labels ?? {});
  if (labels.length > SESSION_LIMITS.labels) fail(`more than ${SESSION_LIMITS.labels} labels`);
  for (const [k, v] of labels) {
    if (k === '' || k.length > SESSION_LIMITS.labelLength || v.length > SESSION_LIMITS.labelLength)
      fail(
        `label '${k.slice(0, 40)}' must have a key and be at most ${SESSION_LIMITS.labelLength} characters`,
      );
  }
  if (
    spec.durationS !== undefined &&
    !(spec.durationS > 0 && spec.durationS <= SESSION_LIMITS.maxDurationS)
  )
    fail(`duration must be within (0, ${SESSION_LIMITS.maxDurationS}] seconds`);
  try {
    compileTarget(fullTarget(spec.target));
  } catch (error) {
    if (error instanceof SelectorError) fail(`target: ${error.message}`);
    throw error;
  }
  const load = spec.load;
  if (!load) return;
  if (!(load.rps > 0 && load.rps <= SESSION_LIMITS.maxLoadRps))
    fail(`load rps must be within (0, ${SESSION_LIMITS.maxLoadRps}]`);
  if (
    !(
      Number.isInteger(load.connections) &&
      load.connections >= 1 &&
      load.connections <= SESSION_LIMITS.maxLoadConnections
    )
  )
    fail(`load connections must be within 1..${SESSION_LIMITS.maxLoadConnections}`);
  if (!(load.durationS > 0 && load.durationS <= SESSION_LIMITS.maxLoadDurationS))
    fail(`load duration must be within (0, ${SESSION_LIMITS.maxLoadDurationS}] seconds`);
  const urls = load.urls ?? [];
  if (urls.length > SESSION_LIMITS.urls) fail(`more than ${SESSION_LIMITS.urls} load urls`);
  for (const url of urls) {
    const why = targets.refusal(url);
    if (why) fail(why);
  }
}
