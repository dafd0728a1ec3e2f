// A collector for one test: its store in a temporary directory, gRPC and HTTP on free
// loopback ports, all of it stopped and removed when the test ends.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Collector, type CollectorOptions } from '../../collector/collector.js';
import { Shipper } from '../../daemonset/shipping/shipper.js';
import { TOLLGATE_VERSION } from '../../proto/version.js';
import { NODE } from './mesh-batches.js';

export async function startCollector(
  t: TestContext,
  options: Partial<CollectorOptions> = {},
): Promise<Collector> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-collector-'));
  const collector = await Collector.start({
    database: join(dir, 'store.db'),
    grpc: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    // A small ballast: tests start many collectors; disk-full.test.ts sizes its own.
    ballastBytes: 2 ** 20,
    ...options,
  });
  t.after(async () => {
    await collector.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return collector;
}

/** A JSON call to a collector's HTTP API that must succeed: a failure names the route and the answer. */
export function jsonApi(httpUrl: string) {
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${httpUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.ok(
      response.ok,
      `${method} ${path}: ${response.status} ${await response.clone().text()}`,
    );
    return (await response.json()) as T;
  };
}

/**
 * A collector to read (the viewer, the API), and an agent's shipper to feed it batches with.
 * `token` is the admin's (the viewer's); the shipper has an ingest token of its own.
 */
export async function collectorWithShipper(
  t: TestContext,
  { token, ...options }: Parameters<typeof startCollector>[1] & { token: string },
) {
  const ingest = `${token}-ingest`;
  const collector = await startCollector(t, { ...options, credentials: { ingest, admin: token } });
  const shipper = new Shipper({
    target: collector.grpcAddress,
    token: ingest,
    hello: { agentId: 'agent-1', node: NODE, agentVersion: TOLLGATE_VERSION },
  });
  t.after(() => shipper.stop());
  shipper.start();
  return { collector, shipper };
}
