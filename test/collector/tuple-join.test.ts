// The store's join of the two ends of a connection, on synthesised batches: the kernel
// lets one client port serve connections to different destinations at once, so ends are
// joined on the client's (address, port) and initial sequence number. Tuples from an agent
// that sends no ISN (0) still join on the port alone, and a store from before the ISN
// opens.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { Queries } from '../../collector/queries.js';
import { SqliteCollectorStore } from '../../collector/store/sqlite-collector-store.js';
import { Store } from '../../collector/store/store.js';
import {
  type Batch,
  Batch as BatchCodec,
  type EdgeReport,
  type Init,
  type ProcessIdentity,
} from '../../proto/gen/tollgate/v1.js';
import { backToSchema, LATEST_SCHEMA } from './older-store.js';

const CLIENT_IP = '10.2.0.1';
const SERVER_IP = '10.2.0.2';

function proc(pid: number, comm: string, netns: number): Init<ProcessIdentity> {
  return {
    ref: { pid, startTimeTicks: pid },
    comm,
    exe: `/usr/bin/${comm}`,
    netnsInode: netns,
    pod: { namespace: 'ns', name: comm, node: 'n1', source: 'POD_SOURCE_NETNS' },
    role: 'ROLE_APP',
  };
}

const P = {
  c1: proc(11, 'client-one', 5001),
  c2: proc(12, 'client-two', 5001),
  s1: proc(21, 'server-one', 5002),
  s2: proc(22, 'server-two', 5002),
};

/** One end of one connection from CLIENT_IP:clientPort to SERVER_IP:serverPort. */
function end(
  p: Init<ProcessIdentity>,
  side: 'client' | 'server',
  clientPort: number,
  serverPort: number,
  clientIsn: number,
): Init<EdgeReport> {
  const client = { address: CLIENT_IP, port: clientPort };
  const server = { address: SERVER_IP, port: serverPort };
  return {
    process: { pid: p.ref!.pid, startTimeTicks: p.ref!.startTimeTicks },
    side: side === 'client' ? 'CONNECTION_SIDE_CLIENT' : 'CONNECTION_SIDE_SERVER',
    local: side === 'client' ? { address: CLIENT_IP } : server,
    remote: side === 'client' ? server : { address: CLIENT_IP },
    connects: side === 'client' ? 1 : 0,
    accepts: side === 'server' ? 1 : 0,
    connections: [{ client, server, clientIsn }],
  };
}

function batch(sequence: number, startMs: number, edges: Init<EdgeReport>[]): Batch {
  return BatchCodec.decode(
    BatchCodec.encode({
      agentId: 'a',
      bootId: 'b',
      sequence,
      node: 'n1',
      intervalStartUnixMs: startMs,
      intervalEndUnixMs: startMs + 1000,
      processes: Object.values(P),
      edges,
    }),
  );
}

/**
 * The topology a store serves around `startMs`: each edge as "client -> server :port
 * (how joined)", sorted, and how each edge was joined, in the topology's order.
 */
async function viewed(
  store: Store,
  startMs: number,
): Promise<{ edges: string[]; joined: string[] }> {
  const { topology } = await new Queries(new SqliteCollectorStore(store)).view(
    { fromMs: startMs - 1000, toMs: startMs + 5000 },
    startMs + 5000,
  );
  const comm = new Map(topology.processes.map((p) => [p.id, p.comm]));
  return {
    edges: topology.edges
      .map(
        (e) =>
          `${comm.get(e.source) ?? e.source} -> ${comm.get(e.target)} :${e.port} (${e.joined})`,
      )
      .sort(),
    joined: topology.edges.map((e) => e.joined),
  };
}

async function edgesOf(batches: Batch[], startMs: number): Promise<string[]> {
  const store = Store.open(':memory:');
  try {
    store.commit(batches, startMs + 5000);
    return (await viewed(store, startMs)).edges;
  } finally {
    store.close();
  }
}

test('two connections from one client port: each client joined to its own server, in any order', async () => {
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 10_000;
  const ends = [
    end(P.c1, 'client', 41_000, 8081, 111_111),
    end(P.c2, 'client', 41_000, 8082, 2_222_222_222),
    end(P.s1, 'server', 41_000, 8081, 111_111),
    end(P.s2, 'server', 41_000, 8082, 2_222_222_222),
  ];
  const expected = [
    'client-one -> server-one :8081 (tuple)',
    'client-two -> server-two :8082 (tuple)',
  ];
  // One batch, in the order that crossed the join on ports alone (c2 then s1), and the
  // reverse; then each end in its own batch, servers first.
  assert.deepEqual(await edgesOf([batch(1, t0, ends)], t0), expected);
  assert.deepEqual(await edgesOf([batch(1, t0, [...ends].reverse())], t0), expected);
  assert.deepEqual(
    await edgesOf(
      [2, 3, 0, 1].map((k, i) => batch(i + 1, t0 + i * 1000, [ends[k]!])),
      t0,
    ),
    expected,
  );
});

test('tuples without an ISN (an older agent) still join on the client port', async () => {
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 10_000;
  const ends = [end(P.c1, 'client', 41_000, 8081, 0), end(P.s1, 'server', 41_000, 8081, 0)];
  assert.deepEqual(await edgesOf([batch(1, t0, ends)], t0), [
    'client-one -> server-one :8081 (tuple)',
  ]);
});

test('a client end and a server end that agree on the port but not on the ISN are not linked', async () => {
  // A client end and a server end that agree on the port but not the ISN are two
  // connections: the client is drawn by address (its dialed address is served here),
  // never by a tuple link to the wrong connection.
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 10_000;
  const ends = [end(P.c1, 'client', 41_000, 8081, 5), end(P.s1, 'server', 41_000, 8081, 6)];
  assert.deepEqual(await edgesOf([batch(1, t0, ends)], t0), [
    'client-one -> server-one :8081 (address)',
  ]);
});

test('a store written before the ISN existed opens: its tuples are replaced, the rest kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-migrate-'));
  try {
    const path = join(dir, 'tollgate.db');
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 10_000;
    const ends = [end(P.c1, 'client', 41_000, 8081, 7), end(P.s1, 'server', 41_000, 8081, 7)];
    const before = Store.open(path);
    before.commit([batch(1, t0, ends)], t0 + 5000);
    before.close();
    // Put the file back to schema 3: the tuples table as it was, with a row in it.
    const db = new Database(path);
    backToSchema(db, 3);
    db.exec(`DROP TABLE tuples;
      CREATE TABLE tuples (scope TEXT NOT NULL, address TEXT NOT NULL, port INTEGER NOT NULL,
        side INTEGER NOT NULL, end_id INTEGER NOT NULL, seen_ms INTEGER NOT NULL,
        PRIMARY KEY (scope, address, port, side)) WITHOUT ROWID;
      CREATE INDEX tuples_seen ON tuples (seen_ms);
      INSERT INTO tuples VALUES ('', '${CLIENT_IP}', 41000, 1, 1, ${t0});`);
    db.close();

    const after = Store.open(path);
    try {
      assert.equal(after.batchCount(), 1, 'the stored batch is kept');
      const { topology } = await new Queries(new SqliteCollectorStore(after)).view(
        { fromMs: t0 - 1000, toMs: t0 + 5000 },
        t0,
      );
      assert.deepEqual(
        topology.edges.map((e) => e.joined),
        ['tuple'],
        'links made before are kept',
      );
    } finally {
      after.close();
    }
    const check = new Database(path, { readonly: true });
    const columns = (check.pragma('table_info(tuple_log)') as { name: string }[]).map(
      (c) => c.name,
    );
    const version = check.pragma('user_version', { simple: true });
    check.close();
    assert.deepEqual(columns, ['seen_ms', 'tuples', 'body'], 'the tuples are a log now');
    assert.equal(version, LATEST_SCHEMA);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the other end joins after the store is reopened, and never to an end a failed commit took back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-tuples-'));
  try {
    const path = join(dir, 'tollgate.db');
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 10_000;
    const first = Store.open(path);
    first.commit([batch(1, t0, [end(P.c1, 'client', 41_000, 8081, 7)])], t0 + 2000);
    first.close();

    const store = Store.open(path);
    try {
      // A group that fails (its second batch names a process it does not describe) takes
      // client-two's end and tuple with it; the id its end had goes to the next new end.
      const stray = { ...end(P.c2, 'client', 42_000, 8082, 9) };
      const broken = batch(3, t0, [
        { ...end(P.c1, 'client', 43_000, 8083, 5), process: { pid: 999, startTimeTicks: 1 } },
      ]);
      assert.throws(() => store.commit([batch(2, t0, [stray]), broken], t0 + 3000));
      store.commit(
        [
          batch(4, t0 + 1000, [end(P.c1, 'client', 44_000, 8084, 3)]),
          batch(5, t0 + 1000, [
            end(P.s1, 'server', 41_000, 8081, 7),
            end(P.s2, 'server', 42_000, 8082, 9),
          ]),
        ],
        t0 + 4000,
      );
      const { edges } = await viewed(store, t0);
      assert.ok(
        edges.includes('client-one -> server-one :8081 (tuple)'),
        `joined across the reopen: ${edges.join('; ')}`,
      );
      assert.ok(
        !edges.some((e) => e.includes('server-two') && e.includes('(tuple)')),
        `server-two's tuple met only a rolled-back end: ${edges.join('; ')}`,
      );
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a store from before the tuple log (schema 11) opens: the tuples of its last minute still join', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-tuple-log-'));
  try {
    const path = join(dir, 'tollgate.db');
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 10_000;
    const before = Store.open(path);
    before.commit([batch(1, t0, [end(P.c1, 'client', 41_000, 8081, 7)])], t0 + 2000);
    before.close();
    // Back to schema 11, its client tuple in the tuples table as that version kept it.
    const db = new Database(path);
    backToSchema(db, 11);
    const clientEnd = db.prepare('SELECT id FROM ends WHERE side = 1').pluck().get() as number;
    db.prepare('INSERT INTO tuples VALUES (?, ?, ?, ?, ?, ?, ?)').run(
      '',
      CLIENT_IP,
      41_000,
      7,
      1,
      clientEnd,
      t0 + 1000,
    );
    db.close();

    const after = Store.open(path);
    try {
      after.commit([batch(2, t0 + 1000, [end(P.s1, 'server', 41_000, 8081, 7)])], t0 + 3000);
      assert.deepEqual((await viewed(after, t0)).joined, ['tuple']);
    } finally {
      after.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the other end still joins when it comes minutes late by the collector's clock, or after another agent's clock ran ahead", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-tuple-late-'));
  try {
    const path = join(dir, 'tollgate.db');
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 600_000;
    const edges = async (store: Store) => (await viewed(store, t0)).joined;
    // A collector catching up: the client's batch committed 90 s after its interval, a
    // maintenance pass, then the server's batch of the next second.
    const store = Store.open(path);
    store.commit([batch(1, t0, [end(P.c1, 'client', 41_000, 8081, 7)])], t0 + 90_000);
    store.maintain(t0 + 95_000);
    store.commit([batch(2, t0 + 1000, [end(P.s1, 'server', 41_000, 8081, 7)])], t0 + 96_000);
    assert.deepEqual(await edges(store), ['tuple'], 'joined after a maintenance pass');
    // Another agent whose clock is an hour ahead ships; the store reopens; a second
    // connection's server end, seen by the first agents' clocks, still finds its client.
    store.commit([batch(3, t0, [end(P.c2, 'client', 42_000, 8082, 9)])], t0 + 97_000);
    const ahead = BatchCodec.decode(
      BatchCodec.encode({
        ...batch(1, t0 + 3_600_000, [end(P.c1, 'client', 43_000, 8083, 5)]),
        agentId: 'fast',
      }),
    );
    store.commit([ahead], t0 + 98_000);
    store.close();
    const reopened = Store.open(path);
    try {
      reopened.commit([batch(4, t0 + 1000, [end(P.s2, 'server', 42_000, 8082, 9)])], t0 + 99_000);
      assert.deepEqual(await edges(reopened), ['tuple', 'tuple'], 'joined after the reopen');
    } finally {
      reopened.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("past the join's bound the oldest connection goes first, counted, and its ends are joined by address", async () => {
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 10_000;
  const store = Store.open(':memory:', { joinTuples: 2 });
  try {
    // Three client ends' connections, then their servers: the first is no longer held.
    store.commit(
      [
        batch(1, t0, [end(P.c1, 'client', 41_000, 8081, 1), end(P.c2, 'client', 42_000, 8082, 2)]),
        batch(2, t0, [end(P.c1, 'client', 43_000, 8083, 3)]),
      ],
      t0 + 2000,
    );
    assert.equal(store.tuplesEvicted, 1);
    // client-two's server first (its connection is still held), then client-one's, whose
    // new slot pushes out client-two's (joined by then), counted too.
    store.commit(
      [batch(3, t0, [end(P.s2, 'server', 42_000, 8082, 2), end(P.s1, 'server', 41_000, 8081, 1)])],
      t0 + 3000,
    );
    assert.equal(store.tuplesEvicted, 2);
    assert.deepEqual(
      (await viewed(store, t0)).edges.filter((e) => !e.includes(' :8083 ')),
      ['client-one -> server-one :8081 (address)', 'client-two -> server-two :8082 (tuple)'],
    );
  } finally {
    store.close();
  }
});
