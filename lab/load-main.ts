// Process entry of the load generator, so it can run inside a pod's network namespace.
// Usage: node load-main.js '<LoadOptions JSON>'  -> one LoadResult JSON line on stdout,
// with the generator's own CPU time over the load (processCpuUs: user and system, from
// its start to its result; the process's start-up before it is left out).
import { constantRateLoad, type LoadOptions } from '../daemonset/load/load.js';

const options = JSON.parse(process.argv[2] ?? '{}') as LoadOptions;
const cpuAtStart = process.cpuUsage();
constantRateLoad(options).then(
  (result) => {
    const cpu = process.cpuUsage(cpuAtStart);
    process.stdout.write(`${JSON.stringify({ ...result, processCpuUs: cpu.user + cpu.system })}\n`);
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(`load: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
