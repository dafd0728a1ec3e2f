// `tollgate bench ui`: the viewer in Debian's Chromium with a mesh of 1,000 processes
// (500 pods of an app and a sidecar) and 3,000 edges, served by a real collector fed
// through gRPC by eight agents' shippers. first_render_ms is page start to the first
// frame with every node drawn (API, layout and drawing included); fps_pan is frames drawn
// per second while the page pans the graph one step per animation frame for a bounded
// time, through the zoom transform a mouse drag sets (driving the mouse from outside
// would measure the driver's round trips instead). Chromium paces frames at most 60 per
// second, so 60 is the ceiling.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Collector, DEFAULT_WEB_ROOT } from '../collector/collector.js';
import { Shipper } from '../daemonset/shipping/shipper.js';
import { openBrowser } from '../lab/browser.js';
import type {
  Batch,
  EdgeReport,
  HopReport,
  Init,
  ProcessIdentity,
} from '../proto/gen/tollgate/v1.js';
import { fromValues } from '../proto/histogram.js';
import type { PageGlobals } from '../web/src/model/introspection.js';
import { overRounds, type Spread } from './rounds.js';
import { type HistoryReport, seedHistory } from './ui-history.js';

export interface UiBenchOptions {
  pods: number;
  edgesPerPod: number;
  nodes: number;
  /** How long the graph is panned (ms). */
  panMs: number;
  /** Hours of stored history the collector opens (0: none, no window loads timed). */
  historyHours: number;
  /** The last seconds of that history at one report a second. */
  recentS: number;
  /** Rounds of loading the 6 h and the 24 h window, interleaved. */
  windowRounds: number;
}

export const DEFAULT_UI_BENCH: UiBenchOptions = {
  pods: 500,
  edgesPerPod: 6,
  nodes: 8,
  panMs: 4000,
  historyHours: 24,
  recentS: 120,
  windowRounds: 3,
};

export interface UiBenchResult {
  fps_pan: number;
  first_render_ms: number;
  processes: number;
  edges: number;
  frames_pan: number;
  pan_s: number;
  /** Median ms from choosing the window to its first frame; null without history. */
  window_6h_load_ms: number | null;
  window_24h_load_ms: number | null;
  /** Each window's load over the rounds, and what the store held. */
  window_loads: { '6h': Spread; '24h': Spread } | null;
  history: HistoryReport | null;
}

const address = (pod: number) => `10.${20 + (pod >> 16)}.${(pod >> 8) & 255}.${pod & 255}`;

/** Each node's batch: its pods' processes, their client ends, and the server ends they reach. */
export function meshOfPods(
  options: Pick<UiBenchOptions, 'pods' | 'edgesPerPod' | 'nodes'>,
  nowMs = Date.now(),
): Init<Batch>[] {
  const nodeOf = (pod: number) => pod % options.nodes;
  const app = (pod: number): Init<ProcessIdentity> => identity(pod, 'app');
  const sidecar = (pod: number): Init<ProcessIdentity> => identity(pod, 'sidecar');
  function identity(pod: number, role: 'app' | 'sidecar'): Init<ProcessIdentity> {
    const pid = 10_000 + pod * 2 + (role === 'app' ? 0 : 1);
    return {
      ref: { pid, startTimeTicks: 1 },
      comm: role === 'app' ? `svc-${pod}` : 'envoy',
      exe: role === 'app' ? `/app/svc-${pod}` : '/usr/local/bin/envoy',
      cmdline: [role === 'app' ? `svc-${pod}` : 'envoy'],
      netnsInode: 5_000_000 + pod,
      containerName: role === 'app' ? 'app' : 'istio-proxy',
      pod: {
        namespace: `ns-${pod % 10}`,
        name: `svc-${pod}`,
        node: `node-${nodeOf(pod)}`,
        source: 'POD_SOURCE_NETNS',
      },
      role: role === 'app' ? 'ROLE_APP' : 'ROLE_SIDECAR',
    };
  }
  const exchanges = (base: number) =>
    fromValues(Array.from({ length: 20 }, (_, k) => base * (1 + k / 10)));
  const batches = Array.from({ length: options.nodes }, (_, n) => ({
    node: `node-${n}`,
    intervalStartUnixMs: nowMs - 1000,
    intervalEndUnixMs: nowMs,
    processes: [] as Init<ProcessIdentity>[],
    edges: [] as Init<EdgeReport>[],
    hops: [] as Init<HopReport>[],
  }));
  let port = 20_000;
  const connect = (
    from: Init<ProcessIdentity>,
    fromPod: number,
    to: Init<ProcessIdentity>,
    toPod: number,
    servicePort: number,
  ) => {
    const client = { address: address(fromPod), port: port++ };
    const server = { address: address(toPod), port: servicePort };
    const counters = {
      exchanges: 20,
      sendOps: 20,
      recvOps: 20,
      connects: 1,
      accepts: 0,
      bytesSent: 2000,
      bytesReceived: 8000,
    };
    batches[nodeOf(fromPod)]!.edges.push({
      process: from.ref,
      side: 'CONNECTION_SIDE_CLIENT',
      local: { address: client.address },
      remote: server,
      ...counters,
      exchangeLatency: exchanges(500_000 + (fromPod % 50) * 100_000),
      connections: [{ client, server }],
    });
    batches[nodeOf(toPod)]!.edges.push({
      process: to.ref,
      side: 'CONNECTION_SIDE_SERVER',
      local: server,
      remote: { address: client.address },
      ...counters,
      connects: 0,
      accepts: 1,
      bytesSent: 8000,
      bytesReceived: 2000,
      exchangeLatency: exchanges(400_000 + (fromPod % 50) * 100_000),
      connections: [{ client, server }],
    });
  };
  // Each sidecar's added latency per direction: 20 exchanges around 0.2 to 1 ms inbound
  // and half that outbound, so every meshed pod has a cost to show.
  const hops = (pod: number, direction: 'DIRECTION_INBOUND' | 'DIRECTION_OUTBOUND') => {
    const base = (direction === 'DIRECTION_INBOUND' ? 200_000 : 100_000) * (1 + (pod % 5));
    const values = Array.from({ length: 20 }, (_, k) => base * (1 + k / 20));
    return {
      process: sidecar(pod).ref,
      direction,
      requestHop: fromValues(values.map((v) => v / 2)),
      responseHop: fromValues(values.map((v) => v / 2)),
      added: fromValues(values),
      requests: values.length,
      method: 'HOP_METHOD_ARRIVAL_TO_FORWARD' as const,
    };
  };
  for (let i = 0; i < options.pods; i++) {
    batches[nodeOf(i)]!.processes.push(app(i), sidecar(i));
    batches[nodeOf(i)]!.hops.push(hops(i, 'DIRECTION_INBOUND'), hops(i, 'DIRECTION_OUTBOUND'));
    // The app's call leaves through its own sidecar; the sidecar calls other pods'.
    connect(app(i), i, sidecar(i), i, 15001);
    for (let k = 1; k < options.edgesPerPod; k++) {
      const j = (i + k * 7 + ((i * k) % 11)) % options.pods;
      if (j !== i) connect(sidecar(i), i, sidecar(j), j, 15006 + k);
    }
  }
  return batches;
}

export async function benchUi(options: UiBenchOptions = DEFAULT_UI_BENCH): Promise<UiBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-ui-'));
  const database = join(dir, 'store.db');
  const history =
    options.historyHours > 0
      ? seedHistory(database, (ms) => meshOfPods(options, ms), {
          hours: options.historyHours,
          recentS: options.recentS,
        })
      : null;
  const collector = await Collector.start({
    database,
    grpc: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    webRoot: DEFAULT_WEB_ROOT,
    liveWindowMs: 600_000,
  });
  const shippers: Shipper[] = [];
  try {
    for (const batch of meshOfPods(options)) {
      const shipper = new Shipper({
        target: collector.grpcAddress,
        hello: { agentId: `bench-${batch.node}`, node: batch.node },
      });
      shippers.push(shipper);
      shipper.start();
      shipper.send(batch);
      if (!(await shipper.flush(30_000)))
        throw new Error(`the collector did not store ${batch.node}'s batch`);
    }
    const { topology: expected } = await collector.queries.view({
      fromMs: Date.now() - 600_000,
      toMs: Date.now() + 1000,
    });
    const browser = await openBrowser({ width: 1400, height: 900 });
    try {
      const { page } = browser;
      await page.goto(collector.httpUrl);
      const total = expected.processes.length + expected.externals.length;
      await page.waitForFunction(
        (n) => {
          const view = (globalThis as PageGlobals).tollgate;
          return (
            view !== undefined && view.drawn().nodes.length === n && view.firstRenderMs() !== null
          );
        },
        total,
        { timeout: 60_000 },
      );
      // The snapshot comes as one message, so the first frame with marks has all of them.
      const firstRenderMs = (await page.evaluate(() =>
        (globalThis as PageGlobals).tollgate!.firstRenderMs(),
      ))!;
      // A back-and-forth pan, each leg as long as the options say.
      let frames = 0;
      let panS = 0;
      for (const [dx, dy] of [
        [4, 2],
        [-4, -2],
      ] as const) {
        const leg = await page.evaluate(
          ([ms, x, y]) => (globalThis as PageGlobals).tollgate!.pan(ms, x, y),
          [options.panMs / 2, dx, dy] as const,
        );
        frames += leg.frames;
        panS += leg.seconds;
      }
      const loads = { '6h': [] as number[], '24h': [] as number[] };
      for (let round = 0; history && round < options.windowRounds; round++) {
        // Interleaved, the order flipped each round.
        const order = round % 2 === 0 ? (['6h', '24h'] as const) : (['24h', '6h'] as const);
        for (const window of order) loads[window].push(await loadWindow(page, window, total));
      }
      if (browser.problems.length > 0)
        throw new Error(`the page reported: ${browser.problems.join('; ')}`);
      const windowLoads = history
        ? { '6h': overRounds(loads['6h']), '24h': overRounds(loads['24h']) }
        : null;
      return {
        fps_pan: Math.round((frames / panS) * 10) / 10,
        first_render_ms: Math.round(firstRenderMs),
        processes: expected.processes.length,
        edges: expected.edges.length,
        frames_pan: frames,
        pan_s: Math.round(panS * 100) / 100,
        window_6h_load_ms: windowLoads?.['6h'].median ?? null,
        window_24h_load_ms: windowLoads?.['24h'].median ?? null,
        window_loads: windowLoads,
        history,
      };
    } finally {
      await browser.close();
    }
  } finally {
    for (const s of shippers) await s.stop();
    await collector.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const WINDOW_MINUTES = { '6h': 360, '24h': 1440 } as const;
const WINDOW_STATUS = { '6h': 'last 6 h', '24h': 'last 24 h' } as const;

/**
 * Chooses a window in the page's range picker, as a person does, and times it in the
 * page until the first frame drawn after its data arrived with every node; fails on the
 * page's error message (a refused or failed read) or after 60 s.
 */
async function loadWindow(
  page: Awaited<ReturnType<typeof openBrowser>>['page'],
  window: '6h' | '24h',
  nodes: number,
): Promise<number> {
  const result = await page.evaluate(
    async ([value, status, n]) => {
      interface Element {
        value: string;
        textContent: string | null;
        dispatchEvent(e: unknown): boolean;
      }
      const g = globalThis as unknown as PageGlobals & {
        document: {
          querySelector(s: string): Element | null;
          querySelectorAll(s: string): { length: number };
        };
        Event: new (type: string) => unknown;
        requestAnimationFrame(f: () => void): void;
      };
      const view = g.tollgate!;
      const select = g.document.querySelector('select[name=range]')!;
      const errorsBefore = g.document.querySelectorAll('.message.error').length;
      const start = performance.now();
      select.value = value;
      select.dispatchEvent(new g.Event('change'));
      let framesAtData = -1;
      while (performance.now() - start < 60_000) {
        await new Promise<void>((r) => g.requestAnimationFrame(() => r()));
        if (g.document.querySelectorAll('.message.error').length > errorsBefore)
          return { error: g.document.querySelector('.message.error:last-child')?.textContent };
        if (framesAtData < 0 && g.document.querySelector('.status')?.textContent === status)
          framesAtData = view.frames();
        else if (
          framesAtData >= 0 &&
          view.frames() > framesAtData &&
          view.drawn().nodes.length === n
        )
          return { ms: performance.now() - start };
      }
      return { error: 'no frame of the window within 60 s' };
    },
    [`last:${WINDOW_MINUTES[window]}`, WINDOW_STATUS[window], nodes] as const,
  );
  if ('error' in result) throw new Error(`the ${window} window: ${result.error}`);
  return Math.round(result.ms!);
}

export function renderUiBench(r: UiBenchResult): string {
  return [
    `viewer with ${r.processes} processes and ${r.edges} edges (Chromium, headless)`,
    `  first render      ${r.first_render_ms} ms`,
    `  panning           ${r.fps_pan} frames/s (${r.frames_pan} frames in ${r.pan_s} s; 60 is the ceiling)`,
    ...(r.window_loads && r.history
      ? [
          `  with ${r.history.hours} h of history (${r.history.rows.minute} minute rows, ${r.history.rows.hour} hour rows, 1 s rows for the last ${r.history.recent_1s_s} s):`,
          ...(['6h', '24h'] as const).map(
            (w) =>
              `  last ${w.padEnd(3)} window   ${r.window_loads![w].median} ms to its first frame (min ${r.window_loads![w].min}, max ${r.window_loads![w].max})`,
          ),
        ]
      : []),
  ].join('\n');
}
