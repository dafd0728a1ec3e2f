// A throwaway PostgreSQL cluster for the tests of a file: Debian's server binaries (the
// highest version under /usr/lib/postgresql), a data directory and socket in a temporary
// directory, listening on a free loopback port with a generated password, and each test
// given a fresh database of its own. It is the postmaster's parent: stopped by its pid,
// never by name, and its directory removed, when the tests end. Debian's own `main`
// cluster (port 5432), if the package made one, is neither used nor needed.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chownSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './free-port.js';

const INSTALL_ROOT = '/usr/lib/postgresql';
const SUPERUSER = 'tollgate';
/** How long a start (or a stop) may take before it fails, with the server's log. */
const WAIT_MS = 30_000;

export interface Postgres {
  /** The temporary directory: data directory, socket and server log. */
  readonly dir: string;
  readonly port: number;
  /** The postmaster's pid (a new one after `restart`); 0 once stopped. */
  readonly pid: number;
  /** The superuser's URL of a database (default `postgres`). */
  url(database?: string): string;
  /** Creates an empty database and gives its URL; `name` is a plain lower-case identifier. */
  createDatabase(name: string): Promise<string>;
  /** A fast shutdown (open sessions are ended), then the same cluster again on the same port. */
  restart(): Promise<void>;
  /** Stops the server (an immediate shutdown) and removes the directory; idempotent. */
  stop(): Promise<void>;
}

/** The directory of the newest server binaries Debian installed, or a failure saying how to get them. */
export function postgresBinaries(): string {
  const versions = existsSync(INSTALL_ROOT)
    ? readdirSync(INSTALL_ROOT)
        .filter((v) => /^\d+$/.test(v) && existsSync(join(INSTALL_ROOT, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0)
    throw new Error(
      `no PostgreSQL server under ${INSTALL_ROOT}/<version>/bin: apt-get install postgresql (bin/setup.sh installs it)`,
    );
  return join(INSTALL_ROOT, versions[0]!, 'bin');
}

/**
 * Who runs the server: initdb and postgres refuse root, so as root (the tests' usual
 * user) the `postgres` system user Debian's package made; as anyone else, that user.
 */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  let entry: string;
  try {
    entry = execFileSync('getent', ['passwd', 'postgres'], { encoding: 'utf8' });
  } catch {
    throw new Error('no `postgres` user to run the server as: apt-get install postgresql');
  }
  const [, , uid, gid] = entry.trim().split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Alive and not a zombie (a child not yet reaped reads as alive to kill(pid, 0)). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const tail = (path: string) => {
  try {
    return readFileSync(path, 'utf8').slice(-4000);
  } catch {
    return '(no log)';
  }
};

/**
 * Starts a cluster. `t` (a test's context, or `{ after }` of a suite) gets its stop; a
 * stop at the process's exit backs it up, for a run that ends before its hooks do.
 */
export async function startPostgres(
  t?: { after(fn: () => Promise<void> | void): unknown },
  options: {
    /** Writes forced to the disk as a real server's are (a benchmark's); else not (tests'). */
    durable?: boolean;
    /** shared_buffers (default 16MB: tests; a benchmark gives the server more). */
    sharedBuffers?: string;
  } = {},
): Promise<Postgres> {
  const bin = postgresBinaries();
  const user = serverUser();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-postgres-'));
  const asServer = { cwd: dir, ...user, env: { PATH: process.env.PATH ?? '', LC_ALL: 'C' } };
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const password = randomBytes(24).toString('base64url');

  let child: ChildProcess | undefined;
  let stopped = false;
  // The backstop: no event loop runs at exit, so an immediate shutdown is asked for and,
  // if the postmaster is still there a moment later, it is killed; then the directory goes.
  const atExit = () => {
    const pid = child?.pid;
    if (pid && alive(pid)) {
      process.kill(pid, 'SIGQUIT');
      const deadline = Date.now() + 5000;
      while (alive(pid) && Date.now() < deadline)
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', atExit);

  const exited = (c: ChildProcess) =>
    c.exitCode !== null || c.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((r) => c.once('exit', () => r()));

  /** Sends `signal` to the postmaster and waits for it to exit (SIGKILL after WAIT_MS). */
  const shutdown = async (signal: 'SIGINT' | 'SIGQUIT') => {
    const c = child;
    if (!c?.pid || c.exitCode !== null || c.signalCode !== null) return;
    const gone = exited(c);
    c.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      gone.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (late) {
      c.kill('SIGKILL');
      await gone;
      throw new Error(
        `PostgreSQL (pid ${c.pid}) ignored ${signal} for ${WAIT_MS} ms:\n${tail(log)}`,
      );
    }
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      // SIGQUIT is pg_ctl's `stop -m immediate`: nothing here is kept, so nothing is flushed.
      await shutdown('SIGQUIT');
    } finally {
      process.removeListener('exit', atExit);
      rmSync(dir, { recursive: true, force: true });
    }
  };
  t?.after(stop);

  try {
    // The superuser's password, through a file that initdb reads and that goes after.
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (user) chownSync(pwfile, user.uid, user.gid);
    const init = spawnSync(
      join(bin, 'initdb'),
      [
        ...['-D', data, '-U', SUPERUSER, `--pwfile=${pwfile}`],
        // Every connection, local or TCP, signs in with the password.
        '--auth=scram-sha-256',
        ...['-E', 'UTF8', '--locale=C'],
        // A throwaway cluster: initdb need not flush the files it writes.
        '--no-sync',
      ],
      { ...asServer, encoding: 'utf8', timeout: 60_000 },
    );
    rmSync(pwfile, { force: true });
    if (init.status !== 0)
      throw new Error(
        `initdb failed (${init.status ?? init.signal}):\n${init.stdout}${init.stderr}`,
      );

    let port = 0;
    const start = async () => {
      const out = openSync(log, 'a');
      try {
        child = spawn(
          join(bin, 'postgres'),
          [
            ...['-D', data, '-k', dir],
            ...['-c', 'listen_addresses=127.0.0.1', '-c', `port=${port}`],
            ...[
              '-c',
              'max_connections=100',
              '-c',
              `shared_buffers=${options.sharedBuffers ?? '16MB'}`,
            ],
            // For tests, never for data anyone keeps: nothing is forced to the disk, so a
            // power loss could corrupt the cluster; a crash of the server alone cannot
            // (what it wrote is in the kernel's page cache), and it is gone at the end.
            ...(options.durable ? [] : ['-c', 'fsync=off', '-c', 'full_page_writes=off']),
          ],
          { ...asServer, stdio: ['ignore', out, out] },
        );
      } finally {
        closeSync(out);
      }
      const c = child;
      let gone = false;
      void exited(c).then(() => {
        gone = true;
      });
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        if (gone)
          throw new Error(
            `PostgreSQL exited at start (${c.exitCode ?? c.signalCode}):\n${tail(log)}`,
          );
        const client = new pg.Client({ connectionString: url('postgres') });
        try {
          await client.connect();
          await client.query('SELECT 1');
          return;
        } catch (error) {
          if (Date.now() > deadline)
            throw new Error(
              `PostgreSQL not ready after ${WAIT_MS} ms (${(error as Error).message}):\n${tail(log)}`,
            );
        } finally {
          await client.end().catch(() => undefined);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const url = (database = 'postgres') =>
      `postgres://${SUPERUSER}:${password}@127.0.0.1:${port}/${encodeURIComponent(database)}`;

    // The port was free a moment ago; another process may take it first: a few tries.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await start();
        break;
      } catch (error) {
        if (!/address already in use/i.test(tail(log)) || attempt === 3) throw error;
        await shutdown('SIGQUIT');
      }
    }

    return {
      dir,
      port,
      get pid() {
        return stopped ? 0 : (child?.pid ?? 0);
      },
      url,
      async createDatabase(name) {
        if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new RangeError(`database name ${name}`);
        const client = new pg.Client({ connectionString: url('postgres') });
        await client.connect();
        try {
          await client.query(`CREATE DATABASE ${name}`);
        } finally {
          await client.end();
        }
        return url(name);
      },
      async restart() {
        if (stopped) throw new Error('PostgreSQL was stopped');
        // SIGINT is pg_ctl's `stop -m fast`: sessions are ended, a checkpoint is written.
        await shutdown('SIGINT');
        await start();
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
