// The `tollgate` command's surface: help, argument errors and exit codes are real even
// where a subcommand's work has not landed yet.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { mapSizes } from '../../cli/commands/agent.js';
import { commands } from '../../cli/main.js';

const repo = new URL('../..', import.meta.url).pathname;
const subcommands = ['up', 'demo', 'agent', 'collector', 'session', 'bench', 'manifests'];

/** Runs the CLI from source, so the test never sees a stale build. */
function tollgate(...args: string[]) {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(repo, 'cli/tollgate.ts'), ...args],
    {
      encoding: 'utf8',
    },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('--help lists every subcommand and exits 0', () => {
  const r = tollgate('--help');
  assert.equal(r.code, 0);
  for (const name of subcommands) assert.match(r.out, new RegExp(`^  ${name} `, 'm'));
  assert.deepEqual(
    commands.map((c) => c.name),
    subcommands,
  );
});

test('no command prints help and exits 2; an unknown command exits 2', () => {
  assert.equal(tollgate().code, 2);
  const r = tollgate('frobnicate');
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown command 'frobnicate'/);
});

test('every subcommand has its own --help', () => {
  for (const name of subcommands) {
    const r = tollgate(name, '--help');
    assert.equal(r.code, 0, name);
    assert.match(r.out, new RegExp(`^Usage: tollgate ${name}`), name);
  }
});

test('argument errors exit 2 and say what is wrong', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const oneToken = join(dir, 'token');
  writeFileSync(oneToken, 'same\n');
  const cases: [string[], RegExp][] = [
    [
      ['collector', '--read-token-file', oneToken, '--admin-token-file', oneToken],
      /each token file must hold its own token/,
    ],
    [['agent'], /--collector HOST:PORT is required/],
    [['agent', '--collector', 'nohost'], /must be HOST:PORT/],
    [['agent', '--collector', 'h:70000'], /port in 1-65535/],
    [['agent', '--collector', 'h:1', '--interval', '0'], /--interval must be a positive number/],
    [
      ['agent', '--collector', 'h:1', '--map-sizes', 'socks=10'],
      /--map-sizes takes NAME=N items, NAME one of sockets, edges, histograms, tuples, handoffs; got 'socks=10'/,
    ],
    [
      ['agent', '--collector', 'h:1', '--map-sizes', 'edges=0'],
      /--map-sizes: edges must be a whole number from 1 to 16777216, got '0'/,
    ],
    [['agent', '--collector', 'h:1', '--map-sizes', 'tuples=1e3'], /tuples must be a whole number/],
    [
      ['agent', '--collector', 'h:1', '--map-sizes', 'sockets=99999999'],
      /sockets must be a whole number from 1 to 16777216, got '99999999'/,
    ],
    [
      ['agent', '--collector', 'h:1', '--map-sizes', 'handoffs=8,handoffs=9'],
      /names handoffs twice/,
    ],
    [['collector', '--http-listen', 'x'], /must be HOST:PORT/],
    [['collector', '--tls-cert', 'a'], /--tls-cert and --tls-key go together/],
    // Beyond loopback, each side needs its credentials; one file cannot serve two powers.
    [
      ['collector', '--grpc-listen', '0.0.0.0:0'],
      /reachable from other hosts: give --ingest-token-file/,
    ],
    [
      ['collector', '--http-listen', '[::]:0', '--ingest-token-file', '/dev/null'],
      /--ingest-token-file \/dev\/null is empty/,
    ],
    [
      ['collector', '--http-listen', '0.0.0.0:0'],
      /reachable from other hosts: give --read-token-file and --admin-token-file/,
    ],
    [
      ['collector', '--read-token-file', 'package.json'],
      /--read-token-file package.json holds more than one word/,
    ],
    [['collector', '--load-targets', '10.0.0.0/33'], /--load-targets: load target '10.0.0.0\/33'/],
    [['collector', '--load-budget', 'lots'], /--load-budget must be a number/],
    [['up', '--bogus'], /Unknown option '--bogus'/],
    [['demo', '--duration'], /argument missing/],
    [['demo', '--mode', 'mesh'], /--mode must be one of sidecar, ambient, compare, got 'mesh'/],
    [['bench'], /exactly one benchmark NAME/],
    [['bench', 'speed'], /NAME must be one of/],
    [
      ['bench', 'accuracy', '--conditions', 'tcp_low,tcp_high'],
      /--conditions must be one of tcp_low, /,
    ],
    [['bench', 'accuracy', '--rounds', '1'], /--rounds must be a whole number from 2 to 100/],
    [
      ['bench', 'probes', '--rounds', '3'],
      /--conditions, --rounds and --rate are for bench accuracy/,
    ],
    [
      ['bench', 'overhead', '--rate', '2000'],
      /--conditions, --rounds and --rate are for bench accuracy/,
    ],
    [['bench', 'accuracy', '--rate', '1.5'], /--rate must be a whole number from 10 to 20000/],
    [['session'], /an ACTION is required/],
    [['session', 'compare', 'a'], /expected two session IDs/],
    [['session', 'export', 'a'], /needs -o FILE/],
    [['session', 'start', '--name', 'x', '--label', 'novalue'], /--label must be K=V/],
    [
      ['manifests', '--overlay', 'root'],
      /--overlay must be one of least-privilege, privileged, postgres, got 'root'/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = tollgate(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, message, args.join(' '));
  }
});

test('--version prints the package version', () => {
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };
  const r = tollgate('--version');
  assert.equal(r.code, 0);
  assert.equal(r.out.trim(), pkg.version);
});

test('installed as kubectl-tollgate it works as a kubectl plugin', (t) => {
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  assert.equal(pkg.bin.tollgate, 'bin/tollgate.js');
  assert.equal(pkg.bin['kubectl-tollgate'], 'bin/tollgate.js');
  // kubectl runs `kubectl-tollgate` found on PATH; the built shim must work under that name.
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  symlinkSync(join(repo, 'bin/tollgate.js'), join(dir, 'kubectl-tollgate'));
  const r = spawnSync(join(dir, 'kubectl-tollgate'), ['--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: tollgate COMMAND/);
});

test('--map-sizes: the named maps sized, the others left to the runner', () => {
  assert.deepEqual(mapSizes('sockets=4096, handoffs=77'), { sockets: 4096, handoffs: 77 });
  assert.deepEqual(mapSizes(`edges=${2 ** 24}`), { edges: 2 ** 24 });
  assert.equal(mapSizes(undefined), undefined);
  assert.throws(() => mapSizes(''), /NAME=N items/);
});
