// Kernel probes against ground truth between two network-namespace pods: N connections
// with known byte counts each way; connects, accepts, bytes and exchanges exact at both ends.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { Lab } from '../../lab/lab.js';
import { ProbeSource } from '../../probes/probe-source.js';
import type { EdgeRecord } from '../../probes/records.js';

const CONNECTIONS = 25;
const REQUEST_BYTES = 3000;
const RESPONSE_BYTES = 70_001;
const PORT = 7000;

const serverScript = `
  const net = require('node:net');
  const server = net.createServer((socket) => {
    let got = 0;
    socket.on('data', (d) => {
      got += d.length;
      if (got === ${REQUEST_BYTES}) socket.end(Buffer.alloc(${RESPONSE_BYTES}, 1));
    });
  });
  server.listen(${PORT}, '0.0.0.0', () => console.log('ready'));
`;

const clientScript = (address: string) => `
  const net = require('node:net');
  (async () => {
    for (let i = 0; i < ${CONNECTIONS}; i++) {
      await new Promise((resolve, reject) => {
        const socket = net.connect(${PORT}, '${address}', () => socket.write(Buffer.alloc(${REQUEST_BYTES}, 2)));
        let got = 0;
        socket.on('data', (d) => { got += d.length; });
        socket.on('end', () => (got === ${RESPONSE_BYTES} ? resolve() : reject(new Error('short read ' + got))));
        socket.on('error', reject);
      });
    }
    console.log('done');
  })();
`;

function runIn(netns: string, script: string) {
  return spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

function firstLine(child: ReturnType<typeof runIn>): Promise<string> {
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`exited ${code}`)));
  });
}

test('connections and bytes are exact at both ends', async (t) => {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: false, app: false },
    { name: 'server', service: 'server', meshed: false, app: false },
  ]);
  t.after(() => lab.destroy());
  const probes = await ProbeSource.start({ intervalMs: 200 });
  t.after(() => probes.stop());
  assert.deepEqual(
    probes.hello.programs.map((p) => p.attach),
    ['tp_btf', 'tp_btf', 'tp_btf'],
  );

  const server = runIn(lab.pod('server').netns, serverScript);
  t.after(() => server.kill());
  assert.equal(await firstLine(server), 'ready');
  const client = runIn(lab.pod('client').netns, clientScript(lab.pod('server').address));
  assert.equal(await firstLine(client), 'done');
  await new Promise((r) => client.once('exit', r));

  await probes.stop();
  const edges: EdgeRecord[] = [];
  for await (const r of probes.records()) if (r.type === 'edge') edges.push(r);
  const sum = (tgid: number, side: string) => {
    const mine = edges.filter((e) => e.key.tgid === tgid && e.key.side === side);
    const total = (f: (e: EdgeRecord) => number) => mine.reduce((s, e) => s + f(e), 0);
    return {
      connects: total((e) => e.connects),
      accepts: total((e) => e.accepts),
      closes: total((e) => e.closes),
      bytesSent: total((e) => e.bytesSent),
      bytesReceived: total((e) => e.bytesReceived),
      exchanges: total((e) => e.exchanges),
      keys: new Set(
        mine.map((e) => `${e.key.localAddress}>${e.key.remoteAddress}:${e.key.servicePort}`),
      ),
    };
  };
  const c = sum(client.pid!, 'client');
  const s = sum(server.pid!, 'server');
  assert.equal(c.connects, CONNECTIONS);
  assert.equal(c.bytesSent, CONNECTIONS * REQUEST_BYTES);
  assert.equal(c.bytesReceived, CONNECTIONS * RESPONSE_BYTES);
  assert.equal(c.exchanges, CONNECTIONS);
  assert.equal(s.accepts, CONNECTIONS);
  assert.equal(s.bytesReceived, CONNECTIONS * REQUEST_BYTES);
  assert.equal(s.bytesSent, CONNECTIONS * RESPONSE_BYTES);
  assert.equal(s.exchanges, CONNECTIONS);
  const clientAddress = lab.pod('client').address;
  const serverAddress = lab.pod('server').address;
  assert.deepEqual(
    [...c.keys],
    [`${clientAddress}>${serverAddress}:${PORT}`],
    'one edge: ephemeral ports aggregated',
  );
  assert.deepEqual([...s.keys], [`${serverAddress}>${clientAddress}:${PORT}`]);
});
