import { readFileSync, writeFileSync } from 'node:fs';
import { comparisonTable, printable } from '../../collector/sessions/compare-table.js';
import type { Comparison, SessionSummary, StartSpec } from '../../proto/api.js';
import { ApiClient } from '../api-client.js';
import {
  type Command,
  expectPositionals,
  numberOption,
  requireOneOf,
  stringOption,
  UsageError,
} from '../command.js';
import { readToken } from '../credentials.js';

const actions = ['start', 'stop', 'list', 'show', 'export', 'import', 'compare', 'delete'] as const;
const arity: Record<(typeof actions)[number], [number, string]> = {
  start: [0, 'no arguments'],
  stop: [1, 'a session ID'],
  list: [0, 'no arguments'],
  show: [1, 'a session ID'],
  export: [1, 'a session ID'],
  import: [1, 'a FILE'],
  compare: [2, 'two session IDs'],
  delete: [1, 'a session ID'],
};

const list = (args: Parameters<Command['run']>[0], name: string) =>
  (args.values[name] as string[] | undefined) ?? [];

/** The start request from the command line. */
function startSpec(args: Parameters<Command['run']>[0]): StartSpec {
  const name = stringOption(args, 'name');
  if (name === undefined) throw new UsageError('session start needs --name NAME');
  const labels: Record<string, string> = {};
  for (const label of list(args, 'label')) {
    const at = label.indexOf('=');
    if (at <= 0) throw new UsageError(`--label must be K=V, got '${label}'`);
    labels[label.slice(0, at)] = label.slice(at + 1);
  }
  const spec: StartSpec = {
    name,
    labels,
    target: {
      namespaces: list(args, 'namespace'),
      pods: list(args, 'pod'),
      podSelector: stringOption(args, 'selector') ?? '',
    },
  };
  if (stringOption(args, 'duration') !== undefined)
    spec.durationS = numberOption(args, 'duration', 0);
  const mesh = stringOption(args, 'mesh');
  const meshVersion = stringOption(args, 'mesh-version');
  const concurrency = stringOption(args, 'concurrency');
  if (mesh || meshVersion || concurrency || args.values.mtls) {
    spec.mesh = {
      ...(mesh ? { mesh } : {}),
      ...(meshVersion ? { version: meshVersion } : {}),
      ...(concurrency ? { proxyConcurrency: numberOption(args, 'concurrency', 0) } : {}),
      ...(args.values.mtls ? { mtls: true } : {}),
    };
  }
  const urls = list(args, 'load-url');
  const rps = stringOption(args, 'rps');
  if (urls.length > 0 || rps !== undefined) {
    if (rps === undefined) throw new UsageError('a load needs --rps N');
    spec.load = {
      ...(urls.length > 0 ? { urls } : {}),
      ...(stringOption(args, 'generator') ? { generator: stringOption(args, 'generator') } : {}),
      rps: numberOption(args, 'rps', 0),
      connections: numberOption(args, 'connections', 8),
      durationS: numberOption(args, 'load-duration', 30),
    };
  }
  return spec;
}

function describe(s: SessionSummary): string {
  const end = s.endMs
    ? new Date(s.endMs).toISOString()
    : s.plannedEndMs
      ? `until ${new Date(s.plannedEndMs).toISOString()}`
      : '-';
  return `${s.id}  ${s.state.padEnd(9)}  ${new Date(s.startMs).toISOString()}  ${end}  ${printable(s.name)}${s.error ? `  (${printable(s.error)})` : ''}`;
}

export const session: Command = {
  name: 'session',
  usage: `Usage: tollgate session ACTION [arguments] [options]

Actions:
  start --name NAME [options]   begin recording; prints the session ID
  stop ID                       end it now and freeze its results
  list                          every session, newest first
  show ID                       a session and, once stopped, its results (JSON)
  export ID -o FILE             write FILE.tollgate.json (or a .pb file: the same as protobuf)
  import FILE                   validate a file and store it as a read-only session
  compare A B [--json]          per pod and edge: added latency, exchange latency, CPU,
                                memory; differences beyond the measurement error marked *
  delete ID                     forget a stopped or imported session

Start options:
  --label K=V ...               labels (repeatable)
  --namespace NS ...            target pods in these namespaces (repeatable)
  --pod NS/NAME ...             target these pods (repeatable)
  --selector SEL                target pods matching a label selector (app=web,tier in (a,b))
                                Without a target, everything is recorded. With one, the
                                agents trace only the targeted pods while it runs.
  --duration S                  stop by itself after S seconds
  --mesh NAME --mesh-version V --concurrency N --mtls
                                the mesh, where detection cannot tell (detected: the mesh
                                from sidecar names, the concurrency from Envoy's arguments)
  --load-url URL ... --rps N [--connections N] [--load-duration S]
                                run a constant-rate load from the agents, split evenly
                                over them; their client-side histograms join the session,
                                which ends with the load unless --duration says otherwise
  --generator NAME --rps N ...  describe a load run by something else (no --load-url)

Options:
  --server URL      the collector's HTTP API (default http://127.0.0.1:7470)
  --token-file FILE the API's token: read lists, shows, exports and compares;
                    admin also starts, stops, deletes and imports
  --json            machine-readable output
  -h, --help        this text`,
  options: {
    name: { type: 'string' },
    label: { type: 'string', multiple: true },
    namespace: { type: 'string', multiple: true },
    pod: { type: 'string', multiple: true },
    selector: { type: 'string' },
    duration: { type: 'string' },
    mesh: { type: 'string' },
    'mesh-version': { type: 'string' },
    concurrency: { type: 'string' },
    mtls: { type: 'boolean' },
    'load-url': { type: 'string', multiple: true },
    rps: { type: 'string' },
    connections: { type: 'string' },
    'load-duration': { type: 'string' },
    generator: { type: 'string' },
    output: { type: 'string', short: 'o' },
    json: { type: 'boolean' },
    server: { type: 'string' },
    'token-file': { type: 'string' },
  },
  async run(args) {
    const [actionName, ...rest] = args.positionals;
    if (actionName === undefined) throw new UsageError('an ACTION is required');
    const action = requireOneOf(actionName, actions, 'ACTION');
    const [count, names] = arity[action];
    expectPositionals({ ...args, positionals: rest }, count, names);
    const output = stringOption(args, 'output');
    if (action === 'export' && output === undefined)
      throw new UsageError('session export needs -o FILE');
    const spec = action === 'start' ? startSpec(args) : undefined;
    const api = new ApiClient(
      stringOption(args, 'server') ?? 'http://127.0.0.1:7470',
      readToken(stringOption(args, 'token-file')),
    );
    const id = encodeURIComponent(rest[0] ?? '');
    const json = args.values.json === true;
    const print = (value: unknown, text: string) =>
      console.log(json ? JSON.stringify(value, null, 2) : text);
    switch (action) {
      case 'start': {
        const started = await api.json<SessionSummary>('POST', '/api/sessions', spec);
        print(started, started.id);
        break;
      }
      case 'stop': {
        const stopped = await api.json<SessionSummary>('POST', `/api/sessions/${id}/stop`);
        print(stopped, describe(stopped));
        break;
      }
      case 'list': {
        const all = await api.json<SessionSummary[]>('GET', '/api/sessions');
        print(all, all.map(describe).join('\n') || 'no sessions');
        break;
      }
      case 'show':
        console.log(JSON.stringify(await api.json('GET', `/api/sessions/${id}`), null, 2));
        break;
      case 'export': {
        const format = output!.endsWith('.pb') ? 'pb' : 'json';
        const response = await api.request('GET', `/api/sessions/${id}/export?format=${format}`);
        const bytes = new Uint8Array(await response.arrayBuffer());
        writeFileSync(output!, bytes);
        print(
          { file: output, bytes: bytes.length, format },
          `wrote ${output} (${bytes.length} bytes, ${format})`,
        );
        break;
      }
      case 'import': {
        const file = rest[0]!;
        const format = file.endsWith('.pb') ? 'pb' : 'json';
        const response = await api.request('POST', `/api/sessions/import?format=${format}`, {
          bytes: readFileSync(file),
        });
        const summary = (await response.json()) as SessionSummary;
        print(summary, describe(summary));
        break;
      }
      case 'compare': {
        const [a, b] = rest.map(encodeURIComponent);
        const comparison = await api.json<Comparison>('GET', `/api/sessions/compare?a=${a}&b=${b}`);
        if (json) console.log(JSON.stringify(comparison, null, 2));
        else process.stdout.write(comparisonTable(comparison));
        break;
      }
      case 'delete':
        await api.json('DELETE', `/api/sessions/${id}`);
        print({ deleted: rest[0] }, `deleted ${rest[0]}`);
        break;
    }
    return 0;
  },
};
