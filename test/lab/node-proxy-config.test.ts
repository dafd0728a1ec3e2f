// The ambient node proxy as data: its haproxy configuration, the in-pod capture rules,
// and its counters' TLS columns. (test/lab/ambient.test.ts runs it on the real kernel.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ambientOutboundRule,
  ambientRules,
  type EnrolledPod,
  nodeProxyConfig,
  parseNodeProxyStat,
  waypointConfig,
} from '../../lab/node-proxy-config.js';

const pods: EnrolledPod[] = [
  { name: 'client', netns: 'tgabc123-client', address: '198.18.0.2', appPort: 9080 },
  { name: 'server', netns: 'tgabc123-server', address: '198.18.0.3', appPort: 9090 },
];
const tls = 'ssl crt /lab/mesh.pem ca-file /lab/mesh.crt verify required';
const config = nodeProxyConfig({
  pods,
  statsSocket: '/lab/np.sock',
  gid: 105,
  threads: 2,
  identity: '/lab/mesh.pem',
  ca: '/lab/mesh.crt',
});

/** The lines of one proxy section (frontend or backend), without comments. */
function section(kind: 'frontend' | 'backend', name: string): string[] {
  const lines = config.split('\n');
  const start = lines.indexOf(`${kind} ${name}`);
  assert.ok(start >= 0, `no ${kind} ${name} in\n${config}`);
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('  '));
  return lines.slice(start + 1, end < 0 ? undefined : end).map((l) => l.trim());
}

test('each enrolled pod gets 15001, 15006 and 15008 inside its own namespace', () => {
  for (const p of pods) {
    const ns = `namespace ${p.netns}`;
    assert.deepEqual(section('frontend', `outbound-${p.name}`), [
      `bind 0.0.0.0:15001 ${ns}`,
      `use_backend tunnel-from-${p.name} if { dst 198.18.0.2 198.18.0.3 }`,
      `default_backend passthrough-from-${p.name}`,
    ]);
    // Into the tunnel: the original destination's address, port 15008, TLS, from the pod.
    assert.deepEqual(section('backend', `tunnel-from-${p.name}`), [
      `server tunnel 0.0.0.0:15008 ${ns} ${tls}`,
    ]);
    assert.deepEqual(section('backend', `passthrough-from-${p.name}`), [
      `server original-destination 0.0.0.0:0 ${ns}`,
    ]);
    // The tunnel's far end speaks only TLS; the plaintext inbound none.
    assert.deepEqual(section('frontend', `tunnel-${p.name}`), [
      `bind 0.0.0.0:15008 ${ns} ${tls}`,
      `default_backend app-${p.name}`,
    ]);
    assert.deepEqual(section('frontend', `inbound-${p.name}`), [
      `bind 0.0.0.0:15006 ${ns}`,
      `default_backend app-${p.name}`,
    ]);
    assert.deepEqual(section('backend', `app-${p.name}`), [
      `server app 127.0.0.1:${p.appPort} ${ns}`,
    ]);
  }
});

test('the node proxy keeps root (to enter pods) with the group the rules exempt', () => {
  assert.match(config, /^global\n {2}gid 105\n {2}nbthread 2\n {2}stats socket \/lab\/np\.sock /m);
  assert.doesNotMatch(config, /^\s*uid /m);
  assert.throws(
    () =>
      nodeProxyConfig({
        pods: [],
        statsSocket: '/s',
        gid: 1,
        threads: 1,
        identity: '/i',
        ca: '/c',
      }),
    RangeError,
  );
});

test('pods behind the waypoint are reached through it, with their address in a PROXY header', () => {
  const behind = nodeProxyConfig({
    pods: [pods[0]!, { ...pods[1]!, viaWaypoint: true }],
    statsSocket: '/s',
    gid: 105,
    threads: 1,
    identity: '/lab/mesh.pem',
    ca: '/lab/mesh.crt',
    waypoint: '198.18.0.9',
  });
  assert.ok(
    behind.includes(
      'frontend outbound-client\n  bind 0.0.0.0:15001 namespace tgabc123-client\n' +
        '  use_backend waypoint-from-client if { dst 198.18.0.3 }\n' +
        '  use_backend tunnel-from-client if { dst 198.18.0.2 }\n',
    ),
    behind,
  );
  assert.ok(
    behind.includes(
      `backend waypoint-from-client\n  server waypoint 198.18.0.9:15008 namespace tgabc123-client ${tls} send-proxy-v2\n`,
    ),
    behind,
  );
  assert.throws(
    () =>
      nodeProxyConfig({
        pods: [{ ...pods[1]!, viaWaypoint: true }],
        statsSocket: '/s',
        gid: 1,
        threads: 1,
        identity: '/i',
        ca: '/c',
      }),
    /no waypoint|there is none/,
  );
  const waypoint = waypointConfig({
    statsSocket: '/w',
    uid: 102,
    gid: 105,
    threads: 1,
    identity: '/lab/mesh.pem',
    ca: '/lab/mesh.crt',
  });
  // Its own 15008, in its own namespace (no namespace keyword), PROXY header then TLS, HTTP.
  assert.ok(waypoint.includes(`\n  bind 0.0.0.0:15008 accept-proxy ${tls}\n`), waypoint);
  assert.match(waypoint, /^ {2}mode http$/m);
  assert.ok(waypoint.includes(`\n  server destination 0.0.0.0:15008 ${tls}\n`), waypoint);
  assert.doesNotMatch(waypoint, /namespace/);
});

test('in-pod rules: new inbound connections to the app to 15006, outbound to 15001', () => {
  assert.deepEqual(
    ambientRules(9080, 105).map((r) => r.join(' ')),
    [
      '-t nat -A PREROUTING -p tcp --syn --dport 9080 -j REDIRECT --to-ports 15006',
      '-t nat -A OUTPUT -p tcp --syn ! -d 127.0.0.0/8 -m owner ! --gid-owner 105 -j REDIRECT --to-ports 15001',
    ],
  );
  assert.deepEqual(ambientOutboundRule(105).slice(0, 1), ['OUTPUT']);
});

test("the node proxy's counters: sessions and TLS handshakes per listener", () => {
  const csv = `# pxname,svname,qcur,stot,bin,bout,ssl_sess,ssl_reused_sess,ssl_failed_handshake,
tunnel-server,FRONTEND,,40,3200,9000,2,38,1,
inbound-server,FRONTEND,,5,400,900,0,0,0,
app-server,app,0,40,3200,9000,,,,
`;
  assert.deepEqual(parseNodeProxyStat(csv), [
    {
      proxy: 'tunnel-server',
      server: 'FRONTEND',
      sessionsTotal: 40,
      bytesIn: 3200,
      bytesOut: 9000,
      tlsSessions: 2,
      tlsResumedSessions: 38,
      tlsFailedHandshakes: 1,
    },
    {
      proxy: 'inbound-server',
      server: 'FRONTEND',
      sessionsTotal: 5,
      bytesIn: 400,
      bytesOut: 900,
      tlsSessions: 0,
      tlsResumedSessions: 0,
      tlsFailedHandshakes: 0,
    },
    {
      proxy: 'app-server',
      server: 'app',
      sessionsTotal: 40,
      bytesIn: 3200,
      bytesOut: 9000,
      tlsSessions: 0,
      tlsResumedSessions: 0,
      tlsFailedHandshakes: 0,
    },
  ]);
  assert.throws(() => parseNodeProxyStat('# pxname,svname,stot,bin,bout\n'), /SSL columns/);
});
