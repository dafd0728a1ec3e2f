// Process entry of `bench scale`'s simulated agents (bench/scale-sender.ts): its config as
// JSON in argv, messages to and from the driver over the IPC channel. It exits when the
// driver says stop or goes away.
import {
  type DriverMessage,
  runSender,
  type SenderConfig,
  type SenderMessage,
} from './scale-sender.js';

const config = JSON.parse(process.argv[2] ?? '') as SenderConfig;
const arrived: DriverMessage[] = [];
const waiting: ((m: DriverMessage) => void)[] = [];
process.on('message', (m: DriverMessage) => {
  const take = waiting.shift();
  if (take) take(m);
  else arrived.push(m);
});
// The driver gone: nothing to report to.
process.on('disconnect', () => process.exit(1));
const next = () =>
  new Promise<DriverMessage>((resolve) => {
    const m = arrived.shift();
    if (m) resolve(m);
    else waiting.push(resolve);
  });
const post = (m: SenderMessage) => process.send?.(m);
try {
  await runSender(config, post, next);
} catch (error) {
  // Sent before exiting: a message still queued would be lost with the process.
  await new Promise((resolve) =>
    process.send?.({ type: 'error', message: (error as Error).message }, undefined, {}, resolve),
  );
}
process.exit(0);
