// Request/response traffic of known sizes for the lab, where a test or benchmark needs
// byte and exchange counts it knows exactly: a server that answers every `requestBytes`
// received with `responseBytes`, and a client that makes a fixed number of such
// exchanges on one connection. Scripts for `node -e`, run inside pods.

export interface FixedExchangeSizes {
  requestBytes: number;
  responseBytes: number;
}

/** Listens on `port` on every address; prints "ready" once listening. */
export function fixedExchangeServerScript(port: number, sizes: FixedExchangeSizes): string {
  return `require('node:net').createServer((s) => {
  let pending = 0;
  const response = Buffer.alloc(${sizes.responseBytes}, 'r');
  s.on('data', (d) => { pending += d.length; while (pending >= ${sizes.requestBytes}) { pending -= ${sizes.requestBytes}; s.write(response); } });
  s.on('error', () => {});
}).listen(${port}, '0.0.0.0', () => console.log('ready'));`;
}

export interface FixedExchangeClientOptions extends FixedExchangeSizes {
  address: string;
  port: number;
  /** Bind this local port (0: the kernel picks one). */
  localPort: number;
  exchanges: number;
  /** Keep the connection open this long after the last exchange. */
  holdMs: number;
  /** Stay up this long after closing, so an agent still finds the process. */
  lingerMs: number;
}

/**
 * Prints {"connected":localPort} once connected, then {"exchanges":n,"localPort":p} after
 * the last exchange; exits 1 on a socket error.
 */
export function fixedExchangeClientScript(o: FixedExchangeClientOptions): string {
  return `
  const net = require('node:net');
  const request = Buffer.alloc(${o.requestBytes}, 'q');
  let exchanges = 0, received = 0;
  const s = net.connect({ host: ${JSON.stringify(o.address)}, port: ${o.port}${o.localPort ? `, localPort: ${o.localPort}` : ''} });
  s.on('connect', () => { console.log(JSON.stringify({ connected: s.localPort })); s.write(request); });
  s.on('data', (d) => {
    received += d.length;
    while (received >= ${o.responseBytes}) {
      received -= ${o.responseBytes};
      if (++exchanges < ${o.exchanges}) { s.write(request); continue; }
      console.log(JSON.stringify({ exchanges, localPort: s.localPort }));
      setTimeout(() => s.end(), ${o.holdMs});
    }
  });
  s.on('error', (e) => { console.error(e.message); process.exit(1); });
  s.on('close', () => setTimeout(() => process.exit(0), ${o.lingerMs}));`;
}
