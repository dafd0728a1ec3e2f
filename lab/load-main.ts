// Process entry of the load generator, so it can run inside a pod's network namespace.
// Usage: node load-main.js '<LoadOptions JSON>'  -> one LoadResult JSON line on stdout.
import { constantRateLoad, type LoadOptions } from '../daemonset/load/load.js';

const options = JSON.parse(process.argv[2] ?? '{}') as LoadOptions;
constantRateLoad(options).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(`load: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
