// HTTP/2's requests counted from its frames (probes/src/http2_frames.bpf.h), held to the
// clients' own counts: exact where the direction changes count a batch of requests as one
// exchange (a gRPC client with calls in flight, haproxy's HTTP/2 on both sides), through
// frames split across reads (large messages), on plain and vectored syscalls (node's
// writev, haproxy's send and recv); and nothing counted on a connection that is not
// HTTP/2. Control frames alone (a sidecar's WINDOW_UPDATEs, either way) are no request and
// no reply: held to the hops' pairing and to a server's known 5 ms.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitForLine } from '../../lab/spawn.js';
import type { HopRecord } from '../../probes/records.js';
import type { EdgeCounter } from '../../proto/edge-metrics.js';
import { requestsOf } from '../../proto/requests.js';
import { bpfMapMaxEntries } from '../bpf-maps.js';
import { clientServerWithProbes, collect, exited } from './fixture.js';

const grpcPath = createRequire(import.meta.url).resolve('@grpc/grpc-js');

// A unary method with raw bytes for messages: no .proto needed.
const METHOD = `{ path: '/t.T/Echo', requestStream: false, responseStream: false,
  requestSerialize: (b) => b, requestDeserialize: (b) => b,
  responseSerialize: (b) => b, responseDeserialize: (b) => b }`;

function describe(s: Record<EdgeCounter, number>): string {
  return `http2 requests ${s.http2Requests}, exchanges ${s.exchanges} + ${s.multiplexedExchanges} multiplexed (${s.http2Exchanges} of them HTTP/2's)`;
}

async function grpcCalls(
  t: Parameters<typeof clientServerWithProbes>[0],
  inFlight: number,
  calls: number,
  bytes: number,
  options: Parameters<typeof clientServerWithProbes>[1] = {},
) {
  const { lab, probes } = await clientServerWithProbes(t, options);
  const server = lab.exec('server', 'grpc server', process.execPath, [
    '-e',
    `const grpc = require(${JSON.stringify(grpcPath)});
    const s = new grpc.Server();
    s.addService({ Echo: ${METHOD} }, { Echo: (call, cb) => cb(null, Buffer.alloc(${bytes})) });
    s.bindAsync('0.0.0.0:7102', grpc.ServerCredentials.createInsecure(), () => console.log('ready'));`,
  ]);
  await waitForLine(server, /^ready$/, 'grpc server');
  const client = lab.exec('client', 'grpc client', process.execPath, [
    '-e',
    `const grpc = require(${JSON.stringify(grpcPath)});
    const m = ${METHOD};
    const c = new grpc.Client('${lab.pod('server').address}:7102', grpc.credentials.createInsecure());
    let started = 0, done = 0;
    const one = () => { started++; c.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize,
      Buffer.alloc(${bytes}), (err) => { if (err) { console.log('error ' + err.message); process.exit(1); }
        if (++done === ${calls}) { console.log('done ' + done); c.close(); } else if (started < ${calls}) one(); }); };
    for (let i = 0; i < ${inFlight}; i++) one();`,
  ]);
  await waitForLine(client, new RegExp(`^done ${calls}$`), 'grpc client', 60_000);
  // The kernel's size of the map of followed connections (bpftool), while the runner runs.
  const framesMap = bpfMapMaxEntries('http2_frames');
  const got = await collect(probes);
  return {
    client: got.sum(client.pid!, 'client'),
    server: got.sum(server.pid!, 'server'),
    hello: probes.hello,
    framesMap,
  };
}

/**
 * Probes, and in the server pod haproxy with HTTP/2 on both sides (h2c in on `proxyPort`,
 * HTTP/2 to the app, `http-reuse always`) before a node HTTP/2 app on `appPort` that
 * answers each request with `replyBytes`; haproxy listed as a proxy.
 */
async function haproxyH2BothSides(
  t: Parameters<typeof clientServerWithProbes>[0],
  appPort: number,
  proxyPort: number,
  replyBytes: number,
) {
  const { lab, probes } = await clientServerWithProbes(t);
  const app = lab.exec('server', 'app', process.execPath, [
    '-e',
    `const http2 = require('node:http2');
    http2.createServer((req, res) => { req.resume(); req.on('end', () => res.end('x'.repeat(${replyBytes}))); })
      .listen(${appPort}, '127.0.0.1', () => console.log('ready'));`,
  ]);
  await waitForLine(app, /^ready$/, 'app');
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-h2-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    `global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend inbound
  bind 0.0.0.0:${proxyPort} proto h2
  default_backend app
backend app
  http-reuse always
  server app 127.0.0.1:${appPort} proto h2
`,
  );
  const proxy = lab.exec('server', 'haproxy', 'haproxy', ['-f', cfg, '-db']);
  t.after(() => proxy.kill('SIGTERM'));
  // haproxy prints nothing once it listens: wait for its port (bounded: 10 s).
  const listening = lab.exec('server', 'wait for haproxy', 'sh', [
    '-c',
    `for i in $(seq 200); do ss -Htln 'sport = :${proxyPort}' | grep -q . && echo up && exit; sleep 0.05; done`,
  ]);
  await waitForLine(listening, /^up$/, 'haproxy listening');
  probes.addProxy(proxy.pid!);
  return { lab, probes, app, proxy };
}

test('gRPC with 16 calls in flight: every call counted once at both ends', async (t) => {
  const calls = 2000;
  const { client, server, hello, framesMap } = await grpcCalls(t, 16, calls, 100);
  t.diagnostic(`client: ${describe(client)}; server: ${describe(server)}`);
  assert.equal(hello.http2Requests, true);
  assert.deepEqual(framesMap, [16384]);
  for (const s of [client, server]) {
    assert.equal(s.http2Requests, calls);
    assert.equal(requestsOf(s), calls);
  }
});

test('turned off (--no-http2-requests): no frames followed, the requests are the batches again', async (t) => {
  const calls = 2000;
  const { client, server, hello, framesMap } = await grpcCalls(t, 16, calls, 100, {
    http2Requests: false,
  });
  t.diagnostic(`client: ${describe(client)}; server: ${describe(server)}`);
  assert.equal(hello.http2Requests, false);
  assert.deepEqual(framesMap, [1], 'no room kept for connections never followed');
  for (const s of [client, server]) {
    assert.equal(s.http2Requests, 0);
    assert.equal(s.http2Exchanges, 0);
    // The direction changes: a turn's calls are one (125-131 of 2,000 when counted).
    assert.ok(requestsOf(s) > 0 && requestsOf(s) < calls / 2, describe(s));
  }
});

test('gRPC with 100 KB messages: frames followed across reads and writes', async (t) => {
  // Larger than a frame (16 KiB) and than most reads: a frame's body and at times its
  // header are split between syscalls.
  const calls = 300;
  const { client, server } = await grpcCalls(t, 4, calls, 100_000);
  t.diagnostic(`client: ${describe(client)}; server: ${describe(server)}`);
  for (const s of [client, server]) {
    assert.equal(s.http2Requests, calls);
    assert.equal(requestsOf(s), calls);
  }
});

test("haproxy with HTTP/2 on both sides: its batches' requests counted one by one", async (t) => {
  const APP = 7351;
  const PROXY = 15007;
  const STREAMS = 16;
  const REQUESTS = 3000;
  const { lab, probes, app, proxy } = await haproxyH2BothSides(t, APP, PROXY, 100);
  const client = lab.exec('client', 'client', process.execPath, [
    '-e',
    `const http2 = require('node:http2');
    const s = http2.connect('http://${lab.pod('server').address}:${PROXY}');
    let sent = 0, got = 0;
    const one = () => { sent++; const r = s.request({ ':path': '/' }); r.resume();
      r.on('end', () => { got++; if (sent < ${REQUESTS}) one(); else if (got === ${REQUESTS}) { console.log('replies ' + got); s.close(); } });
      r.end(); };
    for (let i = 0; i < ${STREAMS}; i++) one();`,
  ]);
  await waitForLine(client, new RegExp(`^replies ${REQUESTS}$`), 'client', 120_000);
  await exited(client);
  const got = await collect(probes);
  const ends = {
    client: got.sum(client.pid!, 'client'),
    'proxy downstream': got.sum(proxy.pid!, 'server'),
    'proxy upstream': got.sum(proxy.pid!, 'client'),
    app: got.sum(app.pid!, 'server'),
  };
  for (const [name, s] of Object.entries(ends)) t.diagnostic(`${name}: ${describe(s)}`);
  for (const [name, s] of Object.entries(ends)) {
    assert.equal(s.http2Requests, REQUESTS, `${name}: HTTP/2 requests`);
    assert.equal(requestsOf(s), REQUESTS, `${name}: requests`);
  }
  // What the direction changes alone count here: the batches (a request/response rhythm
  // on the wire, 16 requests a turn), far fewer than the requests.
  assert.ok(ends.app.exchanges + ends.app.multiplexedExchanges < REQUESTS / 2);
});

test('HTTP/1.1 keep-alive: not taken for HTTP/2, requests are the exchanges', async (t) => {
  const { lab, probes } = await clientServerWithProbes(t);
  const server = lab.exec('server', 'http server', process.execPath, [
    '-e',
    `require('node:http').createServer((req, res) => { req.resume(); res.end('ok'); })
      .listen(7103, '0.0.0.0', () => console.log('ready'));`,
  ]);
  await waitForLine(server, /^ready$/, 'http server');
  const requests = 300;
  const client = lab.exec('client', 'http client', process.execPath, [
    '-e',
    `const http = require('node:http');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let n = 0;
    const one = () => http.get({ host: '${lab.pod('server').address}', port: 7103, agent }, (res) => {
      res.resume(); res.on('end', () => { if (++n < ${requests}) one(); else { console.log('done ' + n); agent.destroy(); } }); });
    one();`,
  ]);
  await waitForLine(client, new RegExp(`^done ${requests}$`), 'http client');
  const got = await collect(probes);
  const ends = { client: got.sum(client.pid!, 'client'), server: got.sum(server.pid!, 'server') };
  t.diagnostic(`client: ${describe(ends.client)}; server: ${describe(ends.server)}`);
  for (const s of Object.values(ends)) {
    assert.equal(s.http2Requests, 0);
    assert.equal(s.http2Exchanges, 0);
    assert.equal(requestsOf(s), requests);
  }
});

/** An HTTP/2 frame, for the scripts below that write frames by hand. */
const PY_FRAME = `def frame(t, flags, sid, payload):
    return struct.pack('>I', len(payload))[1:] + bytes([t, flags]) + struct.pack('>I', sid) + payload
`;

// Frames written by hand, so the count's truth is known byte for byte: per round, four
// new client streams among trailers on an open stream, CONTINUATION, PRIORITY, RST_STREAM,
// PING, WINDOW_UPDATE and a frame of a type HTTP/2 does not define (to be passed over).
const CRAFTED_CLIENT = (port: number, host: string, rounds: number) => `
import socket, struct
${PY_FRAME}s = socket.create_connection(('${host}', ${port}))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.sendall(b'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n' + frame(4, 0, 0, b''))
a = 1
for k in range(${rounds}):
    r = b''.join([
        frame(1, 4, a, b'h' * 10),
        frame(0x10, 0, 0, b'x' * 5),
        frame(0, 1, a, b'd' * 100),
        frame(1, 5, a, b't' * 3),
        frame(6, 0, 0, b'p' * 8),
        frame(1, 0, a + 2, b'h' * 4),
        frame(9, 4, a + 2, b'c' * 6),
        frame(8, 0, 0, b'\\0\\0\\1\\0'),
        frame(1, 4, a + 4, b'h' * 2),
        frame(3, 0, a + 4, b'\\0\\0\\0\\x08'),
        frame(2, 0, a + 6, b'\\0' * 5),
        frame(1, 4, a + 6, b'h' * 7),
    ])
    s.sendall(r)
    a += 8
s.shutdown(socket.SHUT_WR)
s.recv(1)
print('sent', ${rounds} * 4, flush=True)
`;

const READING_SERVER = (port: number, chunk: number) => `
import socket
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('0.0.0.0', ${port}))
l.listen()
print('ready', flush=True)
c, _ = l.accept()
# The preface and the SETTINGS frame after it whole in the first read, as servers read
# them (a first read of fewer than 24 bytes is never taken for HTTP/2); then chunks.
n = len(c.recv(33, socket.MSG_WAITALL))
while True:
    b = c.recv(${chunk})
    if not b:
        break
    n += len(b)
c.close()
print('read', n, flush=True)
`;

for (const chunk of [7, 65536]) {
  test(`frames written by hand, read ${chunk} bytes at a time: new client streams counted, nothing else`, async (t) => {
    const rounds = 250;
    const port = chunk === 7 ? 7105 : 7106;
    const { lab, probes } = await clientServerWithProbes(t);
    const server = lab.exec('server', 'reading server', 'python3', [
      '-c',
      READING_SERVER(port, chunk),
    ]);
    await waitForLine(server, /^ready$/, 'reading server');
    const client = lab.exec('client', 'crafted client', 'python3', [
      '-c',
      CRAFTED_CLIENT(port, lab.pod('server').address, rounds),
    ]);
    await waitForLine(server, /^read \d+$/, 'reading server', 60_000);
    await waitForLine(client, /^sent \d+$/, 'crafted client');
    const got = await collect(probes);
    const ends = { client: got.sum(client.pid!, 'client'), server: got.sum(server.pid!, 'server') };
    t.diagnostic(`client: ${describe(ends.client)}; server: ${describe(ends.server)}`);
    // Four streams a round; trailers, CONTINUATION and the rest open none.
    assert.equal(ends.client.http2Requests, 4 * rounds, 'the client, from its writes');
    assert.equal(ends.server.http2Requests, 4 * rounds, 'the server, from its reads');
  });
}

for (const body of [false, true]) {
  test(`HTTP/2's control frames are no requests or replies: a sidecar's WINDOW_UPDATEs${body ? ', requests with a body' : ''}`, async (t) => {
    // haproxy with HTTP/2 on both sides, one request at a time: after each reply it writes
    // a WINDOW_UPDATE to the app. Taken for a forward, each was one with no request
    // (unmatched), and before the next request's, a second forward on an upstream awaiting
    // its reply, which marked the connection as carrying several at once (2,001 unmatched
    // of 2,000, and most of the upstream's exchanges counted apart, before). With a
    // request body (as every gRPC call has) it also writes one to the client after each
    // request's DATA, in the direction not followed: taken for the reply, the reply's
    // write found no reply (1,000 unpaired and 1,001 unmatched of 1,000, before).
    const APP = body ? 7353 : 7352;
    const PROXY = body ? 15009 : 15008;
    const REQUESTS = 1000;
    const { lab, probes, proxy } = await haproxyH2BothSides(t, APP, PROXY, 512);
    const request = body
      ? `s.request({ ':path': '/', ':method': 'POST' })`
      : `s.request({ ':path': '/' })`;
    const client = lab.exec('client', 'client', process.execPath, [
      '-e',
      `const http2 = require('node:http2');
      const s = http2.connect('http://${lab.pod('server').address}:${PROXY}');
      let got = 0;
      const one = () => { const r = ${request}; r.resume();
        r.on('end', () => { if (++got < ${REQUESTS}) one(); else { console.log('replies ' + got); s.close(); } });
        r.end(${body ? 'Buffer.alloc(100)' : ''}); };
      one();`,
    ]);
    await waitForLine(client, new RegExp(`^replies ${REQUESTS}$`), 'client', 120_000);
    await exited(client);
    const got = await collect(probes);
    const hops = got.records.filter(
      (r): r is HopRecord => r.type === 'hop' && r.key.tgid === proxy.pid,
    );
    const sum = (k: 'exchanges' | 'unpaired' | 'unmatchedForwards') =>
      hops.reduce((n, r) => n + r[k], 0);
    const upstream = got.sum(proxy.pid!, 'client');
    t.diagnostic(
      `hops: ${sum('exchanges')} paired, ${sum('unpaired')} unpaired, ${sum('unmatchedForwards')} unmatched forwards; upstream: ${describe(upstream)}`,
    );
    assert.ok(sum('unmatchedForwards') <= 2, 'no forward without a request');
    assert.equal(upstream.multiplexedExchanges, 0, 'one request at a time: not marked');
    assert.ok(sum('exchanges') >= REQUESTS - 2, 'every request paired');
    assert.equal(upstream.http2Requests, REQUESTS);
  });
}

// A server that answers each request with a WINDOW_UPDATE at once and its answer 5 ms
// later, written by hand: the exchange is the request to the answer, at both ends. The
// answer: a reply's HEADERS (19 bytes), or an RST_STREAM refusing the stream (13 bytes),
// which is a control frame that answers.
const ANSWERS = {
  HEADERS: { frame: "frame(1, 5, sid, b'r' * 10)", bytes: 19 },
  RST_STREAM: { frame: "frame(3, 0, sid, b'\\0\\0\\0\\x07')", bytes: 13 },
};
type Answer = keyof typeof ANSWERS;

const WINDOW_UPDATE_SERVER = (port: number, answer: Answer) => `
import socket, struct, time
${PY_FRAME}l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('0.0.0.0', ${port}))
l.listen()
print('ready', flush=True)
c, _ = l.accept()
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
c.recv(33, socket.MSG_WAITALL)  # the preface and an empty SETTINGS
n = 0
while True:
    h = c.recv(9, socket.MSG_WAITALL)
    if len(h) < 9:
        break
    c.recv(h[2], socket.MSG_WAITALL)
    sid = struct.unpack('>I', h[5:9])[0]
    c.sendall(frame(8, 0, 0, struct.pack('>I', 1000)))
    time.sleep(0.005)
    c.sendall(${ANSWERS[answer].frame})
    n += 1
print('answered', n, flush=True)
`;

const ONE_AT_A_TIME_CLIENT = (port: number, host: string, rounds: number, answer: Answer) => `
import socket, struct
${PY_FRAME}s = socket.create_connection(('${host}', ${port}), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.sendall(b'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n' + frame(4, 0, 0, b''))
for k in range(${rounds}):
    s.sendall(frame(1, 5, 2 * k + 1, b'h' * 10))
    got = 0
    while got < 13 + ${ANSWERS[answer].bytes}:
        d = s.recv(64)
        if not d:
            raise EOFError('closed')
        got += len(d)
s.close()
print('done', ${rounds}, flush=True)
`;

for (const answer of Object.keys(ANSWERS) as Answer[]) {
  test(`a peer's control frames in the direction not followed end no exchange, ${answer} does`, async (t) => {
    const rounds = 100;
    const port = answer === 'HEADERS' ? 7107 : 7108;
    const { lab, probes } = await clientServerWithProbes(t);
    const server = lab.exec('server', 'window-update server', 'python3', [
      '-c',
      WINDOW_UPDATE_SERVER(port, answer),
    ]);
    await waitForLine(server, /^ready$/, 'window-update server');
    const client = lab.exec('client', 'one-at-a-time client', 'python3', [
      '-c',
      ONE_AT_A_TIME_CLIENT(port, lab.pod('server').address, rounds, answer),
    ]);
    const answered = waitForLine(server, new RegExp(`^answered ${rounds}$`), 'server', 60_000);
    await waitForLine(client, new RegExp(`^done ${rounds}$`), 'client', 60_000);
    await answered;
    const got = await collect(probes);
    const ends = { client: got.sum(client.pid!, 'client'), server: got.sum(server.pid!, 'server') };
    for (const [name, s] of Object.entries(ends)) {
      const meanMs = s.exchangeNsSum / s.exchanges / 1e6;
      t.diagnostic(`${name}: ${describe(s)}, exchange mean ${meanMs.toFixed(3)} ms`);
      assert.equal(s.http2Requests, rounds, name);
      assert.equal(s.exchanges, rounds, `${name}: one exchange a request`);
      // To the answer, 5 ms after the request; to the WINDOW_UPDATE it was 0.015 ms at the
      // client's end (the build before).
      assert.ok(meanMs >= 5 && meanMs < 50, `${name}: exchange mean ${meanMs} ms`);
    }
  });
}
