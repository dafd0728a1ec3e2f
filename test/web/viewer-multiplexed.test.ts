// The viewer with an edge that carries several requests at once (HTTP/2 between the two
// sidecars of test/collector/mesh-batches, sa's upstream marked after 10 of each
// interval's 50 exchanges, its 800 requests counted from HTTP/2's frames): its panel says
// why it shows no exchange latency, counts the multiplexed exchanges apart, shows the
// HTTP/2 requests and the rate they make, and draws no exchange histogram. In Debian's
// Chromium, at three window sizes; screenshots go to test/artifacts/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import { openBrowser } from '../../lab/browser.js';
import { B_IP, meshBatch, PER_INTERVAL, PROCESSES } from '../collector/mesh-batches.js';
import {
  ARTIFACTS,
  clickCanvas,
  collectorWithShipper,
  drawn,
  screenOf,
  screenshotsAtSizes,
  until,
} from './viewer-page.js';

const TOKEN = 'viewer-multiplexed-token';
const INTERVALS = 3;
const MULTIPLEXED = 40;
const HTTP2_REQUESTS = 16 * PER_INTERVAL.exchanges;
/** sb's upstream to its app, taken for multiplexed TLS: the requests sb forwarded on it. */
const FORWARDED_REQUESTS = 4 * PER_INTERVAL.exchanges;

test('a multiplexed HTTP/2 edge: the panel says so, counts its exchanges apart and its requests, times none', async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const { collector, shipper } = await collectorWithShipper(t, { token: TOKEN });
  const t0 = Math.floor(Date.now() / 1000) * 1000 - (INTERVALS + 1) * 1000;
  for (let i = 1; i <= INTERVALS; i++) {
    const b = meshBatch(i, t0 + (i - 1) * 1000);
    b.edges = b.edges!.map((e) =>
      e.process?.pid === PROCESSES.sa.ref!.pid &&
      e.side === 'CONNECTION_SIDE_CLIENT' &&
      e.remote?.address === B_IP
        ? {
            ...e,
            exchanges: PER_INTERVAL.exchanges - MULTIPLEXED,
            multiplexedExchanges: MULTIPLEXED,
            http2Exchanges: PER_INTERVAL.exchanges,
            http2Requests: HTTP2_REQUESTS,
          }
        : e.process?.pid === PROCESSES.sb.ref!.pid && e.side === 'CONNECTION_SIDE_CLIENT'
          ? {
              ...e,
              exchanges: 0,
              multiplexedExchanges: PER_INTERVAL.exchanges,
              forwardedExchanges: PER_INTERVAL.exchanges,
              forwardedRequests: FORWARDED_REQUESTS,
            }
          : e,
    );
    shipper.send(b);
  }
  assert.ok(await shipper.flush(5000), 'batches stored');
  const topology = (await (
    await fetch(`${collector.httpUrl}/api/topology?window=120`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    })
  ).json()) as { edges: { id: string; source: string; target: string; multiplexed: boolean }[] };
  const crossing = topology.edges.find(
    (e) =>
      e.source.includes(`:${PROCESSES.sa.ref!.pid}:`) &&
      e.target.includes(`:${PROCESSES.sb.ref!.pid}:`),
  );
  assert.ok(crossing?.multiplexed, 'the API marks the sa -> sb edge');
  assert.equal(topology.edges.filter((e) => e.multiplexed).length, 2, 'sa -> sb and sb -> b');

  const browser = await openBrowser();
  t.after(() => browser.close());
  const { page } = browser;
  // Signed in by the link `tollgate up` prints: the token once, then the cookie.
  await page.goto(`${collector.httpUrl}/?token=${TOKEN}`);
  assert.equal(new URL(page.url()).search, '', 'the token left the address bar');
  await until('the edge drawn', async () => (await drawn(page)).links.includes(crossing.id));
  await clickCanvas(page, await screenOf(page, { kind: 'link', id: crossing.id }));
  const panel = page.locator(`.edge-panel[data-edge="${crossing.id}"]`);
  await panel.waitFor({ timeout: 10_000 });
  assert.match((await panel.locator('p.note').first().textContent()) ?? '', /^Multiplexed: /);
  const stats = await panel.locator('table.edge-stats tr').allTextContents();
  const timed = INTERVALS * (PER_INTERVAL.exchanges - MULTIPLEXED);
  assert.ok(
    stats.includes(`exchanges${timed}${INTERVALS * PER_INTERVAL.exchanges}`),
    JSON.stringify(stats),
  );
  assert.ok(
    stats.includes(`multiplexed exchanges${INTERVALS * MULTIPLEXED}0`),
    JSON.stringify(stats),
  );
  assert.ok(stats.includes('exchange p50––'), JSON.stringify(stats));
  assert.ok(
    stats.includes(`HTTP/2 requests${(INTERVALS * HTTP2_REQUESTS).toLocaleString('en-US')}0`),
    JSON.stringify(stats),
  );
  // Its requests come from the frames: no rows of the requests a proxy forwarded.
  assert.ok(!stats.some((row) => row.startsWith('forwarded ')), JSON.stringify(stats));
  // The exchange histograms are there, empty; connect latency and srtt as ever.
  const captions = await panel.locator('figure.histogram figcaption').allTextContents();
  assert.equal(captions[0], 'exchange latency (client) · 0 samples');
  assert.equal(captions[1], 'exchange latency (server) · 0 samples');
  await screenshotsAtSizes(page, 'viewer-multiplexed');

  // A proxy's multiplexed upstream whose frames were not read (TLS): its requests are
  // those the hop pairing forwarded, shown beside its exchanges, and make its rate.
  const forwarded = topology.edges.find(
    (e) =>
      e.source.includes(`:${PROCESSES.sb.ref!.pid}:`) &&
      e.target.includes(`:${PROCESSES.b.ref!.pid}:`),
  );
  assert.ok(forwarded?.multiplexed, 'the API marks the sb -> b edge');
  await clickCanvas(page, await screenOf(page, { kind: 'link', id: forwarded.id }));
  const second = page.locator(`.edge-panel[data-edge="${forwarded.id}"]`);
  await second.waitFor({ timeout: 10_000 });
  const rows = await second.locator('table.edge-stats tr').allTextContents();
  assert.ok(
    rows.includes(`forwarded requests${INTERVALS * FORWARDED_REQUESTS}0`),
    JSON.stringify(rows),
  );
  assert.ok(
    rows.includes(`forwarded exchanges${INTERVALS * PER_INTERVAL.exchanges}0`),
    JSON.stringify(rows),
  );
  assert.ok(!rows.some((row) => row.startsWith('HTTP/2 ')), JSON.stringify(rows));
  await screenshotsAtSizes(page, 'viewer-forwarded');
});
