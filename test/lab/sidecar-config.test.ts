// The sidecar as data: haproxy configuration, capture rules, stats parsing, demo costs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { summarize } from '../../lab/demo-summary.js';
import { createMeshIdentity } from '../../lab/mesh-identity.js';
import {
  DEFAULT_SIDECAR_PORTS,
  haproxyConfig,
  lookupUser,
  meshRules,
  outboundCaptureRule,
  parseHaproxyStat,
} from '../../lab/sidecar-config.js';
import { onTimeLoad } from './load-fixture.js';

test('capture rules redirect the app port inbound and all non-loopback outbound but the proxy own', () => {
  const [inbound, outbound] = meshRules(9080, DEFAULT_SIDECAR_PORTS, 103).map((r) => r.join(' '));
  assert.equal(inbound, '-t nat -A PREROUTING -p tcp --dport 9080 -j REDIRECT --to-ports 15006');
  assert.equal(
    outbound,
    '-t nat -A OUTPUT -p tcp ! -d 127.0.0.0/8 -m owner ! --uid-owner 103 -j REDIRECT --to-ports 15001',
  );
  const config = haproxyConfig({
    ports: DEFAULT_SIDECAR_PORTS,
    appPort: 9080,
    statsSocket: '/s',
    uid: 103,
    gid: 111,
    threads: 1,
  });
  assert.match(config, /bind 0\.0\.0\.0:15006[\s\S]*server app 127\.0\.0\.1:9080/);
  assert.match(config, /bind 0\.0\.0\.0:15001[\s\S]*server original-destination 0\.0\.0\.0:0/);
});

test('sidecars with HTTP/2 or mutual TLS between them: haproxy accepts both ends', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-sidecar-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const identity = createMeshIdentity(dir);
  // The certificate openssl made is one haproxy and openssl both take for what it says.
  assert.match(
    execFileSync('openssl', ['x509', '-noout', '-subject', '-in', identity.ca], {
      encoding: 'utf8',
    }),
    /CN ?= ?tollgate-lab-mesh/,
  );
  const base = {
    ports: DEFAULT_SIDECAR_PORTS,
    appPort: 9080,
    statsSocket: join(dir, 'stats.sock'),
    uid: 103,
    gid: 111,
    threads: 1,
  };
  const h2 = haproxyConfig({ ...base, link: { protocol: 'h2' } });
  const tls = haproxyConfig({ ...base, link: { protocol: 'tls', ...identity } });
  const entry = haproxyConfig({
    ...base,
    link: { protocol: 'tls', ...identity },
    plaintextInbound: true,
  });
  const h2Tls = haproxyConfig({ ...base, link: { protocol: 'h2-tls', ...identity } });
  const appH2 = haproxyConfig({ ...base, inboundMode: 'h2' });
  for (const [name, config] of [
    ['h2', h2],
    ['tls', tls],
    ['h2-tls', h2Tls],
    ['entry', entry],
    ['app-h2', appH2],
  ] as const) {
    const file = join(dir, `${name}.cfg`);
    writeFileSync(file, config);
    // haproxy's own check mode: parses, loads the certificates, binds nothing.
    execFileSync('haproxy', ['-c', '-q', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  // The link is on both ends: what the inbound listener accepts, the outbound speaks.
  assert.match(h2, /bind 0\.0\.0\.0:15006 proto h2\n {2}mode http/);
  assert.match(h2, /http-reuse always\n {2}server original-destination 0\.0\.0\.0:0 proto h2/);
  const tlsArgs = ` ssl crt ${identity.identity} ca-file ${identity.ca} verify required`;
  assert.ok(tls.includes(`bind 0.0.0.0:15006${tlsArgs}\n`), tls);
  assert.ok(tls.includes(`server original-destination 0.0.0.0:0${tlsArgs}\n`), tls);
  assert.doesNotMatch(tls, /mode http/);
  // HTTP/2 inside mutual TLS: ALPN agrees on it at both ends, HTTP mode to multiplex.
  assert.ok(h2Tls.includes(`bind 0.0.0.0:15006${tlsArgs} alpn h2\n  mode http\n`), h2Tls);
  assert.ok(
    h2Tls.includes(
      `http-reuse always\n  server original-destination 0.0.0.0:0${tlsArgs} alpn h2\n`,
    ),
    h2Tls,
  );
  assert.doesNotMatch(h2Tls, /proto h2/);
  // HTTP/2 on both sides of the inbound listener (gRPC end to end): in, and to the app.
  assert.match(appH2, /bind 0\.0\.0\.0:15006 proto h2\n {2}mode http/);
  assert.match(appH2, /http-reuse always\n {2}server app 127\.0\.0\.1:9080 proto h2\n/);
  assert.doesNotMatch(
    appH2,
    /original-destination 0\.0\.0\.0:0 proto h2/,
    'no link to other sidecars',
  );
  // An entry pod's sidecar: plaintext in from outside the mesh, TLS out to its pods.
  assert.ok(entry.includes('bind 0.0.0.0:15006\n'), entry);
  assert.ok(entry.includes(`server original-destination 0.0.0.0:0${tlsArgs}\n`), entry);
  assert.equal(
    outboundCaptureRule(DEFAULT_SIDECAR_PORTS, 103).join(' '),
    'OUTPUT -p tcp ! -d 127.0.0.0/8 -m owner ! --uid-owner 103 -j REDIRECT --to-ports 15001',
  );
});

test('users and haproxy stats parse', () => {
  assert.deepEqual(
    lookupUser(
      'root:x:0:0::/root:/bin/sh\nhaproxy:x:103:111::/var/lib/haproxy:/usr/sbin/nologin\n',
      'haproxy',
    ),
    { uid: 103, gid: 111 },
  );
  assert.equal(lookupUser('root:x:0:0::/root:/bin/sh\n', 'haproxy'), undefined);
  const csv =
    '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout\ninbound,FRONTEND,,,0,1,100,7,700,900\n';
  assert.deepEqual(parseHaproxyStat(csv), [
    { proxy: 'inbound', server: 'FRONTEND', sessionsTotal: 7, bytesIn: 700, bytesOut: 900 },
  ]);
  assert.throws(() => parseHaproxyStat('# pxname,svname\n'), /lacks column stot/);
});

test('costs per 1,000 requests come from CPU deltas and the app request counter', () => {
  const load = (p50: number) => onTimeLoad([p50]);
  const r = (cpuMs: number, rssMb: number) => ({
    cpuUserNs: cpuMs * 1e6,
    cpuSystemNs: 0,
    rssBytes: rssMb * 2 ** 20,
  });
  const s = summarize({
    lab: 'lab1',
    mesh: 'sidecar',
    meshed: load(3),
    unmeshed: load(2),
    pods: [
      {
        name: 'a',
        builtAs: 'sidecar',
        requests: 2000,
        app: { before: r(100, 50), after: r(700, 60) },
        sidecar: { before: r(10, 9), after: r(210, 10) },
      },
      { name: 'b', builtAs: 'plain', requests: 0, app: { before: r(0, 50), after: r(0, 50) } },
    ],
    agent: { millicores: 12.345, rssMb: 101.26, lostEvents: 0 },
    webUrl: 'http://127.0.0.1:7470',
    path: [{ replicas: ['a'], direction: 'inbound' }],
    entry: 'a',
  });
  assert.deepEqual(s.pods[0], {
    namespace: 'lab',
    name: 'a',
    requests: 2000,
    built_as: 'sidecar',
    mode: null,
    mode_signs: [],
    app: { cpu_ms_per_1k_requests: 300, rss_mb: 60 },
    sidecar: {
      proxy: 'haproxy',
      cpu_ms_per_1k_requests: 100,
      rss_mb: 10,
      added_latency_ms: { inbound: null, outbound: null },
    },
    node_proxy: null,
  });
  assert.deepEqual(s.agent, { millicores: 12.3, rss_mb: 101.3, lost_events: 0 });
  assert.equal(s.pods[1]?.sidecar, null);
  assert.equal(s.pods[1]?.app.cpu_ms_per_1k_requests, null, 'no requests: no per-request cost');
  assert.equal(s.end_to_end_ms.added.p50, 1);
});
