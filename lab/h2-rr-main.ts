// Process entry of the HTTP/2 server and load (lab/h2-rr.ts), so
// either can run inside a pod's network namespace.
// Usage: node h2-rr-main.js server '<H2ServerConfig JSON>'   -> "ready"
//        node h2-rr-main.js load '<H2LoadOptions JSON>'      -> one LoadResult line
import { type H2LoadOptions, type H2ServerConfig, h2Load, serveH2 } from './h2-rr.js';

const [role, json] = process.argv.slice(2);
const fail = (error: unknown) => {
  process.stderr.write(`h2-rr: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
};
if (role === 'server') {
  serveH2(JSON.parse(json ?? '{}') as H2ServerConfig).then(
    () => process.stdout.write('ready\n'),
    fail,
  );
  process.on('SIGTERM', () => process.exit(0));
} else if (role === 'load') {
  h2Load(JSON.parse(json ?? '{}') as H2LoadOptions).then((result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
  }, fail);
} else {
  fail(`unknown role '${role}' (server or load)`);
}
