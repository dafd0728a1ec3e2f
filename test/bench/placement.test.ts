// Where the overhead benchmark puts the agent and the collector: the agent with the CPU and
// the Node options its DaemonSet gives it, read from the manifests as they are, and cgroup
// files written the way the kubelet writes them for those requests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  agentCpu,
  agentNodeOptions,
  COLLECTOR_ELSEWHERE,
  millicores,
} from '../../bench/placement.js';
import { cpuRequestWrites } from '../../lab/cpu-limit.js';

test('CPU quantities as Kubernetes writes them', () => {
  assert.equal(millicores('100m'), 100);
  assert.equal(millicores('1'), 1000);
  assert.equal(millicores('0.5'), 500);
  assert.equal(millicores(2), 2000);
  assert.throws(() => millicores('a lot'), /not a CPU quantity/);
});

test("the agent's CPU and Node options are the DaemonSet's: a 100m request, a 1-core limit", () => {
  assert.deepEqual(agentCpu(), { requestMillicores: 100, limit: { cores: 1 } });
  assert.equal(agentNodeOptions(), '--max-semi-space-size=1');
});

test('a request becomes the weight the kubelet gives it; BestEffort the least', () => {
  // v1: shares = millicores x 1024 / 1000; v2: the kubelet's conversion of those shares.
  assert.deepEqual(cpuRequestWrites(1, 100), [['cpu.shares', '102']]);
  assert.deepEqual(cpuRequestWrites(2, 100), [['cpu.weight', '4']]);
  assert.deepEqual(cpuRequestWrites(1, 1000), [['cpu.shares', '1024']]);
  assert.deepEqual(cpuRequestWrites(2, 1000), [['cpu.weight', '39']]);
  assert.deepEqual(cpuRequestWrites(1, COLLECTOR_ELSEWHERE.requestMillicores!), [
    ['cpu.shares', '2'],
  ]);
  assert.deepEqual(cpuRequestWrites(2, COLLECTOR_ELSEWHERE.requestMillicores!), [
    ['cpu.weight', '1'],
  ]);
});
