// The pods' mesh signs in the collector: a schema 9 store gains their table and keeps all
// it held; each pod keeps the signs its agent shipped last (a replayed older batch does not
// take them back), only the labels that are signs, gone past retention like the pods'
// other rows; ingest refuses signs past their bounds; and a range's topology pods carry
// them, so each pod's cost says the mode they give with what was observed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { validateBatch } from '../../collector/ingest/validate-batch.js';
import { Queries } from '../../collector/queries.js';
import { SqliteCollectorStore } from '../../collector/store/sqlite-collector-store.js';
import { Store } from '../../collector/store/store.js';
import { type Batch, Batch as BatchCodec, type Init } from '../../proto/gen/tollgate/v1.js';
import { meshBatch } from './mesh-batches.js';
import { backToSchema, LATEST_SCHEMA } from './older-store.js';

const MINUTE = 60_000;
const AMBIENT = { 'istio.io/dataplane-mode': 'ambient' };

const asBatch = (i: number, startMs: number, extra: Partial<Init<Batch>> = {}): Batch =>
  BatchCodec.decode(
    BatchCodec.encode({
      agentId: 'a',
      bootId: 'b',
      sequence: i,
      ...meshBatch(i, startMs),
      ...extra,
    }),
  );

function withStore(name: string, run: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), `tg-${name}-`));
  try {
    run(join(dir, 'store.db'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a schema 9 store gains the signs table and keeps what it held; signs are stored from then on', () => {
  withStore('schema10', (path) => {
    const t0 = Math.floor(Date.now() / MINUTE) * MINUTE - 10 * MINUTE;
    const before = Store.open(path);
    before.commit([asBatch(1, t0)], t0 + 2000);
    const processes = before.processes();
    const ends = before.ends();
    before.close();
    const db = new Database(path);
    backToSchema(db, 9);
    assert.equal(
      (
        db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'pod_signs'").get() as {
          n: number;
        }
      ).n,
      0,
      'schema 9 has no signs table',
    );
    db.close();

    const after = Store.open(path);
    try {
      assert.deepEqual(after.processes(), processes);
      assert.deepEqual(after.ends(), ends);
      assert.deepEqual(
        [...after.podSigns(['pod:shop/pod-c'])],
        [],
        'none before its agent ships them',
      );
      after.commit(
        [
          asBatch(2, t0 + 1000, {
            podSigns: [{ namespace: 'shop', name: 'pod-c', namespaceLabels: AMBIENT }],
          }),
        ],
        t0 + 3000,
      );
      assert.deepEqual(Object.fromEntries(after.podSigns(['pod:shop/pod-c'])), {
        'pod:shop/pod-c': {
          namespaceLabels: AMBIENT,
          labels: {},
          owner: null,
          sidecarContainers: [],
        },
      });
    } finally {
      after.close();
    }
    const check = new Database(path, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), LATEST_SCHEMA);
    check.close();
  });
});

test("each pod keeps its agent's latest signs, only the labels that are signs, and not past retention", () => {
  withStore('signs', (path) => {
    const hour = 3_600_000;
    const retention = { rawMs: hour, minuteMs: 10 * hour, hourMs: 100 * hour };
    const now = Math.floor(Date.now() / hour) * hour;
    const store = Store.open(path, { retention, rollupGraceMs: 0 });
    try {
      const signsOf = () =>
        Object.fromEntries(store.podSigns(['pod:shop/pod-a', 'pod:shop/pod-c']));
      const t1 = now - 101 * hour;
      store.commit(
        [
          asBatch(1, t1, {
            podSigns: [
              {
                namespace: 'shop',
                name: 'pod-a',
                namespaceLabels: { ...AMBIENT, 'team.example/owner': 'payments' },
                labels: { 'istio.io/use-waypoint': 'wp', version: 'v2' },
                ownerKind: 'ReplicaSet',
                ownerName: 'pod-a-7d9f',
                sidecarContainers: ['istio-proxy'],
              },
            ],
          }),
        ],
        t1 + 2000,
      );
      const first = {
        'pod:shop/pod-a': {
          // Labels no sign of this collector's are not kept.
          namespaceLabels: AMBIENT,
          labels: { 'istio.io/use-waypoint': 'wp' },
          owner: { kind: 'ReplicaSet', name: 'pod-a-7d9f' },
          sidecarContainers: ['istio-proxy'],
        },
      };
      assert.deepEqual(signsOf(), first);
      // Relabelled: the next batch's signs replace them.
      store.commit(
        [asBatch(2, t1 + 1000, { podSigns: [{ namespace: 'shop', name: 'pod-a' }] })],
        t1 + 3000,
      );
      const relabelled = {
        'pod:shop/pod-a': { namespaceLabels: {}, labels: {}, owner: null, sidecarContainers: [] },
      };
      assert.deepEqual(signsOf(), relabelled);
      // A batch of before, replayed late, does not take them back.
      store.commit(
        [
          asBatch(3, t1 - 5000, {
            podSigns: [{ namespace: 'shop', name: 'pod-a', namespaceLabels: AMBIENT }],
          }),
        ],
        t1 + 4000,
      );
      assert.deepEqual(signsOf(), relabelled);

      store.maintain(now - 50 * hour);
      assert.deepEqual(signsOf(), relabelled, 'within retention: kept');
      store.maintain(now);
      assert.deepEqual(signsOf(), {}, 'past the longest retention: gone with the pod');
    } finally {
      store.close();
    }
  });
});

test('ingest refuses signs past their bounds and takes labels it does not read', () => {
  const batch = (signs: Init<Batch>['podSigns']) => asBatch(1, 1_000_000, { podSigns: signs });
  const pod = { namespace: 'shop', name: 'pod-a' };
  assert.equal(validateBatch(batch([{ ...pod, namespaceLabels: AMBIENT }])), undefined);
  assert.equal(
    validateBatch(batch([{ ...pod, labels: { 'future.istio.io/mode': 'x' } }])),
    undefined,
    "a newer agent's label is no reason to refuse the batch",
  );
  assert.equal(
    validateBatch(batch([{ ...pod, labels: { 'istio.io/use-waypoint': 'w'.repeat(254) } }])),
    'pod_signs[0].labels[istio.io/use-waypoint] is longer than 253 characters',
  );
  assert.equal(
    validateBatch(batch([{ ...pod, ownerName: 'z'.repeat(254) }])),
    'pod_signs[0].owner_name is longer than 253 characters',
  );
  const many = Object.fromEntries(Array.from({ length: 17 }, (_, k) => [`k${k}`, 'v']));
  assert.equal(
    validateBatch(batch([{ ...pod, namespaceLabels: many }])),
    'pod_signs[0].namespace_labels has 17 labels, more than 16',
  );
  assert.equal(
    validateBatch(batch([{ ...pod, sidecarContainers: Array(9).fill('istio-proxy') }])),
    'pod_signs[0] names more than 8 sidecar containers',
  );
  assert.equal(
    validateBatch(batch([{ namespace: 'shop', name: '' }])),
    'pod_signs[0].name is empty',
  );
});

test("a range's topology pods carry their signs, and each pod's cost says the mode they give", async () => {
  const store = Store.open(':memory:');
  try {
    const t0 = Math.floor(Date.now() / MINUTE) * MINUTE - 5 * MINUTE;
    // Namespace shop is ambient; pod-a and pod-b run sidecars (observed), pod-c none.
    store.commit(
      [
        asBatch(1, t0, {
          podSigns: ['pod-a', 'pod-b', 'pod-c'].map((name) => ({
            namespace: 'shop',
            name,
            namespaceLabels: AMBIENT,
          })),
        }),
      ],
      t0 + 2000,
    );
    const view = await new Queries(new SqliteCollectorStore(store)).view({
      fromMs: t0,
      toMs: t0 + MINUTE,
    });
    const pods = Object.fromEntries(view.topology.pods.map((p) => [p.name, p.mesh]));
    const signs = { namespaceLabels: AMBIENT, labels: {}, owner: null, sidecarContainers: [] };
    assert.deepEqual(pods, { 'pod-a': signs, 'pod-b': signs, 'pod-c': signs });
    assert.deepEqual(
      view.costs.map((c) => [c.name, c.mode, c.modeSigns]),
      [
        [
          'pod-a',
          'sidecar',
          [
            'sidecar haproxy in the pod',
            'namespace label istio.io/dataplane-mode=ambient, but a sidecar haproxy runs in the pod',
          ],
        ],
        [
          'pod-b',
          'sidecar',
          [
            'sidecar haproxy in the pod',
            'namespace label istio.io/dataplane-mode=ambient, but a sidecar haproxy runs in the pod',
          ],
        ],
        ['pod-c', 'ambient', ['namespace label istio.io/dataplane-mode=ambient']],
      ],
    );
  } finally {
    store.close();
  }
});

test("a pod the signs call a waypoint's carries no sidecar cost of its own, before its traffic shows", async () => {
  const store = Store.open(':memory:');
  try {
    const t0 = Math.floor(Date.now() / MINUTE) * MINUTE - 5 * MINUTE;
    // pod-b's proxy is seen as a sidecar (its traffic through it shows no node proxy yet),
    // but its labels say it is a waypoint: its cost is the pods' it serves.
    store.commit(
      [
        asBatch(1, t0, {
          podSigns: [
            {
              namespace: 'shop',
              name: 'pod-b',
              labels: { 'gateway.istio.io/managed': 'istio.io-mesh-controller' },
            },
          ],
        }),
      ],
      t0 + 2000,
    );
    const view = await new Queries(new SqliteCollectorStore(store)).view({
      fromMs: t0,
      toMs: t0 + MINUTE,
    });
    const b = view.costs.find((c) => c.name === 'pod-b')!;
    const a = view.costs.find((c) => c.name === 'pod-a')!;
    assert.equal(b.mode, 'waypoint');
    assert.deepEqual([b.sidecar, b.inbound, b.outbound], [null, null, null]);
    // The other pods are as before.
    assert.equal(a.mode, 'sidecar');
    assert.notEqual(a.sidecar, null);
    assert.notEqual(a.inbound ?? a.outbound, null);
  } finally {
    store.close();
  }
});
