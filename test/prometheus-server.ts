// A throwaway Prometheus (Debian's /usr/bin/prometheus) for one test: its config checked
// by promtool, its TSDB in a temporary directory, stopped by its pid when the test ends.
// Also the scrape job README and daemonset/manifests/prometheus-scrape.yaml ship, adapted
// only where there is no cluster: the pod discovery replaced by a static target, and the
// token file moved to where the test wrote it.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { parse, stringify } from 'yaml';
import { MANIFESTS_DIR } from '../cli/commands/manifests.js';
import { freePort } from '../lab/free-port.js';

export type ScrapeJob = Record<string, unknown>;

/** Polls `probe` every 200 ms until it gives a value, failing by name after `ms`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The shipped scrape job, scraping `target` (host:port) with the token in `tokenFile`. */
export function shippedScrapeJob(target: string, tokenFile: string): ScrapeJob {
  const shipped = parse(
    readFileSync(join(MANIFESTS_DIR, 'prometheus-scrape.yaml'), 'utf8'),
  ) as ScrapeJob[];
  assert.equal(shipped.length, 1, 'one job in prometheus-scrape.yaml');
  const job = { ...shipped[0]! };
  delete job.kubernetes_sd_configs;
  delete job.relabel_configs;
  job.authorization = { ...(job.authorization as object), credentials_file: tokenFile };
  job.static_configs = [{ targets: [target] }];
  return job;
}

export interface Target {
  labels: { job: string };
  health: string;
  lastError: string;
}

/** A query answer: status, and a vector of samples (instant) or of series (range). */
export interface QueryAnswer {
  status: string;
  error?: string;
  data?: {
    resultType: string;
    result: {
      metric: Record<string, string>;
      value?: [number, string];
      values?: [number, string][];
    }[];
  };
}

export interface Prometheus {
  url: string;
  /** Writes a file the config can name (a token), in the instance's directory. */
  file(name: string, content: string): string;
  targets(): Promise<Target[]>;
  /** An instant query at `timeMs` (now if left out); the answer as Prometheus gave it. */
  query(expr: string, timeMs?: number): Promise<QueryAnswer>;
}

/**
 * Starts Prometheus with `jobs` at `scrapeInterval`. The jobs are a function of the
 * instance, so that they can name files written in its directory.
 */
export async function startPrometheus(
  t: TestContext,
  jobs: (p: Pick<Prometheus, 'file'>) => ScrapeJob[],
  scrapeInterval = '1s',
): Promise<Prometheus> {
  const root = mkdtempSync(join(tmpdir(), 'tollgate-prometheus-'));
  let prometheus: ChildProcess | undefined;
  // Stopped by its pid, then its directory removed.
  t.after(async () => {
    if (prometheus && prometheus.exitCode === null && prometheus.signalCode === null) {
      const exited = new Promise((r) => prometheus!.once('exit', r));
      prometheus.kill('SIGTERM');
      await exited;
    }
    rmSync(root, { recursive: true, force: true });
  });
  const file = (name: string, content: string) => {
    const path = join(root, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  const config = {
    global: { scrape_interval: scrapeInterval, scrape_timeout: '900ms' },
    scrape_configs: jobs({ file }),
  };
  const configFile = file('prometheus.yml', stringify(config));
  const check = spawnSync('promtool', ['check', 'config', configFile], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  const port = await freePort();
  prometheus = spawn(
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(root, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: 'ignore' },
  );
  const url = `http://127.0.0.1:${port}`;
  await until('Prometheus ready', async () =>
    (await fetch(`${url}/-/ready`)).ok ? true : undefined,
  );
  return {
    url,
    file,
    async targets() {
      const r = (await (await fetch(`${url}/api/v1/targets?state=active`)).json()) as {
        data: { activeTargets: Target[] };
      };
      return r.data.activeTargets;
    },
    async query(expr, timeMs) {
      const params = new URLSearchParams({ query: expr });
      // Seconds with milliseconds, which Prometheus keeps exactly.
      if (timeMs !== undefined) params.set('time', (timeMs / 1000).toFixed(3));
      return (await (await fetch(`${url}/api/v1/query?${params}`)).json()) as QueryAnswer;
    },
  };
}
