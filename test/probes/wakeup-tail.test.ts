// A reader's own work between its wake-up and its read is no cost of the proxy's. An event
// loop woken by a message runs some of its own code before it reads the socket (its return
// from select or epoll_wait, callbacks for other files); it runs the same code before the
// same read with no proxy in the path. So a handed-off hop ends at the reader's wake-up,
// not its read, and begins at the proxy's wake-up, not its read (handoff.bpf.h, woke_at).
// Here the server and the client each spin SPIN_US after select() wakes them before they
// read: hops from read to read took the two spins for the proxy's and came out over the
// A/B truth by about their sum. Ground truth is A/B: the same client through the proxy (B)
// and straight to the server (A), interleaved, its own mean from each request's write to
// its reply's read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitForLine } from '../../lab/spawn.js';
import type { ProbeRecord } from '../../probes/records.js';
import { totalCount } from '../../proto/histogram.js';
import { clientServerWithProbes, collect, exited, passThroughProxy } from './fixture.js';

const SERVER_PORT = 7312;
const PROXY_PORT = 15008;
const REQUESTS = 150;
const AB_ROUNDS = 5;
/** Each end's own work after its wake-up, before its read. */
const SPIN_US = 300;

/** Busy for SPIN_US in python: what an event loop does of its own between wake-up and read. */
const spin = `def spin():
    end = time.perf_counter_ns() + ${SPIN_US * 1000}
    while time.perf_counter_ns() < end:
        pass
`;

/**
 * An echo server of 64-byte messages in one select() loop: woken for a connection's bytes,
 * it spins and then reads them. Accepts any number of connections (the client's, the
 * proxy's upstream ones).
 */
const server = `import select, socket, sys, time
${spin}
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("0.0.0.0", ${SERVER_PORT})); ls.listen(); print("ready", flush=True)
conns = []
while True:
    ready, _, _ = select.select([ls] + conns, [], [], 120)
    if not ready:
        sys.exit(0)
    for s in ready:
        if s is ls:
            c, _ = ls.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conns.append(c)
            continue
        spin()
        d = s.recv(64)
        if not d:
            conns.remove(s); s.close()
            continue
        s.sendall(d)
`;

/**
 * One connection, REQUESTS 64-byte requests 2 ms apart, each after the reply to the one
 * before: select() for the reply, spin, read. Prints the mean from each write to its
 * reply's read, ns. Bounded by the count and the socket's timeout.
 */
const client = `import select, socket, sys, time
${spin}
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
total = 0
for _ in range(${REQUESTS}):
    sent = time.monotonic_ns()
    s.sendall(b"x" * 64)
    got = 0
    while got < 64:
        if not select.select([s], [], [], 10)[0]:
            raise TimeoutError("no reply")
        spin()
        d = s.recv(64 - got)
        if not d:
            raise EOFError("closed")
        got += len(d)
    total += time.monotonic_ns() - sent
    time.sleep(0.002)
s.close()
print(total / ${REQUESTS}, flush=True)
`;

const sumOf = (
  records: readonly ProbeRecord[],
  tgid: number,
  k: 'replyHandoffs' | 'handoffs' | 'addedNsSum' | 'exchanges',
) => records.reduce((n, r) => n + (r.type === 'hop' && r.key.tgid === tgid ? r[k] : 0), 0);

test("the ends' own work after their wake-up stays out of the proxy's added latency", async (t) => {
  const { lab, probes } = await clientServerWithProbes(t);
  await waitForLine(lab.exec('server', 'echo', 'python3', ['-c', server]), /^ready$/, 'echo');
  const proxy = lab.exec('server', 'proxy', process.execPath, [
    '-e',
    passThroughProxy({ listenPort: PROXY_PORT, upstreamPort: SERVER_PORT }),
  ]);
  await waitForLine(proxy, /^ready$/, 'proxy');
  probes.addProxy(proxy.pid!);
  const run = async (port: number) => {
    const child = lab.exec('client', 'client', 'python3', [
      '-c',
      client,
      lab.pod('server').address,
      String(port),
    ]);
    const line = await waitForLine(child, /^[0-9.]+$/, 'client', 60_000);
    await exited(child);
    return Number(line);
  };
  const added: number[] = [];
  for (let r = 0; r < AB_ROUNDS; r++) {
    const got = new Map<number, number>();
    for (const port of r % 2 === 0 ? [SERVER_PORT, PROXY_PORT] : [PROXY_PORT, SERVER_PORT])
      got.set(port, await run(port));
    added.push(got.get(PROXY_PORT)! - got.get(SERVER_PORT)!);
  }
  await new Promise((r) => setTimeout(r, 500));
  const got = await collect(probes);
  const pid = proxy.pid!;
  const sorted = [...added].sort((a, b) => a - b);
  const truthNs = sorted[Math.floor(sorted.length / 2)]!;
  const spreadNs = sorted[sorted.length - 1]! - sorted[0]!;
  const exchanges = sumOf(got.records, pid, 'exchanges');
  const reportedNs = sumOf(got.records, pid, 'addedNsSum') / exchanges;
  const handoffs = sumOf(got.records, pid, 'handoffs');
  const replyHandoffs = sumOf(got.records, pid, 'replyHandoffs');
  t.diagnostic(
    `A/B: +${(truthNs / 1e3).toFixed(1)} us (spread ${(spreadNs / 1e3).toFixed(1)}); reported ${(reportedNs / 1e3).toFixed(1)} us; ${handoffs} request and ${replyHandoffs} reply hops handed off of ${exchanges}`,
  );
  assert.equal(exchanges, AB_ROUNDS * REQUESTS, 'every exchange through the proxy paired');
  assert.equal(totalCount(got.histogram(pid, 'hop_added', PROXY_PORT)), AB_ROUNDS * REQUESTS);
  // Both sides handed off, or the test does not test the hand-off: the server and the
  // client wait in select() for each message, the proxy in epoll_wait. 743-745 request and
  // 444-571 reply hops of 750 in three runs (a reply whose delivery softirq work runs
  // outside the proxy's thread is not seen as its write's, and keeps its hop to that
  // delivery, which holds no spin either).
  assert.ok(handoffs >= 0.75 * exchanges, `${handoffs} request hops handed off`);
  assert.ok(replyHandoffs >= 0.25 * exchanges, `${replyHandoffs} reply hops handed off`);
  // Hops from read to read were over by about the two spins (2 x SPIN_US): 717.5 us
  // against +204.9 (2026-12-07); from wake-up to wake-up 194.6 against +214.7, and 433.7
  // against +539.2 on a busier run. Held within a quarter of the spins, beside the rounds'
  // own spread.
  assert.ok(
    Math.abs(reportedNs - truthNs) <= Math.max(spreadNs, 0.15 * truthNs) + SPIN_US * 500,
    `reported ${reportedNs} ns, A/B ${truthNs} ns (spread ${spreadNs})`,
  );
});
