// What the kernel-probe tests share: a client pod and a server pod on the lab bridge, and
// a runner draining every 200 ms; both removed when the test ends.
import type { TestContext } from 'node:test';
import { Lab } from '../../lab/lab.js';
import { ProbeSource } from '../../probes/probe-source.js';

export async function clientServerWithProbes(
  t: TestContext,
): Promise<{ lab: Lab; probes: ProbeSource }> {
  const lab = await Lab.create([
    { name: 'client', service: 'client', meshed: false, app: false },
    { name: 'server', service: 'server', meshed: false, app: false },
  ]);
  t.after(() => lab.destroy());
  const probes = await ProbeSource.start({ intervalMs: 200 });
  t.after(() => probes.stop());
  return { lab, probes };
}
