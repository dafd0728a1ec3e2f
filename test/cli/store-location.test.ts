// Where `tollgate collector` keeps its store, from its command line: a SQLite file under
// --data-dir, or a PostgreSQL URL that never carries a password on the command line
// (--store-password-file, or the whole URL from --store-url-file).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseCommandArgs, UsageError } from '../../cli/command.js';
import { collector } from '../../cli/commands/collector.js';
import { storeLocation } from '../../cli/store-location.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-store-location-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
};
const locate = (...argv: string[]) =>
  storeLocation(parseCommandArgs(collector, argv), '/home/x/.tollgate');
const refused = (pattern: RegExp, ...argv: string[]) =>
  assert.throws(
    () => locate(...argv),
    (e: unknown) => e instanceof UsageError && pattern.test(e.message),
  );

test('SQLite under --data-dir by default', () => {
  assert.equal(locate(), '/home/x/.tollgate/tollgate.db');
  assert.equal(locate('--data-dir', '/var/lib/tollgate'), '/var/lib/tollgate/tollgate.db');
});

test('a PostgreSQL URL takes its password from a file, never from the command line', () => {
  assert.equal(
    locate('--store', 'postgres://tollgate@db:5432/tg'),
    'postgres://tollgate@db:5432/tg',
  );
  // The password, with characters a URL must escape, from its file (its newline dropped).
  assert.equal(
    locate(
      '--store',
      'postgres://tollgate@db:5432/tg',
      '--store-password-file',
      file('pw', 'p@ss/w:rd\n'),
    ),
    'postgres://tollgate:p%40ss%2Fw%3Ard@db:5432/tg',
  );
  assert.equal(
    locate('--store-url-file', file('url', 'postgresql://u:secret@db/tg\n')),
    'postgresql://u:secret@db/tg',
  );
  refused(/must not hold a password/, '--store', 'postgres://u:secret@db/tg');
  refused(/must not hold a password/, '--store', 'postgres://u@db/tg?password=secret');
  refused(
    /has a password already/,
    '--store-url-file',
    file('url2', 'postgres://u:s@db/tg'),
    '--store-password-file',
    file('pw2', 'x'),
  );
  refused(
    /is empty/,
    '--store',
    'postgres://u@db/tg',
    '--store-password-file',
    file('empty', '\n'),
  );
});

test('options that do not go together, and a store that is not PostgreSQL, are refused by name', () => {
  refused(
    /not both/,
    '--store',
    'postgres://u@db/tg',
    '--store-url-file',
    file('u3', 'postgres://u@db/tg'),
  );
  refused(
    /--data-dir is for the SQLite store/,
    '--store',
    'postgres://u@db/tg',
    '--data-dir',
    '/x',
  );
  refused(/goes with --store/, '--store-password-file', file('pw3', 'x'));
  refused(/must be a postgres:\/\/ URL/, '--store', 'mysql://u@db/tg');
  refused(/must be a postgres:\/\/ URL/, '--store', '/var/lib/tollgate/tollgate.db');
});
