// Process entry of the binary request/response server and load (lab/binary-rr.ts), so
// either can run inside a pod's network namespace.
// Usage: node binary-rr-main.js server '<BinaryRrServerConfig JSON>'   -> "ready"
//        node binary-rr-main.js load '<BinaryRrLoadOptions JSON>'      -> one LoadResult line
import {
  type BinaryRrLoadOptions,
  type BinaryRrServerConfig,
  binaryRrLoad,
  serveBinaryRr,
} from './binary-rr.js';

const [role, json] = process.argv.slice(2);
const fail = (error: unknown) => {
  process.stderr.write(`binary-rr: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
};
if (role === 'server') {
  serveBinaryRr(JSON.parse(json ?? '{}') as BinaryRrServerConfig).then(
    () => process.stdout.write('ready\n'),
    fail,
  );
  process.on('SIGTERM', () => process.exit(0));
} else if (role === 'load') {
  binaryRrLoad(JSON.parse(json ?? '{}') as BinaryRrLoadOptions).then((result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
  }, fail);
} else {
  fail(`unknown role '${role}' (server or load)`);
}
