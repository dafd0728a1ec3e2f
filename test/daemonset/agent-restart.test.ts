// An agent killed with SIGKILL (as the kubelet does after a failed liveness probe, or
// the OOM killer) must leave nothing behind in the kernel: its runner dies with it, and
// with the runner every program, link and map of ours. The agent that replaces it must
// resume shipping and trace under the filter the running session asked for, without
// being told again by a person: the collector repeats it at the new agent's hello.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { bpfMapsOf, childrenOf, tollgatePrograms } from '../../bench/bpf-stats.js';
import { parseAgentExitSummary } from '../../bench/chaos.js';
import { type AgentProcess, startAgentProcess } from '../../bench/tollgate-processes.js';
import { Lab } from '../../lab/lab.js';
import type { SessionSummary } from '../../proto/api.js';
import { jsonApi, startCollector } from '../collector/fixture.js';

const INTERVAL_S = 0.5;

interface BpfObject {
  id: number;
  prog_id?: number;
}

const bpftool = (kind: 'prog' | 'map' | 'link') =>
  JSON.parse(
    execFileSync('bpftool', [kind, 'show', '--json'], { encoding: 'utf8' }),
  ) as BpfObject[];

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('an agent killed with SIGKILL leaves nothing in the kernel; the next one resumes under the session filter', async (t) => {
  const lab = await Lab.create([
    { name: 'loadgen', service: 'loadgen', meshed: false, app: false },
    { name: 'target', service: 'target', meshed: false },
    { name: 'other', service: 'other', meshed: false },
  ]);
  t.after(() => lab.destroy());
  const collector = await startCollector(t);
  const agents: AgentProcess[] = [];
  t.after(async () => {
    for (const a of agents) await a.stop(2000);
  });
  const api = jsonApi(collector.httpUrl);
  const netnsInode = (pod: string) => statSync(`/run/netns/${lab.pod(pod).netns}`).ino;

  // A session on one pod narrows the first agent's kernel filter.
  const first = await startAgentProcess(collector.grpcAddress, INTERVAL_S);
  agents.push(first);
  const session = await api<SessionSummary>('POST', '/api/sessions', {
    name: 'restart',
    target: { pods: [`netns/tg${lab.id}-target`] },
  });
  t.after(() => api('POST', `/api/sessions/${session.id}/stop`).catch(() => {}));
  const narrowed = async (agent: AgentProcess) => {
    const filter = (await agent.status()).kernelFilter;
    return (
      filter.all !== true &&
      JSON.stringify(filter.netnsInodes) === JSON.stringify([netnsInode('target')])
    );
  };
  await until('the first agent narrows its filter to the target pod', () => narrowed(first));

  // Its runner by name: a CLI run from source has the compiler's service as a child too.
  const runner = childrenOf(first.pid).find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'tollgate-runner';
    } catch {
      return false;
    }
  });
  assert.ok(runner !== undefined, 'the agent has its runner');
  const programs = tollgatePrograms().map((p) => p.id);
  const held = bpfMapsOf(runner);
  const maps = held.map((m) => m.id);
  const links = bpftool('link')
    .filter((l) => programs.includes(l.prog_id ?? -1))
    .map((l) => l.id);
  assert.ok(programs.length >= 5, `programs loaded: ${programs.length}`);
  assert.ok(
    maps.length >= 5,
    `maps held: ${maps.length}; the runner ${runner}: ${(() => {
      try {
        return readFileSync(`/proc/${runner}/stat`, 'utf8');
      } catch (error) {
        return String(error);
      }
    })()}; the agent: ${JSON.stringify(await first.status())}`,
  );
  assert.ok(held.every((m) => m.bytes > 0));
  assert.ok(links.length >= 5, `links attached: ${links.length}`);

  first.signal('SIGKILL');
  await first.exited;
  agents.shift();
  // The runner's parent-death signal ends it; the kernel frees what it held.
  await until('the runner exits with its agent', () => !alive(runner));
  await until('no program, link or map of the killed agent is left', () => {
    const left = (kind: 'prog' | 'map' | 'link', ids: number[]) =>
      bpftool(kind).filter((o) => ids.includes(o.id)).length;
    return left('prog', programs) + left('link', links) + left('map', maps) === 0;
  });
  assert.equal(tollgatePrograms().length, 0, 'no tg_ program loaded between the two agents');

  // The next agent: the collector repeats the session's filter at its hello.
  const second = await startAgentProcess(collector.grpcAddress, INTERVAL_S);
  agents.push(second);
  await until('the second agent traces under the session filter', () => narrowed(second));

  // Ground truth: 40 requests to each pod; only the target's are accounted.
  const from = Date.now();
  for (const pod of ['target', 'other']) {
    const load = await lab.load('loadgen', {
      url: lab.serviceUrls(pod)[0]!,
      rate: 40,
      durationS: 1,
      connections: 1,
      timeoutMs: 5000,
    });
    assert.equal(load.ok, 40, pod);
  }
  const served = async (pod: string) => {
    const { topology } = await collector.queries.view({
      fromMs: from - 2000,
      toMs: Date.now() + 2000,
    });
    const ids = new Set(
      topology.processes.filter((p) => p.pod === `pod:netns/tg${lab.id}-${pod}`).map((p) => p.id),
    );
    return topology.edges
      .filter((e) => ids.has(e.target))
      .reduce((n, e) => n + (e.server?.exchanges ?? 0), 0);
  };
  await until(
    'the target pod served 40 requests as the new agent saw them',
    async () => (await served('target')) === 40,
  );
  assert.equal(await served('other'), 0, 'the pod outside the session is not traced');

  // The session ends: the filter opens again.
  await api('POST', `/api/sessions/${session.id}/stop`);
  await until('the filter opens when the session stops', async () => {
    return (await second.status()).kernelFilter.all === true;
  });

  // A graceful stop delivers everything it made, and says so.
  const node = (await second.status()).node;
  await second.stop();
  agents.pop();
  const summary = parseAgentExitSummary(second.output());
  assert.equal(summary.unacknowledged, 0);
  assert.equal(summary.spoolDropped, 0);
  assert.equal(summary.stored + summary.duplicates, summary.made);
  assert.ok(summary.made >= 4, `batches made: ${summary.made}`);
  assert.equal(tollgatePrograms().length, 0, 'nothing left after a graceful stop either');
  assert.ok((await collector.store.batchCount()) >= summary.made, `stored for ${node}`);
});
