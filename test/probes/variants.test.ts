// Per-hook attach variants: the runner takes, per hook, the first variant the running
// kernel offers, falls back when one is missing or refused, and names what is missing
// when nothing is left. `pretendMissing` hides a kernel symbol to show this on any kernel.
import assert from 'node:assert/strict';
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

test('a missing send tracepoint falls back to fexit, or says what is missing', async () => {
  let started: ProbeSource | undefined;
  try {
    started = await ProbeSource.start({ intervalMs: 200, pretendMissing: ['sock_send_length'] });
  } catch (error) {
    // Kernels that refuse fentry/fexit (like the CI machine's): one clear line.
    assert.match(
      (error as Error).message,
      /cannot trace send: this kernel offers none of: tracepoint sock_send_length .*function sock_sendmsg \(fexit, refused by the kernel\)/,
    );
    return;
  }
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
