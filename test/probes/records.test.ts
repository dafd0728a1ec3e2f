// The runner's record layout as C lays it out and as the decoder reads it, and the
// decoder's handling of a stream cut anywhere or corrupted.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { DEFAULT_RUNNER } from '../../probes/probe-source.js';
import { FORMAT_VERSION, LAYOUT, RECORD_MAGIC, RecordDecoder } from '../../probes/records.js';

test('C and TypeScript agree on the record layout', () => {
  const c = JSON.parse(execFileSync(DEFAULT_RUNNER, ['--layout'], { encoding: 'utf8' }));
  assert.deepEqual(c, {
    format_version: FORMAT_VERSION,
    magic: RECORD_MAGIC,
    header: LAYOUT.header,
    edge_key: LAYOUT.edgeKey,
    edge_stats: LAYOUT.edgeStats,
    edge_record: LAYOUT.edgeRecord,
    hist_record: LAYOUT.histRecord,
    tuple_record: LAYOUT.tupleRecord,
    hop_record: LAYOUT.hopRecord,
    interval_record: LAYOUT.intervalRecord,
    process_record: LAYOUT.processRecord,
    offsets: LAYOUT.offsets,
  });
});

function record(
  type: number,
  payload: Uint8Array,
  version = FORMAT_VERSION,
  magic = RECORD_MAGIC,
): Uint8Array {
  const out = new Uint8Array(LAYOUT.header + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic, true);
  view.setUint16(4, version, true);
  view.setUint16(6, type, true);
  view.setUint32(8, payload.length, true);
  out.set(payload, LAYOUT.header);
  return out;
}

function edgePayload(): Uint8Array {
  const p = new Uint8Array(LAYOUT.edgeRecord);
  const v = new DataView(p.buffer);
  v.setUint32(0, 4242, true);
  v.setUint16(4, 10, true); // AF_INET6
  v.setUint8(6, 2);
  p.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8);
  p.set([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24);
  v.setUint16(40, 8080, true);
  v.setUint32(44, 4026531840, true); // the socket's network namespace
  v.setBigUint64(LAYOUT.edgeKey + LAYOUT.offsets['stats.bytes_received']!, 123456789n, true);
  return p;
}

test('a stream cut at every byte decodes to the same records', () => {
  const hello = new TextEncoder().encode('{"format_version":2,"kernel":"k","programs":[]}');
  const stream = new Uint8Array([...record(1, hello), ...record(2, edgePayload())]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const d = new RecordDecoder();
    const records = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
    assert.equal(records.length, 2, `cut at ${cut}`);
    assert.equal(d.leftover, 0);
  }
  const [, edge] = new RecordDecoder().push(stream);
  assert.equal(edge?.type, 'edge');
  if (edge?.type === 'edge') {
    assert.deepEqual(edge.key, {
      tgid: 4242,
      family: 6,
      side: 'server',
      localAddress: '2001:db8::1',
      remoteAddress: 'fe80::2',
      servicePort: 8080,
      netnsInode: 4026531840,
    });
    assert.equal(edge.bytesReceived, 123456789);
  }
});

test('corrupt streams are refused with the reason', () => {
  assert.throws(
    () => new RecordDecoder().push(record(2, edgePayload(), 1, 0xdeadbeef)),
    /bad magic at byte 0/,
  );
  assert.throws(
    () => new RecordDecoder().push(record(2, edgePayload(), FORMAT_VERSION + 1)),
    new RegExp(`format version ${FORMAT_VERSION + 1}, this decoder reads ${FORMAT_VERSION}`),
  );
  assert.throws(
    () => new RecordDecoder().push(record(2, new Uint8Array(10))),
    new RegExp(`10 bytes, expected ${LAYOUT.edgeRecord}`),
  );
  assert.throws(
    () => new RecordDecoder().push(record(9, new Uint8Array(0))),
    /unknown record type 9/,
  );
  assert.throws(
    () => new RecordDecoder().push(record(6, new TextEncoder().encode('{"name":'))),
    /programs record is not JSON/,
  );
});

test('a programs record carries each program cost', () => {
  const json = '[{"name":"tg_sendmsg","run_cnt":12,"run_time_ns":3456}]';
  const [decoded] = new RecordDecoder().push(record(6, new TextEncoder().encode(json)));
  assert.deepEqual(decoded, {
    type: 'programs',
    programs: [{ name: 'tg_sendmsg', runCount: 12, runTimeNs: 3456 }],
  });
});
