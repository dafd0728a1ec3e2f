import {
  type Command,
  expectPositionals,
  NotImplementedError,
  requireOneOf,
  UsageError,
} from '../command.js';

const actions = ['start', 'stop', 'list', 'show', 'export', 'import', 'compare'] as const;
const arity: Record<(typeof actions)[number], [number, string]> = {
  start: [0, 'no arguments'],
  stop: [1, 'a session ID'],
  list: [0, 'no arguments'],
  show: [1, 'a session ID'],
  export: [1, 'a session ID'],
  import: [1, 'a FILE'],
  compare: [2, 'two session IDs'],
};

export const session: Command = {
  name: 'session',
  summary: 'record, export, import and compare profiling sessions',
  usage: `Usage: tollgate session ACTION [arguments] [options]

Actions:
  start --name NAME [--label K=V]... [--namespace NS] [--duration S]
  stop ID
  list
  show ID
  export ID -o FILE        write a .tollgate.json (or .pb) file, SMPS-aligned
  import FILE              validate and store a file as a read-only session
  compare A B [--json]     side by side: added latency, exchange latency, CPU, memory

Options:
  --server URL      the collector's HTTP API (default http://127.0.0.1:7470)
  -h, --help        this text`,
  options: {
    name: { type: 'string' },
    label: { type: 'string', multiple: true },
    namespace: { type: 'string', multiple: true },
    duration: { type: 'string' },
    output: { type: 'string', short: 'o' },
    json: { type: 'boolean' },
    server: { type: 'string' },
  },
  async run(args) {
    const [actionName, ...rest] = args.positionals;
    if (actionName === undefined) throw new UsageError('an ACTION is required');
    const action = requireOneOf(actionName, actions, 'ACTION');
    const [count, names] = arity[action];
    expectPositionals({ ...args, positionals: rest }, count, names);
    if (action === 'start' && args.values.name === undefined) {
      throw new UsageError('session start needs --name NAME');
    }
    if (action === 'export' && args.values.output === undefined) {
      throw new UsageError('session export needs -o FILE');
    }
    for (const label of (args.values.label as string[] | undefined) ?? []) {
      if (!/^[^=]+=/.test(label)) throw new UsageError(`--label must be K=V, got '${label}'`);
    }
    throw new NotImplementedError(8, action);
  },
};
