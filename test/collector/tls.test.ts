// gRPC ingest over TLS and mTLS, with certificates made for the test: an agent that
// trusts the collector's CA and presents a certificate the collector's CA signed gets its
// batches stored; one without a certificate, with a stranger's, or that does not trust
// the collector, stores nothing and says why.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Shipper, type ShipperTls } from '../../daemonset/shipping/shipper.js';
import { makeTestCerts } from '../tls-certs.js';
import { startCollector } from './fixture.js';
import { meshBatch, NODE } from './mesh-batches.js';

const certs = makeTestCerts();
process.on('exit', () => certs.remove());

async function ship(target: string, tls: ShipperTls | undefined, agentId: string) {
  const shipper = new Shipper({
    target,
    tls,
    hello: { agentId, node: NODE },
    backoff: { initialMs: 50, maxMs: 200 },
  });
  shipper.start();
  shipper.send(meshBatch(1, Date.now() - 2000));
  const flushed = await shipper.flush(2500);
  const stats = shipper.stats();
  await shipper.stop(0);
  return { flushed, stats };
}

test('mTLS: only an agent with a certificate signed by the trusted CA is let in', async (t) => {
  const collector = await startCollector(t, {
    tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca },
  });
  const target = collector.grpcAddress;

  const good = await ship(
    target,
    { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
    'good',
  );
  assert.ok(good.flushed, JSON.stringify(good.stats));
  assert.equal(good.stats.stored, 1);

  for (const [what, tls] of [
    ['no client certificate', { ca: certs.ca }],
    [
      'a certificate from another CA',
      { ca: certs.ca, cert: certs.strangerCert, key: certs.strangerKey },
    ],
    ['no trust in the collector (plaintext)', undefined],
    [
      'trusting another CA',
      { ca: certs.strangerCert, cert: certs.clientCert, key: certs.clientKey },
    ],
  ] as const) {
    const bad = await ship(target, tls, `bad-${what}`);
    assert.equal(bad.flushed, false, what);
    assert.equal(bad.stats.stored, 0, what);
    assert.equal(bad.stats.spoolBatches, 1, `${what}: kept for later, not lost`);
    assert.ok(bad.stats.lastError, `${what}: the reason is kept`);
  }
  assert.equal(await collector.store.batchCount(), 1, 'only the good batch');
});

test('TLS without client certificates: server authentication only', async (t) => {
  const collector = await startCollector(t, {
    tls: { cert: certs.serverCert, key: certs.serverKey },
  });
  const good = await ship(collector.grpcAddress, { ca: certs.ca }, 'server-auth');
  assert.ok(good.flushed, JSON.stringify(good.stats));
  const plain = await ship(collector.grpcAddress, undefined, 'plain');
  assert.equal(plain.flushed, false, 'a plaintext agent cannot talk to a TLS collector');
});
