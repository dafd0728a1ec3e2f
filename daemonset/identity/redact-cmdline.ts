// Command lines carry secrets (`--password=...`, `DB_TOKEN=...`, `postgres://user:pw@db`),
// and Tollgate ships them off the node and keeps them. By default the values that look
// like credentials are replaced before they leave the agent; the names stay, so a reader
// still sees which flag was given. Pure.

export const REDACTED = '<redacted>';

/** Names of flags and variables whose value is a credential. */
const SECRET_NAME =
  /(pass(word|wd|phrase)?|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|client[-_]?key|credentials?|auth|cookie|session[-_]?key|signing[-_]?key|^key)$/i;
/** A name that says its value points at the secret rather than being it. */
const REFERENCE_NAME = /[-_](file|path|dir|url|uri|env|name|id|type|mode|ttl|header)$/i;

const isSecretName = (name: string) =>
  SECRET_NAME.test(name) && !REFERENCE_NAME.test(name) && !/^no[-_]/i.test(name);

/** user:password@ in a URL, anywhere in an argument. */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*):[^\s/@]*@/gi;

/**
 * The arguments with credential values replaced:
 *  - `--password=v`, `-token=v`, `--db-secret v`: the value (not for `--password-file`,
 *    `--token-path` and the like, which name where the secret is);
 *  - `API_KEY=v`, `DB_PASSWORD=v` as an argument (env(1), shell wrappers);
 *  - the password of a URL, `scheme://user:password@host`.
 */
export function redactCmdline(args: readonly string[]): string[] {
  const out: string[] = [];
  let valueOfSecretFlag = false;
  for (const arg of args) {
    if (valueOfSecretFlag && !arg.startsWith('--')) {
      out.push(REDACTED);
      valueOfSecretFlag = false;
      continue;
    }
    valueOfSecretFlag = false;
    const flag = /^(--?)([A-Za-z0-9][A-Za-z0-9._-]*)(=.*)?$/s.exec(arg);
    if (flag) {
      const [, dashes, name, value] = flag;
      if (isSecretName(name!)) {
        if (value === undefined) valueOfSecretFlag = true;
        else {
          out.push(`${dashes}${name}=${REDACTED}`);
          continue;
        }
      }
      out.push(arg.replace(URL_PASSWORD, `$1:${REDACTED}@`));
      continue;
    }
    const variable = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(arg);
    if (variable && isSecretName(variable[1]!)) {
      out.push(`${variable[1]}=${REDACTED}`);
      continue;
    }
    out.push(arg.replace(URL_PASSWORD, `$1:${REDACTED}@`));
  }
  return out;
}
