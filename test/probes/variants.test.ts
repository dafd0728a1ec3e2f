// Per-hook attach variants: the runner takes, per hook, the first variant the running
// kernel offers, falls back when one is missing or refused, and names what is missing
// when nothing is left. `pretendMissing` hides a kernel symbol to show this on any kernel.
// Whether the fexit fallback must load is judged outside the runner (bpftrace's own
// feature probe), so the test fails if the runner takes it where the kernel refuses it,
// or refuses it where the kernel takes it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { ProbeSource } from '../../probes/probe-source.js';

test('a missing optional tracepoint leaves its hook untraced and the rest running', async () => {
  const probes = await ProbeSource.start({ intervalMs: 200, pretendMissing: ['kfree_skb'] });
  try {
    const modes = Object.fromEntries(probes.hello.programs.map((p) => [p.hook, p.attach]));
    assert.equal(modes.drop, 'none');
    assert.equal(modes.send, 'tp_btf');
    assert.equal(modes.state, 'tp_btf');
  } finally {
    await probes.stop();
  }
});

/**
 * Whether this kernel takes fentry/fexit programs, as bpftrace finds by loading one of its
 * own (`kfunc` in `bpftrace --info`): a judge outside the runner's own variant choice.
 */
function kernelTakesFexit(): boolean {
  // It prints its report on stderr.
  const run = spawnSync('bpftrace', ['--info'], { encoding: 'utf8' });
  const info = `${run.stdout}${run.stderr}`;
  const kfunc = /^\s*kfunc: (yes|no)$/m.exec(info);
  assert.ok(kfunc, 'bpftrace --info reports kfunc support');
  return kfunc[1] === 'yes';
}

test('a missing send tracepoint falls back to fexit where the kernel takes it, else says what is missing', async (t) => {
  const fexit = kernelTakesFexit();
  t.diagnostic(`this kernel ${fexit ? 'takes' : 'refuses'} fexit programs (bpftrace --info)`);
  const start = ProbeSource.start({ intervalMs: 200, pretendMissing: ['sock_send_length'] });
  if (!fexit) {
    // Kernels that refuse fentry/fexit (like this project's CI machine): one clear line.
    await assert.rejects(
      start,
      /cannot trace send: this kernel offers none of: tracepoint sock_send_length .*function sock_sendmsg \(fexit, refused by the kernel\)/,
    );
    return;
  }
  const started = await start;
  try {
    const send = started.hello.programs.find((p) => p.hook === 'send');
    assert.deepEqual([send?.attach, send?.target], ['fexit', 'sock_sendmsg']);
  } finally {
    await started.stop();
  }
});

test('with neither variant of a required hook, the runner refuses to start', async () => {
  await assert.rejects(
    ProbeSource.start({ pretendMissing: ['sock_recv_length', 'sock_recvmsg'] }),
    /cannot trace recv: this kernel offers none of: tracepoint sock_recv_length \(tp_btf with 3\+ arguments\), function sock_recvmsg \(fexit\)/,
  );
});
