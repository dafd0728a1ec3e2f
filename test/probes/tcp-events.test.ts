// Retransmits, drops and resets against the kernel's own accounting. Two iptables
// `statistic` rules lose the client's data segments: in the server pod's INPUT (lost on
// the wire: the client retransmits, as the client netns's TcpRetransSegs counts) and in
// the client pod's OUTPUT (dropped on the client's own socket: the rule's packet count
// is the drops; TCP retries those sends without counting a retransmission). RSTs are
// made on purpose, both ways.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runIn } from '../../lab/exec.js';
import { waitForLine } from '../../lab/spawn.js';
import { tcpCounter } from '../../lab/tcp-counters.js';
import { quantile, totalCount } from '../../proto/histogram.js';
import { clientServerWithProbes, collect, exited } from './fixture.js';

const PORT = 7100;
const BYTES = 4 * 1024 * 1024;

/** Packets matched by the rules of a chain whose target is DROP. */
function droppedByRules(netns: string, chain: string): number {
  return runIn(netns, 'iptables', ['-L', chain, '-v', '-x', '-n'])
    .split('\n')
    .filter((l) => /\sDROP\s/.test(l))
    .reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[0]), 0);
}

test('retransmits equal TcpRetransSegs and drops equal the DROP rule count', async (t) => {
  const { lab, probes } = await clientServerWithProbes(t);
  const client = lab.pod('client');
  // Only the client's data segments (not its ACKs or SYN) are lost: every 20th at each
  // place (nth, not random, so that there always is loss).
  for (const [pod, chain] of [
    ['client', 'OUTPUT'],
    ['server', 'INPUT'],
  ] as const) {
    runIn(lab.pod(pod).netns, 'iptables', [
      ...['-A', chain, '-p', 'tcp', '--dport', String(PORT)],
      ...['-m', 'length', '--length', '200:65535'],
      ...['-m', 'statistic', '--mode', 'nth', '--every', '20', '--packet', '0', '-j', 'DROP'],
    ]);
  }
  const retransBefore = tcpCounter(client.netns, 'RetransSegs');
  const server = lab.exec('server', 'sink', process.execPath, [
    '-e',
    `let got = 0;
    require('node:net').createServer((s) => s.on('data', (d) => {
      got += d.length;
      if (got === ${BYTES}) s.end('ok');
    })).listen(${PORT}, '0.0.0.0', () => console.log('ready'));`,
  ]);
  await waitForLine(server, /^ready$/, 'sink');
  const sender = lab.exec('client', 'sender', process.execPath, [
    '-e',
    `const s = require('node:net').connect(${PORT}, '${lab.pod('server').address}', () => {
      for (let i = 0; i < ${BYTES / 16384}; i++) s.write(Buffer.alloc(16384, 7));
    });
    s.on('data', (d) => { if (String(d) === 'ok') { console.log('done'); s.end(); } });`,
  ]);
  await waitForLine(sender, /^done$/, 'sender', 60_000);
  await exited(sender);
  const kernelRetrans = tcpCounter(client.netns, 'RetransSegs') - retransBefore;
  const ruleDrops = droppedByRules(client.netns, 'OUTPUT');
  const got = await collect(probes);
  const c = got.sum(sender.pid!, 'client');
  const s = got.sum(server.pid!, 'server');

  assert.ok(ruleDrops > 0, 'the client rule dropped packets');
  assert.ok(droppedByRules(lab.pod('server').netns, 'INPUT') > 0, 'so did the server rule');
  assert.ok(kernelRetrans > 0, 'and the client retransmitted');
  assert.equal(c.drops, ruleDrops, 'drops: the DROP rule count');
  assert.equal(c.retransmits, kernelRetrans, 'retransmits: TcpRetransSegs of the namespace');
  assert.equal(c.bytesSent, BYTES);
  assert.equal(s.bytesReceived, BYTES, 'bytes exact despite the loss');
  assert.equal(s.retransmits, 0);
  // srtt: sampled at the exchange and at close; a veth round trip is well under 10 ms.
  const srtt = got.histogram(sender.pid!, 'srtt');
  assert.ok(totalCount(srtt) >= 1);
  assert.ok(quantile(srtt, 0.5)! > 0 && quantile(srtt, 0.5)! < 10e6, 'srtt plausible');
});

test('resets are counted where they are sent and where they are received', async (t) => {
  const { lab, probes } = await clientServerWithProbes(t);
  const CONNECTIONS = 5;
  // The server aborts every connection (RST) after reading its request.
  const server = lab.exec('server', 'aborter', process.execPath, [
    '-e',
    `require('node:net').createServer((s) => s.on('data', () => s.resetAndDestroy()))
      .listen(${PORT}, '0.0.0.0', () => console.log('ready'));`,
  ]);
  await waitForLine(server, /^ready$/, 'aborter');
  const serverAddress = lab.pod('server').address;
  // Then one connect to a port nobody listens on: refused with an RST.
  const client = lab.exec('client', 'client', process.execPath, [
    '-e',
    `const net = require('node:net');
    (async () => {
      for (let i = 0; i < ${CONNECTIONS}; i++) {
        await new Promise((resolve) => {
          const s = net.connect(${PORT}, '${serverAddress}', () => s.write('hello'));
          s.on('error', resolve);
          s.on('close', resolve);
        });
      }
      await new Promise((resolve) => net.connect(${PORT + 1}, '${serverAddress}').on('error', resolve));
      console.log('done');
    })();`,
  ]);
  await waitForLine(client, /^done$/, 'client', 30_000);
  const got = await collect(probes);
  const c = got.sum(client.pid!, 'client');
  const s = got.sum(server.pid!, 'server');
  assert.equal(s.resetsSent, CONNECTIONS, 'the server sent one RST per connection');
  assert.equal(c.resetsReceived, CONNECTIONS + 1, 'the client received those and the refusal');
  assert.equal(c.connectErrors, 1, 'the refused connect');
  assert.equal(c.connects, CONNECTIONS);
});
