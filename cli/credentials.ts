// Credentials from files, as the agent, the collector and the session client take them.
// Their own module, so that the agent does not load the collector's to read a token.
import { readFileSync } from 'node:fs';
import { type Command, stringOption, UsageError } from './command.js';

/** A bearer token from a file (trailing newline ignored); an empty file is an error. */
export function readToken(path: string | undefined, option = '--token-file'): string | undefined {
  if (path === undefined) return undefined;
  const token = readFileSync(path, 'utf8').trim();
  if (!token) throw new UsageError(`${option} ${path} is empty`);
  if (/\s/.test(token)) throw new UsageError(`${option} ${path} holds more than one word`);
  return token;
}

/** --tls-cert and --tls-key (both or neither) and a CA option, read from their files. */
export function readTlsFiles(args: Parameters<Command['run']>[0], caOption: string) {
  const [cert, key, ca] = ['tls-cert', 'tls-key', caOption].map((name) => stringOption(args, name));
  if ((cert === undefined) !== (key === undefined))
    throw new UsageError('--tls-cert and --tls-key go together');
  if (cert === undefined && ca === undefined) return undefined;
  const read = (path: string | undefined) => (path === undefined ? undefined : readFileSync(path));
  return { cert: read(cert), key: read(key), ca: read(ca) };
}
