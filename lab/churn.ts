// Connection churn for the lab: a server that answers each connection's first bytes with
// "ok" and closes, and a client that opens `count` such short connections, `concurrency`
// at a time, bounded in time. Scripts for `node -e`, run inside pods; the client prints
// one JSON line {finished, failed} when done.

export function churnServerScript(port: number): string {
  return `require('node:net').createServer((s) => { s.on('data', () => s.end('ok')); s.on('error', () => {}); })
  .listen(${port}, '0.0.0.0', () => console.log('ready'));`;
}

export interface ChurnClientOptions {
  address: string;
  port: number;
  count: number;
  concurrency: number;
  /** The client gives up starting new connections after this long. */
  deadlineMs: number;
}

export function churnClientScript(o: ChurnClientOptions): string {
  return `
  const net = require('node:net');
  let started = 0, finished = 0, failed = 0;
  const deadline = Date.now() + ${o.deadlineMs};
  function one() {
    if (started >= ${o.count} || Date.now() > deadline) {
      if (finished === started) done();
      return;
    }
    started++;
    const s = net.connect(${o.port}, ${JSON.stringify(o.address)}, () => s.write('x'));
    s.on('data', () => s.end());
    s.on('error', () => { failed++; });
    s.on('close', () => { finished++; one(); });
  }
  let reported = false;
  function done() {
    if (reported) return;
    reported = true;
    console.log(JSON.stringify({ finished, failed }));
  }
  for (let i = 0; i < ${o.concurrency}; i++) one();`;
}
