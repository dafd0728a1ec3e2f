// The BPF programs' run time is counted only when someone asks. While the kernel counts
// it (BPF_ENABLE_STATS held, or the bpf_stats sysctl), every BPF program on the node pays
// two clock reads per run, a CNI's too; so the agent holds it for a minute after an ask
// (`/status?programs=1`, or countProgramRunTime) and not otherwise. The truth is the
// kernel's own count of our send program's runs, read with bpftool, not the agent's
// records: it stays put while nobody asks, moves while asked, and stops when the ask ends.
import assert from 'node:assert/strict';
import { connect, createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { tollgatePrograms, withBpfStatsSysctl } from '../../bench/bpf-stats.js';
import { buildAgentHttp } from '../../daemonset/agent-http.js';
import { startCollector } from '../collector/fixture.js';
import { startAgent } from './agent-fixture.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The kernel's count of runs of our send program (tg_send, or its fexit fallback). */
function sendRuns(): number {
  return tollgatePrograms()
    .filter((p) => p.name?.startsWith('tg_send'))
    .reduce((n, p) => n + (p.run_cnt ?? 0), 0);
}

/** `count` writes on a loopback connection, each answered: sends the send program sees. */
async function pingPong(port: number, count: number): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  for (let i = 0; i < count; i++) {
    const answered = new Promise((resolve) => socket.once('data', resolve));
    socket.write('x');
    await answered;
  }
  socket.destroy();
}

test('the programs run time is counted only while someone asks for it', async (t) => {
  const echo: Server = createServer((s) => s.on('data', (d) => s.write(d)));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  t.after(() => echo.close());
  const port = (echo.address() as { port: number }).port;
  // The sysctl off for the test (put back after): only the agent's own hold may count.
  await withBpfStatsSysctl(false, async () => {
    const collector = await startCollector(t);
    const { agent } = await startAgent(t, { collector: collector.grpcAddress, intervalMs: 200 });
    const http = await buildAgentHttp(agent);
    t.after(() => http.close());

    await pingPong(port, 50);
    assert.equal(agent.status().runTimeStats, false);
    assert.equal(sendRuns(), 0, 'nobody asked: the kernel counted no run');

    // An ask with a short window: counted while it lasts.
    assert.equal(agent.countProgramRunTime(600), true);
    assert.equal(agent.status().runTimeStats, true);
    await sleep(100); // the runner reads its command
    await pingPong(port, 50);
    const counted = sendRuns();
    assert.ok(counted >= 100, `50 exchanges each way counted while asked: ${counted} runs`);

    // The window over, the kernel stops counting.
    await sleep(900);
    assert.equal(agent.status().runTimeStats, false);
    assert.equal(agent.status().runTimeStatsUntilMs, null);
    const after = sendRuns();
    await pingPong(port, 50);
    assert.equal(sendRuns(), after, 'no run counted once the ask ended');

    // The agent's HTTP side asks for a minute; a bad value is refused and asks nothing.
    const bad = await http.inject({ url: '/status?programs=yes' });
    assert.equal(bad.statusCode, 400);
    assert.equal(agent.status().runTimeStats, false);
    const plain = await http.inject({ url: '/status' });
    assert.equal(plain.json<{ runTimeStats: boolean }>().runTimeStats, false);
    const before = Date.now();
    const asked = await http.inject({ url: '/status?programs=1' });
    assert.equal(asked.statusCode, 200);
    const body = asked.json<{ runTimeStats: boolean; runTimeStatsUntilMs: number }>();
    assert.equal(body.runTimeStats, true);
    assert.ok(
      body.runTimeStatsUntilMs >= before + 59_000 &&
        body.runTimeStatsUntilMs <= Date.now() + 60_000,
      `counted for a minute: until ${body.runTimeStatsUntilMs - before} ms after the ask`,
    );
    await sleep(100);
    const base = sendRuns();
    await pingPong(port, 50);
    assert.ok(sendRuns() >= base + 100, 'counted again after the HTTP ask');
  });
});
