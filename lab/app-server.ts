// A lab app: an HTTP service with a fixed service time that calls the services behind it
// (frontend -> catalog -> ratings), as a small bookinfo. Runs inside a pod namespace;
// the lab reads its counters over a unix socket, since the pod's address is not
// reachable from the host. Usage: node app-server.js '<AppConfig JSON>'
import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';

export interface AppConfig {
  service: string;
  pod: string;
  port: number;
  serviceTimeMs: number;
  /** Services this one calls for every request, each with its endpoints' URLs. */
  downstream: { service: string; urls: string[] }[];
  controlSocket: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as AppConfig;
const upstreamAgent = new Agent({ keepAlive: true, maxSockets: 64 });
const counters = { requests: 0, downstreamErrors: 0 };
const roundRobin = new Map<string, number>();

function call(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { agent: upstreamAgent, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end();
  });
}

async function serve(res: ServerResponse): Promise<void> {
  counters.requests++;
  // No timer for no service time: Node runs setTimeout(0) as a 1 ms timer on a loop clock
  // that moves in whole milliseconds, so every reply would wait a millisecond or a little
  // more, by the phase at which its request arrived, and a proxy's delay in front of the
  // app would move that phase (see docs/added-latency.md, "How it is checked").
  if (config.serviceTimeMs > 0) await new Promise((r) => setTimeout(r, config.serviceTimeMs));
  const calls: { service: string; status: number }[] = [];
  for (const { service, urls } of config.downstream) {
    const k = roundRobin.get(service) ?? 0;
    roundRobin.set(service, k + 1);
    const status = await call(urls[k % urls.length]!);
    if (status !== 200) counters.downstreamErrors++;
    calls.push({ service, status });
  }
  const ok = calls.every((c) => c.status === 200);
  res.writeHead(ok ? 200 : 502, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ service: config.service, pod: config.pod, calls }));
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET') {
    res.writeHead(405).end();
  } else if (req.url === '/healthz') {
    res.writeHead(200).end('ok');
  } else {
    void serve(res);
  }
}

const server = createServer({ keepAliveTimeout: 60_000 }, handle);
const control = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(counters));
});
control.listen(config.controlSocket, () => {
  server.listen(config.port, '0.0.0.0', () => process.stdout.write(`ready ${config.port}\n`));
});
process.on('SIGTERM', () => {
  server.close();
  control.close();
  upstreamAgent.destroy();
  process.exit(0);
});
