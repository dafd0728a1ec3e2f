// The collector's /metrics keeps Prometheus's naming conventions and its stated bound on
// series. Names: read from a real collector holding the known mesh (every family with
// samples), each family checked against its TYPE (counters end in _total, nothing else
// does; histograms in a base unit) and its unit (seconds or bytes, last, never ms), and
// the whole text through promtool's own linter. Bound: README says the per-pod families
// hold at most 20,000 label sets of at most 29 samples each; 3,000 pods of 8 label sets
// each (24,000) are fed, and the exposition is counted.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { CumulativeMetrics } from '../../collector/metrics/cumulative.js';
import { Batch, type Init, type ProcessIdentity } from '../../proto/gen/tollgate/v1.js';
import { fromValues } from '../../proto/histogram.js';
import { meshBatchWithCost, meshCollector } from './prometheus-fixture.js';

interface Family {
  name: string;
  type: string;
  help: boolean;
  samples: { name: string; labels: string }[];
}

/** Families of a text exposition, in order, with their samples' names and label text. */
function families(text: string): Family[] {
  const out: Family[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = line.match(/^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/);
    if (meta) {
      const [, kind, name, rest] = meta;
      const last = out.at(-1);
      const f: Family =
        last !== undefined && last.name === name
          ? last
          : { name: name!, type: '', help: false, samples: [] };
      if (f !== last) {
        assert.ok(!out.some((x) => x.name === name), `${name} declared twice`);
        out.push(f);
      }
      if (kind === 'HELP') f.help = true;
      else f.type = rest!;
      continue;
    }
    const sample = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? \S+$/);
    assert.ok(sample, `a sample line: ${line}`);
    const f = out.at(-1);
    assert.ok(f, `${line} before any family`);
    f.samples.push({ name: sample[1]!, labels: sample[2] ?? '' });
  }
  return out;
}

const BASE_UNITS = ['seconds', 'bytes'];
/** Units that are not base units, as words of a name. */
const OTHER_UNITS = new Set([
  'ms',
  'us',
  'ns',
  'millis',
  'milliseconds',
  'microseconds',
  'nanoseconds',
  'minutes',
  'hours',
  'days',
  'kb',
  'mb',
  'gb',
  'kib',
  'mib',
  'gib',
  'kilobytes',
  'megabytes',
  'gigabytes',
  'bits',
  'percent',
]);

test('every family of /metrics is named by its type and a base unit; promtool finds nothing', async (t) => {
  const mesh = await meshCollector(t);
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 10_000;
  await mesh.ship([meshBatchWithCost(1, t0), meshBatchWithCost(2, t0 + 1000)]);
  const text = await mesh.metrics();
  const all = families(text);
  // What the known mesh and the agent's cost make, each with samples.
  for (const name of [
    'tollgate_exchanges_total',
    'tollgate_requests_total',
    'tollgate_exchange_duration_seconds',
    'tollgate_proxy_hop_duration_seconds',
    'tollgate_proxy_added_duration_seconds',
    'tollgate_proxy_exchanges_unpaired_total',
    'tollgate_proxy_requests_handed_off_total',
    'tollgate_proxy_replies_handed_off_total',
    'tollgate_process_cpu_seconds_total',
    'tollgate_process_resident_memory_bytes',
    'tollgate_agent_cpu_seconds_total',
    'tollgate_agent_resident_memory_bytes',
    'tollgate_agent_lost_total',
    'tollgate_collector_batches_total',
    'tollgate_collector_disk_full_episodes_total',
    'tollgate_collector_process_cpu_seconds_total',
  ])
    assert.ok(all.find((f) => f.name === name)?.samples.length, `${name} has samples`);

  for (const f of all) {
    assert.ok(f.help, `${f.name} has HELP`);
    assert.ok(['counter', 'gauge', 'histogram'].includes(f.type), `${f.name}: type ${f.type}`);
    assert.match(f.name, /^tollgate_/, 'one prefix');
    const words = f.name.split('_');
    if (f.type === 'counter')
      assert.equal(words.at(-1), 'total', `counter ${f.name} ends in _total`);
    else assert.notEqual(words.at(-1), 'total', `${f.type} ${f.name} does not end in _total`);
    const unitWords = words.slice(0, words.at(-1) === 'total' ? -1 : undefined);
    for (const w of words) assert.ok(!OTHER_UNITS.has(w), `${f.name}: ${w} is not a base unit`);
    const units = unitWords.filter((w) => BASE_UNITS.includes(w));
    assert.ok(units.length <= 1, `${f.name}: one unit`);
    if (units.length === 1)
      assert.equal(unitWords.at(-1), units[0], `${f.name}: the unit last (before _total)`);
    if (f.type === 'histogram') {
      assert.ok(units.length === 1, `histogram ${f.name} in a base unit`);
      for (const s of f.samples) {
        assert.ok(
          [`${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`].includes(s.name),
          `${s.name} in ${f.name}`,
        );
        if (s.name.endsWith('_bucket')) assert.match(s.labels, /[{,]le="[^"]+"[,}]/);
      }
    } else for (const s of f.samples) assert.equal(s.name, f.name);
  }

  const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(lint.status, 0, lint.stdout + lint.stderr);
  assert.equal(lint.stdout + lint.stderr, '', 'promtool has nothing to say');
});

const MAX_LABEL_SETS = 20_000;
const MAX_SAMPLES_PER_LABEL_SET = 29;

/** Pod p: an app and its sidecar, one connection through it, and both processes' cost. */
function podBatch(p: number): Batch {
  const proc = (pid: number, role: 'ROLE_APP' | 'ROLE_SIDECAR'): Init<ProcessIdentity> => ({
    ref: { pid, startTimeTicks: 1 },
    comm: role === 'ROLE_APP' ? 'app' : 'envoy',
    containerName: role === 'ROLE_APP' ? 'app' : 'istio-proxy',
    pod: { namespace: 'shop', name: `pod-${p}`, node: 'node-1', source: 'POD_SOURCE_NETNS' },
    role,
  });
  const app = proc(2 * p + 1000, 'ROLE_APP');
  const sidecar = proc(2 * p + 1001, 'ROLE_SIDECAR');
  const end = (
    who: Init<ProcessIdentity>,
    side: 'CONNECTION_SIDE_CLIENT' | 'CONNECTION_SIDE_SERVER',
  ) => ({
    process: who.ref,
    side,
    exchanges: 10,
    bytesSent: 100,
    exchangeLatency: fromValues([1e6, 2e6]),
  });
  return Batch.decode(
    Batch.encode({
      node: 'node-1',
      processes: [app, sidecar],
      edges: [
        end(app, 'CONNECTION_SIDE_CLIENT'),
        end(sidecar, 'CONNECTION_SIDE_SERVER'),
        end(sidecar, 'CONNECTION_SIDE_CLIENT'),
      ],
      hops: [
        {
          process: sidecar.ref,
          direction: 'DIRECTION_OUTBOUND',
          requestHop: fromValues([1e5]),
          responseHop: fromValues([1e5]),
          added: fromValues([2e5]),
          requests: 1,
          method: 'HOP_METHOD_ARRIVAL_TO_FORWARD',
        },
      ],
      resources: [app, sidecar].map((x) => ({
        process: x.ref,
        cpuUserNs: 1e6,
        rssBytes: 2 ** 20,
        source: 'RESOURCE_SOURCE_PROC' as const,
      })),
    }),
  );
}

test('many pods: /metrics holds at most 20,000 label sets of at most 29 samples, the rest counted', () => {
  const metrics = new CumulativeMetrics();
  const pods = 3_000;
  const perPod = 8; // ends: app client, sidecar server and client; hops: 2; added; resources: 2
  for (let p = 0; p < pods; p++) metrics.add(podBatch(p), 1_000_000);
  const text = metrics.exposition(1_000_000);
  const labelSets = new Map<string, number>();
  for (const f of families(text))
    for (const s of f.samples) {
      if (!s.labels.includes('pod="')) continue;
      // Per label set as the collector holds them (an end's shows in 9 families), le aside.
      const set = s.labels.replace(/,le="[^"]*"\}$/, '}');
      labelSets.set(set, (labelSets.get(set) ?? 0) + 1);
    }
  assert.equal(labelSets.size, MAX_LABEL_SETS, 'the cap, reached');
  const samples = [...labelSets.values()];
  assert.ok(Math.max(...samples) <= MAX_SAMPLES_PER_LABEL_SET, `${Math.max(...samples)} samples`);
  assert.match(
    text,
    new RegExp(`^tollgate_metrics_series_dropped_total ${pods * perPod - MAX_LABEL_SETS}$`, 'm'),
  );
});
