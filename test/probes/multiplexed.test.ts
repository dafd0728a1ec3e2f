// Connections that carry several requests at once, recognised at any process (not only a
// proxy) without parsing a protocol: an app's own gRPC with calls in flight together is
// marked (its direction changes counted apart, untimed); request/response connections are
// not, even where each reply arrives while its request's write is still returning
// (a tight loopback ping-pong) or where TLS 1.3 session tickets come unasked.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { waitForLine } from '../../lab/spawn.js';
import { makeTestCerts, type TestCerts } from '../tls-certs.js';
import { clientServerWithProbes, collect } from './fixture.js';

const grpcPath = createRequire(import.meta.url).resolve('@grpc/grpc-js');

// A unary method with raw bytes for messages: no .proto needed.
const METHOD = `{ path: '/t.T/Echo', requestStream: false, responseStream: false,
  requestSerialize: (b) => b, requestDeserialize: (b) => b,
  responseSerialize: (b) => b, responseDeserialize: (b) => b }`;

async function grpcRun(
  t: Parameters<typeof clientServerWithProbes>[0],
  inFlight: number,
  calls: number,
) {
  const { lab, probes } = await clientServerWithProbes(t);
  const server = lab.exec('server', 'grpc server', process.execPath, [
    '-e',
    `const grpc = require(${JSON.stringify(grpcPath)});
    const s = new grpc.Server();
    // Each call answered after its own delay, 0 to 4 ms: replies leave one by one while
    // other calls wait, as they do when calls differ. (One delay for all let a busy
    // machine's timers fire together: the replies then left in one write, the client sent
    // the next calls in one, and the connection ran in lockstep batches, which on the wire
    // are request/response exchanges: CI saw 308 of them, none marked.)
    let n = 0;
    s.addService({ Echo: ${METHOD} }, { Echo: (call, cb) => setTimeout(() => cb(null, Buffer.alloc(200)), n++ % 5) });
    s.bindAsync('0.0.0.0:7101', grpc.ServerCredentials.createInsecure(), () => console.log('ready'));`,
  ]);
  await waitForLine(server, /^ready$/, 'grpc server');
  const client = lab.exec('client', 'grpc client', process.execPath, [
    '-e',
    `const grpc = require(${JSON.stringify(grpcPath)});
    const m = ${METHOD};
    const c = new grpc.Client('${lab.pod('server').address}:7101', grpc.credentials.createInsecure());
    let started = 0, done = 0;
    const one = () => { started++; c.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize,
      Buffer.alloc(100), (err) => { if (err) { console.log('error ' + err.message); process.exit(1); }
        if (++done === ${calls}) { console.log('done'); c.close(); } else if (started < ${calls}) one(); }); };
    for (let i = 0; i < ${inFlight}; i++) one();`,
  ]);
  await waitForLine(client, /^done$/, 'grpc client', 60_000);
  const got = await collect(probes);
  return { client: got.sum(client.pid!, 'client'), server: got.sum(server.pid!, 'server'), calls };
}

test("an app's own gRPC with 16 calls in flight: its client marks the connection, exchanges untimed", async (t) => {
  const { client, server, calls } = await grpcRun(t, 16, 4000);
  t.diagnostic(
    `client: ${client.exchanges} timed, ${client.multiplexedExchanges} multiplexed; server: ${server.exchanges} timed, ${server.multiplexedExchanges} multiplexed`,
  );
  // Marked within its first exchanges (2,000 calls: 2 to 41 timed and 111 to 170 apart in
  // some twenty runs, the latest mark after 56); without the mark every one is timed.
  // With 4,000 calls most come after any mark seen.
  assert.ok(client.multiplexedExchanges > 0, 'client: marked multiplexed');
  assert.ok(
    client.multiplexedExchanges >= client.exchanges,
    'client: most exchanges counted apart',
  );
  // The server reads every pending request before it writes a reply (HTTP/2 flushes
  // after reading), so it may see nothing unasked; the collector marks the edge from
  // either end. Its direction changes are at most one per call either way.
  for (const s of [client, server]) assert.ok(s.exchanges + s.multiplexedExchanges <= calls + 10);
});

test('a pipelining client (8 fixed-size requests kept in flight): marked', async (t) => {
  const { lab, probes } = await clientServerWithProbes(t);
  // Each 32-byte request gets a 64-byte reply of its own 0.2 to 1 ms later, however the
  // bytes were split, so replies come one by one and the client tops its pipeline up as
  // they do. (A server that answers a whole batch in one write turns pipelining into
  // lockstep batches, which on the wire are request/response exchanges of 8 requests.)
  const server = lab.exec('server', 'server', process.execPath, [
    '-e',
    `require('node:net').createServer((s) => { let rest = 0, k = 0;
      s.on('data', (d) => { rest += d.length; for (; rest >= 32; rest -= 32)
        setTimeout(() => s.write(Buffer.alloc(64)), 0.2 + (k++ % 5) * 0.2); });
    }).listen(7104, '0.0.0.0', () => console.log('ready'));`,
  ]);
  await waitForLine(server, /^ready$/, 'server');
  const requests = 2000;
  const client = lab.exec('client', 'pipelining client', process.execPath, [
    '-e',
    `const s = require('node:net').connect(7104, '${lab.pod('server').address}');
    let sent = 0, bytes = 0;
    const send = (n) => { n = Math.min(n, ${requests} - sent); if (n > 0) { sent += n; s.write(Buffer.alloc(32 * n)); } };
    s.on('connect', () => send(8));
    s.on('data', (d) => { bytes += d.length; if (bytes === 64 * ${requests}) { console.log('done'); s.end(); }
      else send(Math.floor(bytes / 64) + 8 - sent); });`,
  ]);
  await waitForLine(client, /^done$/, 'pipelining client', 60_000);
  const got = await collect(probes);
  const c = got.sum(client.pid!, 'client');
  const sv = got.sum(server.pid!, 'server');
  t.diagnostic(
    `client ${c.exchanges}/${c.multiplexedExchanges}, server ${sv.exchanges}/${sv.multiplexedExchanges} (timed/multiplexed)`,
  );
  // On loopback the client's requests reach the server at once, so its replies mostly
  // acknowledge all of them; the server sees the requests sent before its replies were
  // read. The collector marks the edge from either end.
  assert.ok(c.multiplexedExchanges + sv.multiplexedExchanges > 0, 'marked at one end at least');
  for (const e of [c, sv]) assert.ok(e.exchanges + e.multiplexedExchanges <= requests);
});

test('sequential gRPC calls are request/response: every call timed, nothing marked', async (t) => {
  const { client, server, calls } = await grpcRun(t, 1, 2000);
  t.diagnostic(
    `client: ${client.exchanges} timed, ${client.multiplexedExchanges} multiplexed; server: ${server.exchanges} timed, ${server.multiplexedExchanges} multiplexed`,
  );
  assert.equal(client.multiplexedExchanges + server.multiplexedExchanges, 0);
  // A few more: the connection's HTTP/2 preface and SETTINGS, and its control frames now
  // and then (1 to 5 more seen for 400 to 2,000 calls).
  for (const s of [client, server]) assert.ok(s.exchanges >= calls && s.exchanges <= calls + 20);
});

test('request/response connections are never marked: a tight loopback ping-pong and TLS 1.3', async (t) => {
  const certs: TestCerts = makeTestCerts();
  t.after(() => certs.remove());
  const { lab, probes } = await clientServerWithProbes(t);
  // Replies at once, on one core each: a reply often arrives while its request's write
  // has not yet returned, which a check by time would take for a second request.
  const exchanges = 3000;
  const server = lab.exec('server', 'server', process.execPath, [
    '-e',
    `const tls = require('node:tls'), fs = require('node:fs');
    const echo = (s) => s.on('data', (d) => s.write(Buffer.alloc(64)));
    require('node:net').createServer(echo).listen(7102, '0.0.0.0');
    tls.createServer({ key: fs.readFileSync(${JSON.stringify(certs.files.serverKey)}),
      cert: fs.readFileSync(${JSON.stringify(certs.files.serverCert)}), minVersion: 'TLSv1.3' }, echo)
      .listen(7103, '0.0.0.0', () => console.log('ready'));`,
  ]);
  await waitForLine(server, /^ready$/, 'server');
  const pingPong = (name: string, connect: string) =>
    lab.exec('client', name, process.execPath, [
      '-e',
      `const tls = require('node:tls'), fs = require('node:fs');
      const s = ${connect};
      let n = 0;
      s.on('${name === 'tls' ? 'secureConnect' : 'connect'}', () => s.write(Buffer.alloc(32)));
      s.on('data', () => { if (++n < ${exchanges}) s.write(Buffer.alloc(32)); else { console.log('done'); s.end(); } });`,
    ]);
  const address = lab.pod('server').address;
  const plain = pingPong('plain', `require('node:net').connect(7102, '${address}')`);
  await waitForLine(plain, /^done$/, 'plain', 60_000);
  const secure = pingPong(
    'tls',
    `tls.connect({ host: '${address}', port: 7103, ca: fs.readFileSync(${JSON.stringify(certs.files.ca)}),
      checkServerIdentity: () => undefined, minVersion: 'TLSv1.3' })`,
  );
  await waitForLine(secure, /^done$/, 'tls', 60_000);
  const got = await collect(probes);
  const plainEnd = got.sum(plain.pid!, 'client');
  const tlsEnd = got.sum(secure.pid!, 'client');
  const serverEnds = got.sum(server.pid!, 'server');
  t.diagnostic(
    `plain client ${plainEnd.exchanges}/${plainEnd.multiplexedExchanges}, tls client ${tlsEnd.exchanges}/${tlsEnd.multiplexedExchanges}, server ${serverEnds.exchanges}/${serverEnds.multiplexedExchanges} (timed/multiplexed)`,
  );
  assert.equal(plainEnd.multiplexedExchanges, 0, 'plain client');
  assert.equal(plainEnd.exchanges, exchanges, 'plain client: every exchange timed');
  assert.equal(tlsEnd.multiplexedExchanges, 0, 'TLS client');
  assert.equal(serverEnds.multiplexedExchanges, 0, 'servers');
  // The TLS handshake's own direction changes come on top of the requests.
  assert.ok(tlsEnd.exchanges >= exchanges && tlsEnd.exchanges <= exchanges + 4, 'TLS client');
  assert.ok(
    serverEnds.exchanges >= 2 * exchanges && serverEnds.exchanges <= 2 * exchanges + 4,
    'servers',
  );
});
