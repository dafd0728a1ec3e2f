// The reply's hand-off: a proxy that waited for a reply, writing it to a client on its node
// that waits for it, has the reply's hop run from its own wake-up by the reply to the
// client's wake-up (its wake-up by the reply standing for the client's without it). Held
// to the two processes' own clocks (CLOCK_MONOTONIC, as the kernel's): the proxy's time at
// each read of a reply and the client's at each read of it, which the wake-ups precede by
// each one's own work (test/probes/wakeup-tail holds that part to A/B truth). A client that
// never sleeps (it spins on a non-blocking socket) waits for nothing: no reply of its is
// handed off, each hop ending where the proxy's write delivered it. A reply written in two
// parts, the second arriving while the proxy is awake but not yet at its read, is one the
// proxy waited for all the same, and handed off as one; not when the proxy read some of it
// before the second part came.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { waitForLine } from '../../lab/spawn.js';
import type { ProbeRecord } from '../../probes/records.js';
import { totalCount } from '../../proto/histogram.js';
import { clientServerWithProbes, collect, passThroughProxy } from './fixture.js';

const SERVER_PORT = 7310;
const PROXY_PORT = 15006;
const REQUESTS = 200;

/**
 * An echo server that answers each request 1 ms late: the proxy is back asleep in epoll
 * when the reply comes (a reply back within its forward's write, or before its loop
 * sleeps again, is one it did not wait for, and keeps its hop from the arrival).
 */
const echoServer = `require('node:net').createServer({ noDelay: true }, (s) => s.on('data', (d) => setTimeout(() => s.write(Buffer.alloc(d.length, 1)), 1)))
  .listen(${SERVER_PORT}, '127.0.0.1', () => console.log('ready'));`;

/** A pass-through proxy that notes its clock at each read of a reply; prints them at SIGTERM. */
const timingProxy = passThroughProxy({
  listenPort: PROXY_PORT,
  upstreamPort: SERVER_PORT,
  prelude: 'const reads = [];',
  onReply: 'reads.push(String(process.hrtime.bigint())); down.write(d);',
  epilogue: `process.on('SIGTERM', () => { console.log(JSON.stringify(reads)); process.exit(0); });`,
});

/**
 * One connection, REQUESTS 100-byte requests 2 ms apart, each after the reply to the one
 * before; its clock after each reply's read. `spin`: reads on a non-blocking socket in a
 * loop, never asleep on it. Bounded by the count and the socket's timeout.
 */
const client = `import json, socket, sys, time
host, port, n, spin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "spin"
s = socket.create_connection((host, port), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
if spin:
    s.setblocking(False)
deadline = time.monotonic() + 60
reads = []
for _ in range(n):
    s.sendall(b"x" * 100)
    got = 0
    while got < 100:
        try:
            d = s.recv(4096)
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError("no reply")
            continue
        if not d:
            raise EOFError("closed")
        got += len(d)
    reads.append(time.monotonic_ns())
    time.sleep(0.002)
print(json.dumps(reads), flush=True)
`;

/** A hop counter of one process, summed over its records. */
const sumOf = (
  records: readonly ProbeRecord[],
  tgid: number,
  k: 'replyHandoffs' | 'exchanges' | 'responseNsSum',
) => records.reduce((n, r) => n + (r.type === 'hop' && r.key.tgid === tgid ? r[k] : 0), 0);

/** A process to start in the server pod: its command, its arguments, its name. */
type Program = { command: string; args: string[]; name: string };

const nodeEchoServer: Program = {
  command: process.execPath,
  args: ['-e', echoServer],
  name: 'echo',
};
const nodeTimingProxy: Program = {
  command: process.execPath,
  args: ['-e', timingProxy],
  name: 'timing proxy',
};

/**
 * The server and the proxy in the server pod (each prints "ready"; the proxy its clock at
 * each read of a reply as a JSON list at SIGTERM), the proxy listed as one, and REQUESTS
 * requests from the client pod through it: how many replies were handed off, the response
 * hop's mean, and the truth, the proxy's read of each reply to the client's by their clocks.
 */
async function throughProxy(t: TestContext, server: Program, proxy: Program, spin: boolean) {
  const { lab, probes } = await clientServerWithProbes(t);
  await waitForLine(
    lab.exec('server', server.name, server.command, server.args),
    /^ready$/,
    server.name,
  );
  const proxied = lab.exec('server', proxy.name, proxy.command, proxy.args);
  await waitForLine(proxied, /^ready$/, proxy.name);
  // Listened for from here: a proxy may print its list when the client goes, and exit.
  const line = waitForLine(proxied, /^\[/, proxy.name, 90_000);
  line.catch(() => {}); // awaited below; a test that fails before must not leave it unheard
  probes.addProxy(proxied.pid!);
  const child = lab.exec('client', 'client', 'python3', [
    '-c',
    client,
    lab.pod('server').address,
    String(PROXY_PORT),
    String(REQUESTS),
    spin ? 'spin' : 'wait',
  ]);
  const clientReads = (
    JSON.parse(await waitForLine(child, /^\[/, 'client', 60_000)) as number[]
  ).map(BigInt);
  proxied.kill('SIGTERM');
  const proxyReads = (JSON.parse(await line) as (string | number)[]).map(BigInt);
  await new Promise((r) => setTimeout(r, 500));
  const got = await collect(probes);
  const pid = proxied.pid!;
  assert.equal(clientReads.length, REQUESTS);
  assert.equal(proxyReads.length, REQUESTS, 'one read of each reply');
  const truthNs =
    clientReads.reduce((s, at, i) => s + Number(at - proxyReads[i]!), 0) / clientReads.length;
  const response = got.histogram(pid, 'hop_response', PROXY_PORT);
  const responseNs = sumOf(got.records, pid, 'responseNsSum') / totalCount(response);
  const handedOff = sumOf(got.records, pid, 'replyHandoffs');
  t.diagnostic(
    `${handedOff} of ${totalCount(response)} replies handed off; response hop ${(responseNs / 1e3).toFixed(1)} us, the proxy's read to the client's by their clocks ${(truthNs / 1e3).toFixed(1)} us`,
  );
  assert.equal(totalCount(response), REQUESTS, 'every reply a hop');
  assert.equal(sumOf(got.records, pid, 'exchanges'), REQUESTS, 'every exchange paired');
  return { handedOff, responseNs, truthNs };
}

/** The hop of a reply handed off, held to the clocks' figure. */
function assertNearClocks(responseNs: number, truthNs: number) {
  // The processes' clocks are read a few microseconds after the kernel's events (node's
  // callback later than python's return from recv), and the hop runs from the proxy's
  // wake-up, before its own work up to its read, to the client's, before python's return
  // from recv. A hop that missed the client's wake-up would come out short, but so does
  // one whose client took longer from its switch-in to its read than the proxy did. It
  // moves with the machine: 7-34 us over clocks of 99-150 us in nine runs on a slow day of
  // this VM (2026-12-05, from read to read); from wake-up to wake-up 23 us over 87 and 23
  // short of 172 in two runs (2026-12-07). So it is held to 50 us short, and over to 30 us
  // and a fifth of the clocks' figure; test/probes/wakeup-tail holds the wake-ups to A/B
  // truth.
  assert.ok(
    responseNs >= truthNs - 50_000 && responseNs <= truthNs * 1.2 + 30_000,
    `response hop ${responseNs} ns, clocks ${truthNs} ns`,
  );
}

test("a reply handed to a waiting client runs from the proxy's wake-up by it to the client's", async (t) => {
  const { handedOff, responseNs, truthNs } = await throughProxy(
    t,
    nodeEchoServer,
    nodeTimingProxy,
    false,
  );
  // The proxy waits in epoll for each reply, the client in recv: 187-195 of 200 in six runs.
  // Not all: a reply its loop was not back in epoll for keeps its hop, and one whose
  // delivery softirq work runs outside the proxy's thread (ksoftirqd, on a busy machine)
  // is not seen as the write's.
  assert.ok(handedOff >= 0.75 * REQUESTS, `${handedOff} of ${REQUESTS} handed off`);
  assertNearClocks(responseNs, truthNs);
});

/**
 * A reply in two writes, 60 bytes 1 ms after the request (the proxy back asleep in
 * select() by then) and 40 bytes `gapMs` later (as an HTTP/2 app writes a reply's DATA and
 * then its END_STREAM, here spread out so that the test does not hang on a race).
 */
const twoPartServer = (gapMs: number): Program => ({
  command: 'python3',
  name: 'two-part server',
  args: [
    '-c',
    `import socket, sys, time
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", ${SERVER_PORT})); ls.listen(); print("ready", flush=True)
s, _ = ls.accept(); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1); s.settimeout(60)
while True:
    got = 0
    while got < 100:
        d = s.recv(100 - got)
        if not d:
            sys.exit(0)
        got += len(d)
    time.sleep(0.001)
    s.sendall(b"a" * 60)
    time.sleep(${gapMs / 1000})
    s.sendall(b"b" * 40)
`,
  ],
});

/**
 * A proxy that waits in select() and, woken by a reply, reads `first` bytes of it at once
 * (0: none), is then busy for `busyMs`, and reads the rest; it writes the reply whole,
 * notes its clock after the reply's last read, and prints the list when the client goes or
 * at SIGTERM.
 */
const slowReadingProxy = (first: number, busyMs: number): Program => ({
  command: 'python3',
  name: 'slow-reading proxy',
  args: [
    '-c',
    `import json, select, signal, socket, sys, time
reads = []
def done(*_):
    print(json.dumps(reads), flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("0.0.0.0", ${PROXY_PORT})); ls.listen(); print("ready", flush=True)
down, _ = ls.accept(); down.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
up = socket.create_connection(("127.0.0.1", ${SERVER_PORT})); up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while True:
    ready, _, _ = select.select([down, up], [], [], 30)
    if not ready:
        break
    if down in ready:
        d = down.recv(65536)
        if not d:
            break
        up.sendall(d)
    if up in ready:
        d = up.recv(${first}) if ${first} else b""
        time.sleep(${busyMs / 1000})
        while len(d) < 100:
            d += up.recv(100 - len(d))
        reads.append(time.monotonic_ns())
        down.sendall(d)
done()
`,
  ],
});

test('a reply that came in two parts while the proxy was waking is handed off as one', async (t) => {
  // The second part comes while the proxy is awake (off select()'s wait queue) and not yet
  // at its read, and it reads both at once. Taken for a reply the proxy was busy for (its
  // last part found no one waiting), none was handed off, and each hop ran from the second
  // part's arrival: some 1.5 ms.
  const { handedOff, responseNs, truthNs } = await throughProxy(
    t,
    twoPartServer(0.5),
    slowReadingProxy(0, 2),
    false,
  );
  assert.ok(handedOff >= 0.75 * REQUESTS, `${handedOff} of ${REQUESTS} handed off`);
  assertNearClocks(responseNs, truthNs);
});

test('a part that comes after the proxy read some of the reply finds it busy: no hand-off', async (t) => {
  // The proxy reads 30 bytes of the first part as soon as it wakes: the second part comes
  // 5 ms later, after that read, while the proxy is busy (15 ms), and the reply's hop runs
  // from that part's arrival. Were the first part's answer kept past a read, every reply
  // would be handed off, the proxy's 15 ms of work taken for its wake-up. The gaps are wide
  // so that a slow wake-up (still on select()'s queue at the second part) or an
  // oversleeping server (the proxy back in recv) stays rare on a busy machine.
  const { handedOff, responseNs } = await throughProxy(
    t,
    twoPartServer(5),
    slowReadingProxy(30, 15),
    false,
  );
  assert.ok(handedOff <= 0.25 * REQUESTS, `${handedOff} of ${REQUESTS} handed off`);
  assert.ok(responseNs >= 5_000_000, `response hop ${responseNs} ns, not the 10 ms held`);
});

test('a client that never sleeps on its socket has no reply handed off', async (t) => {
  const { handedOff } = await throughProxy(t, nodeEchoServer, nodeTimingProxy, true);
  assert.equal(handedOff, 0);
});
