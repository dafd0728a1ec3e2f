// The kernel's list of proxies follows the processes: a proxy the agent found is in the
// runner's `proxies` map, and once it exits it leaves the map too, so that its pid, when
// the kernel hands it to another process, is not hop-paired as a sidecar. The truth is the
// map itself, read with bpftool.
import { spawn } from 'node:child_process';
import { linkSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SIDECAR_CONTAINERS } from '../../daemonset/identity/roles.js';
import { bpfMapEntries } from '../bpf-maps.js';
import { startCollector } from '../collector/fixture.js';
import { startAgent } from './agent-fixture.js';

const NAME = 'tg-reg-proxy';

/** The pids in the runner's `proxies` map. */
function kernelProxies(): Set<number> {
  const pids = new Set<number>();
  for (const e of bpfMapEntries<{ key?: string[]; formatted?: { key: number } }>('proxies')) {
    if (e.formatted) pids.add(e.formatted.key);
    else if (e.key) pids.add(Buffer.from(e.key.map((b) => Number(b))).readUInt32LE(0));
  }
  return pids;
}

async function until(what: string, probe: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`not in time: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('a proxy that exits leaves the kernel map, so its pid is not paired for another process', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-proxy-registry-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const executable = join(dir, NAME);
  linkSync(process.execPath, executable);
  // A process by a proxy's name, running before the agent's first scan finds it.
  const proxy = spawn(executable, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.after(() => proxy.kill('SIGKILL'));
  const pid = proxy.pid!;

  const collector = await startCollector(t);
  const { agent } = await startAgent(t, {
    collector: collector.grpcAddress,
    intervalMs: 500,
    roles: { containers: SIDECAR_CONTAINERS, executables: [NAME] },
  });
  await until('the agent found the proxy', () => agent.status().proxies.includes(pid));
  // The agent's command reaches the runner through its stdin: a moment later.
  await until('the kernel pairs its hops', () => kernelProxies().has(pid), 5000);

  const gone = new Promise((r) => proxy.once('exit', r));
  proxy.kill('SIGKILL');
  await gone;
  // The agent scans every 5 s.
  await until('the agent forgot the proxy', () => !agent.status().proxies.includes(pid));
  await until(`pid ${pid} left the kernel's proxies map`, () => !kernelProxies().has(pid), 5000);
});
