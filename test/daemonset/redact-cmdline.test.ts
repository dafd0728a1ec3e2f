// Credentials in command lines do not leave the node unless asked: the values of secret
// flags and variables and a URL's password are replaced, names and everything else kept.
// By hand on a table of command lines, then on a real process read from /proc.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { REDACTED, redactCmdline } from '../../daemonset/identity/redact-cmdline.js';
import { IdentityResolver } from '../../daemonset/identity/resolver.js';

const R = REDACTED;

test('secret values are replaced, names and everything else kept', () => {
  const cases: [string[], string[]][] = [
    [
      ['postgres', '-D', '/var/lib/pg', '--password=hunter2'],
      ['postgres', '-D', '/var/lib/pg', `--password=${R}`],
    ],
    [
      ['app', '--db-password', 'hunter2', '--port', '8080'],
      ['app', '--db-password', R, '--port', '8080'],
    ],
    [
      ['env', 'API_KEY=abc123', 'GITHUB_TOKEN=ghp_x', 'HOME=/root', 'app'],
      ['env', `API_KEY=${R}`, `GITHUB_TOKEN=${R}`, 'HOME=/root', 'app'],
    ],
    [
      ['aws', '--secret-access-key=AKIA', '-token', 't0k'],
      ['aws', `--secret-access-key=${R}`, '-token', R],
    ],
    [
      ['psql', 'postgres://admin:s3cr3t@db:5432/shop', '--url=https://u:p@x.io/a'],
      ['psql', `postgres://admin:${R}@db:5432/shop`, `--url=https://u:${R}@x.io/a`],
    ],
    // Where the secret is, not the secret: kept.
    [
      ['envoy', '--token-file', '/var/run/token', '--password-path=/etc/pw', '--tls-key', '/k.pem'],
      ['envoy', '--token-file', '/var/run/token', '--password-path=/etc/pw', '--tls-key', '/k.pem'],
    ],
    // Not credentials: kept as they are.
    [
      ['node', 'server.js', '--author=ann', '--no-auth', 'input.txt', 'http://host:8080/x'],
      ['node', 'server.js', '--author=ann', '--no-auth', 'input.txt', 'http://host:8080/x'],
    ],
    // A secret flag with no value at the end, or followed by another flag.
    [
      ['app', '--token', '--verbose'],
      ['app', '--token', '--verbose'],
    ],
    [
      ['app', '--password'],
      ['app', '--password'],
    ],
    // A value that starts with a dash is still the value.
    [
      ['app', '--password', '-dash-first'],
      ['app', '--password', R],
    ],
  ];
  for (const [input, want] of cases) assert.deepEqual(redactCmdline(input), want, input.join(' '));
});

test('a real process: its command line read from /proc comes out redacted, or whole when asked', async (t) => {
  const child = spawn(
    process.execPath,
    [
      '-e',
      'setInterval(() => {}, 1000)',
      '--',
      '--password=hunter2',
      'DB_TOKEN=t0ken',
      'postgres://app:pw123@db/x',
    ],
    { stdio: 'ignore' },
  );
  t.after(() => child.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 200));
  const redacted = new IdentityResolver({ node: 'n' }).resolve(child.pid!);
  assert.ok(redacted, 'resolved');
  const text = redacted.cmdline!.join(' ');
  for (const secret of ['hunter2', 't0ken', 'pw123'])
    assert.ok(!text.includes(secret), `${secret} not in ${text}`);
  assert.ok(text.includes(`--password=${R}`) && text.includes(`DB_TOKEN=${R}`), text);
  assert.ok(text.includes(`postgres://app:${R}@db/x`), text);

  const whole = new IdentityResolver({ node: 'n', keepCmdlineSecrets: true }).resolve(child.pid!);
  assert.ok(whole?.cmdline?.join(' ').includes('--password=hunter2'));
});
