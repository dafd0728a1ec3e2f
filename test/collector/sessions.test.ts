// Sessions through the collector's API with a known mesh: the results of a session are
// the known counters of its window and target; export -> import -> export is byte-equal
// in both encodings; bad files are refused with a message that says what is wrong, and
// leave the store as it was.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeSessionFile, FILE_LIMITS } from '../../collector/sessions/session-file.js';
import type { SessionSummary } from '../../proto/api.js';
import { quantile } from '../../proto/histogram.js';
import { startCollector } from './fixture.js';
import { PER_INTERVAL } from './mesh-batches.js';
import { call, recorded } from './recorded-session.js';

/** The parts of a session file these tests read and break. */
interface HistogramJson {
  layout: 'HISTOGRAM_LAYOUT_LOG_LINEAR_16';
  indexes: number[];
  counts: number[];
  sum_ns: number;
}
interface EdgeJson {
  id: string;
  exchanges: number;
  bytes_sent: number;
  client_exchange_latency: HistogramJson;
}
interface SessionJson {
  format_version: number;
  smp_version: string;
  name: string;
  labels: Record<string, string>;
  start_unix_ms: number;
  end_unix_ms: number;
  target: { pod_selector: string };
  mesh_config: { mesh: string };
  latencies_ms: { p50: number; p99: number };
  sidecars: unknown[];
  tollgate: {
    pods: { pod: { namespace: string; name: string } }[];
    edges: EdgeJson[];
    latency_source: string;
    extra?: unknown;
  };
}

test('a session holds the known traffic of its window and target, SMPS-shaped', async (t) => {
  const { collector, id, other } = await recorded(t);
  const shown = (await (
    await call(collector, 'GET', `/api/sessions/${id}`)
  ).json()) as SessionSummary & {
    result: SessionJson;
  };
  assert.equal(shown.state, 'stopped');
  const r = shown.result;
  assert.equal(r.format_version, 1);
  assert.equal(r.smp_version, '0.0.1');
  assert.equal(r.name, 'baseline <b>');
  assert.deepEqual(r.labels, { mesh: 'on' });
  assert.equal(r.mesh_config.mesh, 'istio', 'detected from the istio-proxy containers');
  assert.deepEqual(
    r.tollgate.pods.map((p) => `${p.pod.namespace}/${p.pod.name}`),
    ['shop/pod-a', 'shop/pod-b', 'shop/pod-c'],
  );
  assert.equal(r.sidecars.length, 2);
  const hop = r.tollgate.edges.find((e) => e.id === 'shop/pod-a/sidecar>shop/pod-b/sidecar:9080');
  assert.ok(hop, r.tollgate.edges.map((e) => e.id).join(', '));
  assert.equal(hop.exchanges, 5 * PER_INTERVAL.exchanges);
  assert.equal(hop.bytes_sent, 5 * PER_INTERVAL.bytesOut);
  assert.equal(r.tollgate.latency_source, 'entry');
  // The only way into the target with latencies is pod-a's sidecar calling pod-b: the
  // headline is that edge's client-side exchange latency.
  const c = hop.client_exchange_latency;
  const p50 = quantile(
    { layout: c.layout, indexes: c.indexes, counts: c.counts, sumNs: c.sum_ns },
    0.5,
  )!;
  assert.equal(r.latencies_ms.p50, Number((p50 / 1e6).toPrecision(4)));
  assert.ok(r.latencies_ms.p50 <= r.latencies_ms.p99);
  const elsewhere = (await (await call(collector, 'GET', `/api/sessions/${other}`)).json()) as {
    result: SessionJson;
  };
  assert.equal(elsewhere.result.tollgate.pods.length, 0, 'a target elsewhere holds nothing');
  assert.equal(elsewhere.result.tollgate.edges.length, 0);
});

test('export -> import -> export is byte-equal, in JSON and in protobuf', async (t) => {
  const { collector, id } = await recorded(t);
  const second = await startCollector(t);
  const json = new Uint8Array(
    await (await call(collector, 'GET', `/api/sessions/${id}/export?format=json`)).arrayBuffer(),
  );
  const pb = new Uint8Array(
    await (await call(collector, 'GET', `/api/sessions/${id}/export?format=pb`)).arrayBuffer(),
  );
  const imported = await call(second, 'POST', '/api/sessions/import?format=json', { bytes: json });
  assert.equal(imported.status, 201, await imported.clone().text());
  assert.equal(((await imported.json()) as SessionSummary).state, 'imported');
  const again = new Uint8Array(
    await (await call(second, 'GET', `/api/sessions/${id}/export?format=json`)).arrayBuffer(),
  );
  assert.deepEqual(again, json, 'JSON round trip');
  const pbAgain = new Uint8Array(
    await (await call(second, 'GET', `/api/sessions/${id}/export?format=pb`)).arrayBuffer(),
  );
  assert.deepEqual(pbAgain, pb, 'the same content in protobuf');
  const third = await startCollector(t);
  assert.equal(
    (await call(third, 'POST', '/api/sessions/import?format=pb', { bytes: pb })).status,
    201,
  );
  const fromPb = new Uint8Array(
    await (await call(third, 'GET', `/api/sessions/${id}/export?format=json`)).arrayBuffer(),
  );
  assert.deepEqual(fromPb, json, 'protobuf in, the same JSON out');
  const cmp = (await (
    await call(second, 'GET', `/api/sessions/compare?a=${id}&b=${id}`)
  ).json()) as {
    significant: number;
  };
  assert.equal(cmp.significant, 0, 'a session compared with itself differs in nothing');
});

test('bad session files are refused with what is wrong, and change nothing', async (t) => {
  const { collector, id } = await recorded(t);
  const json = await (
    await call(collector, 'GET', `/api/sessions/${id}/export?format=json`)
  ).text();
  const pb = new Uint8Array(
    await (await call(collector, 'GET', `/api/sessions/${id}/export?format=pb`)).arrayBuffer(),
  );
  const target = await startCollector(t);
  const edit = (change: (file: SessionJson) => void) => {
    const file = JSON.parse(json);
    change(file);
    return new TextEncoder().encode(JSON.stringify(file));
  };
  // An edge whose histogram has several buckets, to put out of order.
  const wide = (JSON.parse(json) as SessionJson).tollgate.edges.findIndex(
    (e) => e.client_exchange_latency.indexes.length >= 2,
  );
  const cases: [string, Uint8Array, 'json' | 'pb', number, RegExp][] = [
    [
      'corrupt',
      new TextEncoder().encode('{"format_version": 1, "id": ]'),
      'json',
      400,
      /not JSON \(truncated or corrupt\?\)/,
    ],
    [
      'truncated JSON',
      new TextEncoder().encode(json.slice(0, json.length / 2)),
      'json',
      400,
      /not JSON \(truncated or corrupt\?\)/,
    ],
    [
      'truncated protobuf',
      pb.slice(0, pb.length - 7),
      'pb',
      400,
      /not a session protobuf \(truncated or corrupt\?\)/,
    ],
    [
      'wrong version',
      edit((f) => {
        f.format_version = 2;
      }),
      'json',
      400,
      /format_version 2 is not supported: this Tollgate reads version 1/,
    ],
    [
      'unknown field',
      edit((f) => {
        f.tollgate.extra = 1;
      }),
      'json',
      400,
      /tollgate\.extra is not a field of TollgateResults/,
    ],
    [
      'wrong type',
      edit((f) => {
        (f.latencies_ms as Record<string, unknown>).p50 = 'fast';
      }),
      'json',
      400,
      /latencies_ms\.p50 must be a finite number, got string "fast"/,
    ],
    [
      'broken histogram',
      edit((f) => {
        f.tollgate.edges[wide]!.client_exchange_latency.indexes.reverse();
      }),
      'json',
      400,
      new RegExp(
        `tollgate\\.edges\\[${wide}\\]\\.client_exchange_latency: bucket indexes not strictly ascending`,
      ),
    ],
    [
      'negative count',
      edit((f) => {
        f.tollgate.edges[0]!.bytes_sent = -1;
      }),
      'json',
      400,
      /tollgate\.edges\[0\]\.bytes_sent must be an integer in the range of uint64/,
    ],
    [
      'time backwards',
      edit((f) => {
        f.end_unix_ms = f.start_unix_ms - 1;
      }),
      'json',
      400,
      /end_unix_ms is before start_unix_ms/,
    ],
    [
      'bad selector',
      edit((f) => {
        f.target.pod_selector = 'app in (a';
      }),
      'json',
      400,
      /target: unbalanced parentheses/,
    ],
    ['oversized', new Uint8Array(FILE_LIMITS.bytes + 1), 'pb', 413, /too large/i],
  ];
  for (const [what, bytes, format, status, message] of cases) {
    const response = await call(target, 'POST', `/api/sessions/import?format=${format}`, { bytes });
    const body = (await response.json()) as { message: string };
    assert.equal(response.status, status, `${what}: ${body.message}`);
    assert.match(body.message, message, what);
  }
  // The pure reader says the same of an oversized file without the HTTP limit in front.
  assert.throws(
    () => decodeSessionFile(new Uint8Array(FILE_LIMITS.bytes + 1), 'json'),
    /more than the limit of 33554432/,
  );
  assert.equal((await target.sessions.list()).length, 0, 'nothing stored');
  assert.equal(
    (
      await call(target, 'POST', '/api/sessions/import?format=json', {
        bytes: new TextEncoder().encode(json),
      })
    ).status,
    201,
  );
  const twice = await call(target, 'POST', '/api/sessions/import?format=json', {
    bytes: new TextEncoder().encode(json),
  });
  assert.equal(twice.status, 409, 'the same session twice');
  assert.equal((await target.sessions.list()).length, 1);
});

test('sessions API: a running session has no export yet; unknown ids and bad starts are clear errors', async (t) => {
  const collector = await startCollector(t);
  const started = await call(collector, 'POST', '/api/sessions', {
    json: { name: 'live', target: { podSelector: 'app=web,tier notin (db)' } },
  });
  assert.equal(started.status, 201);
  const { id } = (await started.json()) as SessionSummary;
  const early = await call(collector, 'GET', `/api/sessions/${id}/export`);
  assert.equal(early.status, 409);
  assert.match(
    ((await early.json()) as { message: string }).message,
    /no results until it is stopped/,
  );
  const missing = await call(collector, 'POST', '/api/sessions/nope/stop');
  assert.equal(missing.status, 404);
  for (const [body, message] of [
    [{ name: 'x', target: { podSelector: `app=${'x'.repeat(70)}` } }, /bad label value/],
    [
      { name: 'x', load: { urls: ['ftp://a'], rps: 10, connections: 1, durationS: 1 } },
      /not an http:\/\/ URL/,
    ],
    [
      { name: 'x', load: { urls: ['http://10.0.0.1:1/'], rps: 10, connections: 1, durationS: 1 } },
      /no agent is connected/,
    ],
    [{ name: 'x', colour: 'red' }, /must NOT have additional properties/],
  ] as const) {
    const response = await call(collector, 'POST', '/api/sessions', { json: body });
    assert.ok(response.status >= 400 && response.status < 600, JSON.stringify(body));
    assert.match(((await response.json()) as { message: string }).message, message);
  }
  const stopped = await call(collector, 'POST', `/api/sessions/${id}/stop`);
  assert.equal(((await stopped.json()) as SessionSummary).state, 'stopped');
  assert.equal((await call(collector, 'DELETE', `/api/sessions/${id}`)).status, 204);
  assert.equal((await call(collector, 'GET', `/api/sessions/${id}`)).status, 404);
});
