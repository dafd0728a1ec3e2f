// Where the collector's store lives, from its command line: a SQLite file under
// --data-dir (the default), or a PostgreSQL database shared by several collectors. A
// password never goes on a command line, where every user of the node can read it
// (/proc/PID/cmdline): --store takes a URL without one, and the password comes from
// --store-password-file; or the whole URL comes from --store-url-file (a Secret's file).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPostgresLocation } from '../collector/store/open-store.js';
import { type Command, stringOption, UsageError } from './command.js';

export function storeLocation(args: Parameters<Command['run']>[0], defaultDataDir: string): string {
  const url = stringOption(args, 'store');
  const urlFile = stringOption(args, 'store-url-file');
  const passwordFile = stringOption(args, 'store-password-file');
  const dataDir = stringOption(args, 'data-dir');
  if (url !== undefined && urlFile !== undefined)
    throw new UsageError('give --store or --store-url-file, not both');
  if ((url !== undefined || urlFile !== undefined) && dataDir !== undefined)
    throw new UsageError('--data-dir is for the SQLite store; a PostgreSQL store has none');
  if (url === undefined && urlFile === undefined) {
    if (passwordFile !== undefined)
      throw new UsageError('--store-password-file goes with --store postgres://...');
    return join(dataDir ?? defaultDataDir, 'tollgate.db');
  }
  const text = url ?? readFileSync(urlFile!, 'utf8').trim();
  const where = url !== undefined ? '--store' : `--store-url-file ${urlFile}`;
  if (!isPostgresLocation(text))
    throw new UsageError(`${where} must be a postgres:// URL (the SQLite store takes --data-dir)`);
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw new UsageError(`${where} is not a URL`);
  }
  if (url !== undefined && (parsed.password || parsed.searchParams.has('password')))
    throw new UsageError(
      '--store must not hold a password (every user of this machine can read a command line): ' +
        'give it in --store-password-file, or the whole URL in --store-url-file',
    );
  if (passwordFile !== undefined) {
    if (parsed.password)
      throw new UsageError(`${where} has a password already; drop --store-password-file`);
    const password = readFileSync(passwordFile, 'utf8').replace(/\r?\n$/, '');
    if (!password) throw new UsageError(`--store-password-file ${passwordFile} is empty`);
    parsed.password = encodeURIComponent(password);
  }
  return parsed.toString();
}
