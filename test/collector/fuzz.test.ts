// Fuzzing the collector's three doors: the gRPC ingest (random bytes, mutated batches and
// hellos), session import files (mutated JSON documents, mutated JSON and protobuf
// bytes) and the HTTP API's parameters. Whatever comes in: the collector keeps running,
// every refusal is a clear error (a status with details, an ack with a reason, a 4xx with
// a message; never a 500), and a refused input leaves the store exactly as it was.
// Seeded: a failure names its seed and case, and FUZZ_SEED=n runs another sequence.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import Database from 'better-sqlite3';
import type { Collector } from '../../collector/collector.js';
import { batchMessage } from '../../daemonset/shipping/shipper.js';
import { AgentMessage, Batch, type Init } from '../../proto/gen/tollgate/v1.js';
import { startCollector } from './fixture.js';
import { meshBatch, NODE } from './mesh-batches.js';
import { type Json, mutateBytes, mutateJson, prng, randomBytes } from './mutate.js';
import { encode, exchange } from './raw-client.js';
import { call, recorded } from './recorded-session.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261122);

/** A collector whose store the test can read beside it, and a count of every table's rows. */
async function collectorWithRows(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-fuzz-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const database = join(dir, 'store.db');
  const collector = await startCollector(t, { database });
  const rows = () => {
    const db = new Database(database, { readonly: true });
    try {
      const tables = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .all() as { name: string }[];
      return Object.fromEntries(
        tables.map(({ name }) => [
          name,
          (db.prepare(`SELECT COUNT(*) AS n FROM "${name}"`).get() as { n: number }).n,
        ]),
      );
    } finally {
      db.close();
    }
  };
  return { collector, rows };
}

const healthy = async (collector: Collector) =>
  (await fetch(`${collector.httpUrl}/healthz`)).status === 200;

test('fuzzed ingest: random and mutated messages never crash the collector or store part of a batch', async (t) => {
  const { collector, rows } = await collectorWithRows(t);
  const random = prng(SEED);
  const hello = { agentId: 'agent-f', bootId: 'boot-f', node: NODE, agentVersion: '1' };
  const helloBytes = encode({ hello });
  const batchBytes = (sequence: number) =>
    Batch.encode({
      ...meshBatch(sequence, Date.now() - 5000),
      agentId: hello.agentId,
      bootId: hello.bootId,
      sequence,
    });
  const valid = batchBytes(1);
  const wrap = (batch: Uint8Array) =>
    Buffer.from(AgentMessage.encode({ batch: Batch.decode(batch) }));
  // The good hello's agent is registered once, before the cases.
  await exchange(collector.grpcAddress, [helloBytes]);
  const CASES = 400;
  const seen = { stored: 0, duplicate: 0, rejected: 0, refused: 0 };
  let sequence = 1;
  for (let i = 0; i < CASES; i++) {
    const where = `seed ${SEED} case ${i}`;
    let messages: Buffer[];
    switch (i % 5) {
      case 0: // random bytes after a good hello
        messages = [helloBytes, Buffer.from(randomBytes(random, 1 + Math.floor(random() * 2000)))];
        break;
      case 1: // a mutated message, framing included
        messages = [helloBytes, Buffer.from(mutateBytes(random, wrap(valid)))];
        break;
      case 2: // a mutated batch, well framed
        messages = [helloBytes, batchMessage(mutateBytes(random, batchBytes(++sequence)))];
        break;
      case 3: // a mutated hello before a good batch
        messages = [Buffer.from(mutateBytes(random, helloBytes)), wrap(batchBytes(++sequence))];
        break;
      default: {
        // A well-formed batch with odd values in its fields (what the encoder accepts).
        const fields = mutateJson(random, {
          ...meshBatch(++sequence, Date.now() - 5000),
          agentId: hello.agentId,
          bootId: hello.bootId,
          sequence,
        } as unknown as Json) as unknown as Init<Batch>;
        let bytes: Uint8Array;
        try {
          bytes = Batch.encode(fields);
        } catch {
          bytes = batchBytes(sequence); // the encoder refused it: send the batch unmutated
        }
        messages = [helloBytes, batchMessage(bytes)];
      }
    }
    const before = rows();
    const r = await exchange(collector.grpcAddress, messages, {
      waitForAcks: 1,
      ackTimeoutMs: 3000,
    });
    const ack = r.messages.find((m) => m.ack)?.ack;
    if (ack?.status === 'ACK_STATUS_STORED') {
      seen.stored++;
      assert.equal(rows().batches, before.batches! + 1, where);
      continue;
    }
    if (ack) {
      assert.ok(
        ack.status === 'ACK_STATUS_REJECTED' || ack.status === 'ACK_STATUS_DUPLICATE',
        `${where}: ${ack.status}`,
      );
      if (ack.status === 'ACK_STATUS_REJECTED') {
        seen.rejected++;
        assert.ok(ack.error.length > 0, `${where}: a rejection says why`);
      } else seen.duplicate++;
    } else {
      seen.refused++;
      assert.notEqual(r.code, 0, `${where}: neither an ack nor an error status`);
      assert.ok(r.details.length > 0, `${where}: the error status says why`);
    }
    // A mutated hello that is still valid registers its agent: that part was accepted.
    const after = rows();
    if (i % 5 === 3) after.agents = before.agents!;
    assert.deepEqual(after, before, `${where}: nothing of a refused input is stored`);
  }
  t.diagnostic(`seed ${SEED}: ${JSON.stringify(seen)}`);
  assert.ok(
    seen.refused > 0 && seen.rejected > 0,
    'both the decoder and the validator were reached',
  );
  assert.ok(await healthy(collector));

  // Still takes a good batch, whole.
  const after = rows();
  const r = await exchange(collector.grpcAddress, [helloBytes, wrap(batchBytes(++sequence))], {
    waitForAcks: 1,
  });
  const last = r.messages.find((m) => m.ack)?.ack;
  assert.equal(last?.status, 'ACK_STATUS_STORED', last?.error);
  assert.equal(rows().batches, after.batches! + 1);
});

test('bad hellos are refused with the reason, and register no agent', async (t) => {
  const { collector, rows } = await collectorWithRows(t);
  const before = rows();
  const cases: [object, RegExp][] = [
    [{ agentId: '', bootId: 'b', node: NODE }, /agent_id is empty/],
    [{ agentId: 'a', bootId: '', node: NODE }, /boot_id is empty/],
    [{ agentId: 'a'.repeat(300), bootId: 'b', node: NODE }, /agent_id is longer than 256/],
    [
      { agentId: 'a', bootId: 'b', node: NODE, nodeInfo: { osImage: 'x'.repeat(5000) } },
      /node_info\.os_image is longer than 256/,
    ],
  ];
  for (const [hello, message] of cases) {
    const r = await exchange(collector.grpcAddress, [encode({ hello })]);
    assert.equal(r.code, 3, JSON.stringify(hello).slice(0, 80)); // INVALID_ARGUMENT
    assert.match(r.details, message);
  }
  const good = encode({ hello: { agentId: 'a', bootId: 'b', node: NODE } });
  const twice = await exchange(collector.grpcAddress, [good, good]);
  assert.equal(twice.code, 3);
  assert.match(twice.details, /one hello/);
  const nothing = await exchange(collector.grpcAddress, [good, encode({})]);
  assert.equal(nothing.code, 9); // FAILED_PRECONDITION
  assert.match(nothing.details, /after the hello, every message must be a batch/);
  const { agents, ...rest } = rows();
  const { agents: agentsBefore, ...restBefore } = before;
  assert.equal(agents, (agentsBefore ?? 0) + 1, 'only the good hello registered its agent');
  assert.deepEqual(rest, restBefore);
});

test('fuzzed session imports: every file is taken whole or refused with a 4xx that says why', async (t) => {
  const { collector: source, id } = await recorded(t);
  const json = await (await call(source, 'GET', `/api/sessions/${id}/export?format=json`)).text();
  const pb = new Uint8Array(
    await (await call(source, 'GET', `/api/sessions/${id}/export?format=pb`)).arrayBuffer(),
  );
  const { collector: target, rows } = await collectorWithRows(t);
  const random = prng(SEED + 1);
  const document = JSON.parse(json);
  const encoder = new TextEncoder();
  const CASES = 240;
  const seen: Record<number, number> = {};
  for (let i = 0; i < CASES; i++) {
    const where = `seed ${SEED + 1} case ${i}`;
    const [format, bytes] =
      i % 3 === 0
        ? (['json', encoder.encode(JSON.stringify(mutateJson(random, document)))] as const)
        : i % 3 === 1
          ? (['json', mutateBytes(random, encoder.encode(json))] as const)
          : (['pb', mutateBytes(random, pb)] as const);
    const before = rows();
    const response = await call(target, 'POST', `/api/sessions/import?format=${format}`, {
      bytes,
    });
    seen[response.status] = (seen[response.status] ?? 0) + 1;
    const body = (await response.json()) as { id?: string; message?: string };
    if (response.status === 201) {
      // Taken whole: it exports again, and is removed for the next case.
      const again = await call(target, 'GET', `/api/sessions/${body.id}/export?format=pb`);
      assert.equal(again.status, 200, where);
      assert.equal((await call(target, 'DELETE', `/api/sessions/${body.id}`)).status, 204, where);
      continue;
    }
    assert.ok([400, 409, 413].includes(response.status), `${where}: ${response.status}`);
    assert.ok(body.message && body.message.length > 0, `${where}: the refusal says why`);
    assert.deepEqual(rows(), before, `${where}: a refused file changes nothing`);
  }
  t.diagnostic(`seed ${SEED + 1}: statuses ${JSON.stringify(seen)}`);
  assert.ok((seen[400] ?? 0) > CASES / 2, 'most mutations are refused');
  assert.ok(await healthy(target));
  assert.equal(
    (await call(target, 'POST', '/api/sessions/import?format=pb', { bytes: pb })).status,
    201,
    'the unmutated file is still taken',
  );
});

test('fuzzed HTTP parameters: never a 500, always a message with a 4xx', async (t) => {
  const { collector } = await recorded(t);
  const random = prng(SEED + 2);
  const values = [
    '',
    '0',
    '-1',
    '1.5',
    '1e400',
    '9007199254740993',
    'NaN',
    'abc',
    "' OR 1=1 --",
    '<svg onload=alert(1)>',
    '%00',
    '%ff%fe',
    '\u202e',
    'x'.repeat(5000),
    '[]',
    '{}',
    'json',
    'pb',
    'yaml',
  ];
  const keys = ['from', 'to', 'window', 'step', 'format', 'a', 'b', 'token', 'bogus', 'from[]', ''];
  const paths = [
    '/api/topology',
    '/api/processes',
    '/api/pods',
    '/api/agents',
    '/api/pods/{s}/{s}',
    '/api/edges/{s}',
    '/api/sessions',
    '/api/sessions/{s}',
    '/api/sessions/{s}/export',
    '/api/sessions/compare',
  ];
  const some = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  const CASES = 600;
  const seen: Record<number, number> = {};
  for (let i = 0; i < CASES; i++) {
    const path = some(paths).replaceAll('{s}', () => encodeURIComponent(some(values)) || 'x');
    const query = Array.from(
      { length: Math.floor(random() * 4) },
      () => `${encodeURIComponent(some(keys))}=${encodeURIComponent(some(values))}`,
    ).join('&');
    const url = `${collector.httpUrl}${path}${query ? `?${query}` : ''}`;
    const response = await fetch(url);
    seen[response.status] = (seen[response.status] ?? 0) + 1;
    const text = await response.text();
    const where = `seed ${SEED + 2} case ${i}: GET ${url.slice(0, 200)} -> ${response.status} ${text.slice(0, 200)}`;
    assert.ok(response.status < 500, where);
    if (response.status >= 400) {
      const body = JSON.parse(text) as { message?: string };
      assert.ok(body.message && body.message.length > 0, where);
    }
  }
  t.diagnostic(`seed ${SEED + 2}: statuses ${JSON.stringify(seen)}`);
  assert.ok((seen[200] ?? 0) > 0 && (seen[400] ?? 0) > 0 && (seen[404] ?? 0) > 0);
  assert.ok(await healthy(collector));
});
